"""Policy and service questions answered from the knowledge base, with sources.

A confident answer is said at once. When the retriever is not sure but has one to three
plausible entries, the villager hears one short question naming them ("您问的是低保，还是临时
救助？", or "您问的是临时救助吗？" for one) instead of a list of titles; text channels also get
the names and "都不是" as buttons. The question waits in ``pending_write`` (kind
``clarify``; not a write), so every reply comes back to :func:`resolve_clarify` through
``action_resolve_pending`` whatever the NLU makes of it:

* a name, a word only one of them has, or "第一个 / 前面那个 / 最后那个" (a yes, for one
  entry): that entry is answered; a whole question the retriever is sure of by itself
  ("临时救助要带啥材料") is answered as asked;
* "都不是" / "不是": the offer to pass the question to the village office (a pending
  ``forward_question``; only a yes sends it);
* "啊？" / "再说一遍": the question once more, then the offer;
* anything else is a new request: the question is dropped and the turn goes back to the
  other policies.

When there is nothing plausible to name, text channels get the closest titles as buttons and
voice reads them out (``utter_kb_which``), or the honest "不知道" with a person to ask.
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence

from rasa_sdk.events import ActionExecutionRejected, EventType, FollowupAction, SlotSet

from actions import parsing, phrases, slots
from actions.common import Turn, XiangyinAction, clear_choices, clear_pending
from actions.pending import PendingWrite, propose_write
from actions.reports import start_report
from bot import households, identity, outbox
from bot.emergency import is_emergency
from bot.households import grid_area_name
from bot.models import Household
from bot.nlu import goals
from bot.nlu.control import names_points
from bot.nlu.goals import asks_report_status, names_other_household, shop_question
from bot.replies import Reply, interpret
from bot.text import LIVING_ALONE
from knowledge import clarify
from knowledge.retriever import Answer, Entry, KnowledgeBase, both_summary, default_kb, spoken_part, spoken_summary

MAX_OPTIONS = 2  # "did you mean …": at most this many entries, then 找网格员
NEITHER_BUTTON = "都不是"
#: How many times an unclear reply hears the clarifying question again before the offer.
MAX_CLARIFY_REPEATS = 1
#: A "不是" followed by at least this many characters of its own is a new question
#: ("不是，我问的是临时救助"), not a "none of them".
_NEW_QUESTION_CHARS = 3
_NO_WORDS = re.compile(r"(都不是|都不对|哪个也不是|哪个都不是|不是|不对|我问的是|我说的是|问的是|说的是|我是问|那个|这个)")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
#: A reply of at least this many characters may be a whole question of its own.
_OWN_QUESTION_CHARS = 6


def knowledge(turn: Turn) -> KnowledgeBase:
    """The knowledge base of the configured folders (reloaded when the index changes)."""
    return default_kb(turn.settings.paths.knowledge_dir, var_dir=turn.settings.paths.var_dir)


def answer_entry(turn: Turn, entry_id: str, also: Sequence[Entry] = (), text: Optional[str] = None,
                 question: Optional[str] = None) -> List[EventType]:
    """Say one entry (or, for a two-part question, ``text``: both answers in the order asked,
    ``also`` the second entry); text channels also show the citations (data, so not a channel
    variant). The first entry is the one follow-ups stay on. Asked again about the entry just
    answered (``question``), the paragraph the question is about is said."""
    entry = knowledge(turn).by_id.get(entry_id)
    if entry is None:
        turn.say("utter_kb_entry_missing")
        return []
    again = question is not None and entry_id == turn.slot(slots.KB_ENTRY)
    said = text if also and text else (spoken_part(entry, question) if again else spoken_summary(entry))
    turn.show(said)
    if not turn.on_voice:
        cited = [entry, *also]

        def position(e: Entry) -> int:  # the sources in the order their answers were said
            found = said.find(spoken_summary(e)[:8])
            return found if found >= 0 else len(said)

        for source in sorted(cited, key=position):
            turn.show(source.citation)
    return [SlotSet(slots.KB_ENTRY, entry.id), SlotSet(slots.TOPIC, entry.topic), *clear_choices()]


def answer_and_offer_report(turn: Turn, entry_id: str, said: str, found: Optional[Answer] = None,
                            is_a_problem: bool = False) -> List[EventType]:
    """The entry (both entries of a two-part question ``found`` answers: "医保几月份交，手机上咋交");
    when what was said also reports a problem ("房子漏得厉害，改造补助怎么申请"; ``is_a_problem``:
    the caller knows it does), the question first, then the offer to report it."""
    both = found is not None and found.entry is not None and found.entry.id == entry_id and found.also
    events = answer_entry(turn, entry_id, found.also if both else (), found.text if both else None, question=said)
    return events + _offer_report_of_a_problem(turn, said, is_a_problem)


def _offer_report_of_a_problem(turn: Turn, said: str, is_a_problem: bool = False) -> List[EventType]:
    """After an answer: the offer to report, when what was said also reports a problem."""
    events: List[EventType] = []
    if is_a_problem or parsing.reports_problem(said):
        events += propose_write(turn, slots.WRITE_REPORT_OFFER, {"text": said}, "utter_offer_report")
    return events


#: "Whom can I get to come and mend it" ("该找谁来给看看", "叫哪个来修"): a repair asked for, which is
#: a report, not a question of whom to tell.
_COME_AND_MEND = re.compile(r"(找|叫|请|喊)(谁|哪个|哪位|什么人|啥人|么子人|个人)(来|过来)(给|帮)?(我|俺|咱)?(们)?"
                            r"(看|修|弄|瞧|瞅|处理|换|补|通|收拾)")
#: "Whoever I ask" ("问哪个都说不晓得"): a story of asking around, not a question of whom to ask.
_ANYONE = re.compile(r"(谁|哪个|哪位|什么人|啥人|么子人)(都|也)")
_CLAUSE_BREAK = re.compile(r"[，,。！!？?；;]")
#: The knowledge base's general answer to "whom do I tell about this" (the grid worker first) ...
WHO_TO_TELL_ENTRY = "wangge-contact"
#: ... and to "who settles this" about a quarrel with other people: mediation (the grid worker
#: first, then the village's mediation committee, then the township).
WHO_SETTLES_ENTRY = "tiaojie-how"
#: ... and about the village's own money or affairs (accounts, what was posted, who got a
#: subsidy): the village affairs supervision committee.
WHO_OVERSEES_ENTRY = "cunwu-jiandu"
_VILLAGE_AFFAIRS = re.compile(r"账|花了多少|花销|开支|贴出来|张榜|公示|公开|名单|村干部|村委|村里.{0,6}(钱|分)")
#: Another party in the trouble ("隔壁", "后坡那家", "跟他讲他不认", "评理").
_BETWEEN_PEOPLE = re.compile(r"邻居|邻家|隔壁|对门|挨着|后院|前院|后坡|那家|那户|他家|人家|两家|吵|矛盾|纠纷|评理|说理|讲理|不认|不讲理"
                             r"|调解|说和|闹")


#: The trouble told before "whom do I tell" is at least this long ("这种事该找谁" alone tells nothing).
STORY_MIN_CHARS = 4


def who_to_tell(turn: Turn) -> Optional[List[EventType]]:
    """"这种事该找谁评理" / "该上哪儿去说" as the last words, about a problem the knowledge base is
    not sure of: the general answer (the supervision committee for the village's own money and
    affairs, mediation for a quarrel with other people, otherwise the grid worker first) and the
    offer to report the problem; None when the sentence asks for a repair
    ("该找谁来修": a report), tells of asking around ("问哪个都说不晓得"), or asks to file or complain."""
    text = turn.text or ""
    last = _CLAUSE_BREAK.split(text.strip("，,。！!？?；; "))[-1]
    told_before = len(_CLAUSE_BREAK.sub("", text)) - len(last)
    if told_before < STORY_MIN_CHARS or not parsing.asks_who_handles(last) or _ANYONE.search(last) \
            or _COME_AND_MEND.search(text) or parsing.asks_to_file(text) or parsing.wants_to_complain(text):
        return None
    entry = WHO_OVERSEES_ENTRY if _VILLAGE_AFFAIRS.search(text) else \
        WHO_SETTLES_ENTRY if _BETWEEN_PEOPLE.search(text) else WHO_TO_TELL_ENTRY
    if entry not in knowledge(turn).by_id:
        return None  # a knowledge base without it: the caller's own answer
    return answer_and_offer_report(turn, entry, text, is_a_problem=True)


def search(turn: Turn, question: str, topic: str | None = None, topic_mode: str = "boost",
           previous: str | None = None) -> Answer:
    """The knowledge base's answer for the asker (their grid's own notices first); ``previous``:
    the entry just answered, for a follow-up."""
    with turn.session() as s:
        grid = grid_area_name(s, turn.actor.household_id)
    return knowledge(turn).answer(question, topic=topic, village_grid=grid, topic_mode=topic_mode, previous=previous)


def sure_answer(turn: Turn, question: str) -> tuple[List[EventType] | None, Answer]:
    """The knowledge base's answer to a sentence the model filed elsewhere (a complaint, a staff
    lookup): said, with the offer to report a problem it describes, when the base is sure of it;
    otherwise None, and the result for the caller's own fallback."""
    result = search(turn, question)
    if result.entry is not None and result.confident:
        return answer_and_offer_report(turn, result.entry.id, question, result), result
    return None, result


def _topic_of(turn: Turn, entry_id: str) -> Optional[str]:
    entry = knowledge(turn).by_id.get(entry_id)
    return entry.topic if entry is not None else None


def _the_other_one(turn: Turn, result: Answer, last: Optional[str], question: str) -> Optional[str]:
    """Of a clarifying question's two candidates, the one a follow-up asks about: the one that is
    not the answer just given ("批下来一个月能有多少" after how to apply) — unless the question asks
    for a kind of answer (where, how much, what to bring) that the other entry does not say it
    gives: then it asks more about the answer just given ("去边度办" after the student loan)."""
    ids = list(result.candidates or []) if result.clarify else []
    if not (last and len(ids) == 2 and last in ids):
        return None
    other = next(i for i in ids if i != last)
    kb = knowledge(turn)
    asked = kb.kinds_asked(question)
    if asked and not asked & kb.kinds_offered(other):
        return last
    return other


def _options(result: Answer) -> List[Entry]:
    """The best entry and the alternatives, without repeats, at most :data:`MAX_OPTIONS`."""
    options: List[Entry] = []
    for entry in ([result.entry] if result.entry else []) + list(result.alternatives):
        if entry.id not in {o.id for o in options}:
            options.append(entry)
    return options[:MAX_OPTIONS]


# --------------------------------------------------------------- the clarifying question


def candidates(turn: Turn, ids: Sequence[str]) -> List[Entry]:
    by_id = knowledge(turn).by_id
    return [by_id[i] for i in ids if i in by_id]


def _say_clarify(turn: Turn, entries: Sequence[Entry]) -> None:
    """"您问的是A，还是B？" / "您问的是A吗？"; text channels also get the names as buttons
    (a button sends its name, which :func:`resolve_clarify` reads like a spoken reply)."""
    names = [clarify.label(e) for e in entries]
    buttons = [] if turn.on_voice else (
        [{"title": n, "payload": n} for n in names] + [{"title": NEITHER_BUTTON, "payload": NEITHER_BUTTON}])
    if len(names) == 1:
        turn.say("utter_kb_clarify_one", option=names[0], buttons=buttons)
    else:
        turn.say("utter_kb_clarify", options=clarify.alternatives(names), buttons=buttons)


def ask_clarify(turn: Turn, result: Answer, question: str) -> List[EventType] | None:
    """Ask the retriever's clarifying question and wait for the pick; None when the answer
    has none (or its entries are gone)."""
    if not result.clarify:
        return None
    entries = candidates(turn, result.candidates)
    if not entries:
        return None
    # People do not answer "您问的是X吗？" or "您问的是A，还是B？": in the development dialogues none of
    # 16 askings of the first and 38 of the second was answered with a pick (the next turn was
    # another question, a way out, "say it again", or nothing). So one candidate is answered, named
    # as a guess, and so is the first of two of different topics (the retriever is unsure of the
    # topic itself); two of one topic are both answered briefly, the first as the one follow-ups
    # stay on. Three or more are still asked back.
    if len(entries) == 1 or (len(entries) == 2 and entries[0].topic != entries[1].topic):
        turn.show(phrases.guessed(clarify.label(entries[0])))
        return [*clear_choices(), *answer_and_offer_report(turn, entries[0].id, question)]
    if len(entries) == 2:
        first, second = entries
        return [*clear_choices(), *answer_entry(turn, first.id, (second,), both_summary(first, second)),
                *_offer_report_of_a_problem(turn, question)]
    _say_clarify(turn, entries)
    return [SlotSet(slots.PENDING_WRITE, {"kind": slots.WRITE_CLARIFY, "candidates": [e.id for e in entries],
                                          "question": question, "repeats": 0}),
            SlotSet(slots.AWAITING_CONFIRMATION, True), *clear_choices()]


def _new_question_after_no(text: str) -> bool:
    """"不是，我问的是临时救助": more than a no — a question of its own."""
    return len(_HAN.findall(_NO_WORDS.sub("", text))) >= _NEW_QUESTION_CHARS


def offer_forward(turn: Turn, question: str) -> List[EventType]:
    """None of the candidates: offer to pass the question to the village office."""
    return propose_write(turn, slots.WRITE_FORWARD_QUESTION, {"text": question}, "utter_kb_offer_forward")


def resolve_clarify(turn: Turn, pending: PendingWrite, action_name: str) -> List[EventType]:
    """The reply to "您问的是A，还是B？" (see the module docstring)."""
    text = turn.text
    kb = knowledge(turn)
    ids = [i for i in pending.get("candidates") or [] if i in kb.by_id]
    question = pending.get("question") or ""
    if len(_HAN.findall(text)) >= _OWN_QUESTION_CHARS:
        # A whole question of its own ("临时救助要带啥材料"): answered if it is clear by itself.
        own = search(turn, text)
        if own.entry is not None and own.confident:
            return [*clear_pending(), *answer_and_offer_report(turn, own.entry.id, text, own)]
    chosen = kb.pick(text, ids)
    if chosen is None and turn.intent == "choose_option":  # a number said or pressed ("2")
        index = parsing.parse_choice(text)
        chosen = ids[index - 1] if index is not None and 1 <= index <= len(ids) else None
    if parsing.asks_to_file(text) and parsing.reports_problem(question) and turn.actor.household_id is not None \
            and interpret(text) not in (Reply.NO, Reply.STOP):  # "不用报上去" is no request
        # "中，那你给俺报上去" / "要得，那你帮我递上去嘛": the report asked for (with or without a
        # pick) — the answer picked, if any, then the report form (its read-back still needs a
        # yes), not an offer to report.
        answered = answer_entry(turn, chosen) if chosen is not None else []
        return [*clear_pending(), *answered, *start_report(turn, {"text": question})]
    if chosen is not None:
        return [*clear_pending(), *answer_and_offer_report(turn, chosen, question)]
    reply = interpret(text)
    topics = {e.topic for e in candidates(turn, ids)}
    if chosen is None and len(topics) == 1 and reply is Reply.OTHER and parsing.asks_question(text) \
            and not names_points(text) and not parsing.reports_problem(text):
        # Another question on the policy asked about instead of a pick ("按月给的话给多少" after
        # "您问的是高龄补贴怎么申请，还是谁能领？"): the one candidate that gives the kind of answer asked
        # for ("那到哪个部门申请": how to apply), else answered on that policy when the base is sure.
        asked = kb.kinds_asked(text)
        giving = [i for i in ids if asked & kb.kinds_offered(i)] if asked else []
        if len(giving) == 1:
            return [*clear_pending(), *answer_and_offer_report(turn, giving[0], question)]
        follow = search(turn, text, topic=next(iter(topics)), topic_mode="filter")
        if follow.entry is not None and follow.confident:
            return [*clear_pending(), *answer_and_offer_report(turn, follow.entry.id, text, follow)]
    if clarify.says_neither(text) or reply is Reply.NO:
        if _new_question_after_no(text):
            return [*clear_pending(), ActionExecutionRejected(action_name)]
        return [*clear_pending(), *offer_forward(turn, question)]
    if reply is Reply.STOP:
        turn.say("utter_ok")
        return clear_pending()
    if reply in (Reply.UNCLEAR, Reply.REPEAT, Reply.YES):
        # "啊？", "再说一遍", or a yes to a question with two names: ask once more, then offer
        # a person rather than asking in circles.
        if int(pending.get("repeats") or 0) >= MAX_CLARIFY_REPEATS or not ids:
            return [*clear_pending(), *offer_forward(turn, question)]
        turn.say("utter_kb_clarify_again")
        _say_clarify(turn, candidates(turn, ids))
        return [SlotSet(slots.PENDING_WRITE, {**pending, "repeats": int(pending.get("repeats") or 0) + 1})]
    # Something else: a new request. The question is dropped; the other policies take the turn.
    return [*clear_pending(), ActionExecutionRejected(action_name)]


def forward_question(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """The yes to "要不要我把您的问题转给村委会": the village office (else the household's
    contact person) is notified with the question; the villager hears who has it."""
    actor = turn.actor
    with turn.session(write=True) as s:
        recipient = identity.village_admin(s, actor.village_id)
        if recipient is None and actor.household_id:
            household = s.get(Household, actor.household_id)
            recipient = household.contact if household else None
        if recipient is None:
            turn.say("utter_human_unavailable")
            return []
        sender = turn.tracker.sender_id
        note = phrases.forwarded_question(actor.display_name, pending["text"])
        outbox.notify(s, recipient.id, "policy_question", note, f"policy_question:{sender}:{pending.get('key')}",
                      payload={"sender_id": sender, "question": pending["text"]})
        turn.say("utter_kb_forwarded", contact=recipient.display_name)
    return []


# --------------------------------------------------------------------------------- actions


#: Words that ask for people or households by name or number: staff work, whatever a policy explains.
ASKS_FOR_PEOPLE = re.compile(rf"{goals.ASKS_FOR_PEOPLE.pattern}|几号")
_OWN_REPORT = re.compile(r"(我|俺|咱)(家)?(报|反映|提|登记)(的|过的|上去的)")


def instead_of_staff_work(turn: Turn) -> Optional[List[EventType]]:
    """A villager's words that the model took for a staff command ("我两个崽都不管我，我该找哪个"
    as the staff queue): a problem told without a question is a report, anything else a question
    for the knowledge base. None when they ask for people or another household (staff only)."""
    text = turn.text or ""
    if ASKS_FOR_PEOPLE.search(text) or parsing.house_number_in(text) or parsing.ticket_in(text) \
            or turn.entity(slots.ENTITY_PERSON) or turn.entity(slots.ENTITY_HOUSEHOLD_NO) or names_other_household(text):
        return None
    if asks_report_status(text) or _OWN_REPORT.search(text):
        return [FollowupAction("action_grievance_status")]  # "我报的那事咋样了": their own reports
    # after an answer (the entry answered; the topic slot may hold this very turn's topic word:
    # "…拿我的医保卡刷了好几回药…这不是骗人嘛" names 医保 and asks nothing)
    after_policy = bool(turn.slot(slots.KB_ENTRY)) or turn.slot(slots.CHOICE_KIND) == slots.OFFERED_KB
    if parsing.reports_problem(text) and not parsing.asks_question(text) and not after_policy:
        return [FollowupAction("action_start_grievance")]
    return [FollowupAction(ActionPolicyAnswer.action_name)]  # "村里去讲了他们还是不听咧" after an answer: more of it


def _names_who_they_are(topic: str, text: str) -> bool:
    """The topic is said as what somebody is ("吃低保的", "屋里有低保", "低保户", "像特困人员那样的"), not
    asked about."""
    word = re.escape(topic)
    return bool(re.search(rf"吃(着|了|上)?(个)?{word}|(家|屋里|屋头|家里)(也)?有(着)?(个)?{word}"
                          rf"|(是|当|像|评上了?|属于|算)(个)?{word}(的|户)"
                          rf"|{word}(户|人员|对象|家庭|的人家?|的老人)", text or ""))


class ActionPolicyAnswer(XiangyinAction):
    """A confident answer; else one clarifying question; else "did you mean" with the closest
    entries; else a person."""

    action_name = "action_policy_answer"

    def handle(self, turn: Turn) -> List[EventType]:
        question = shop_question(turn.text)
        # A follow-up without its own topic ("那要带什么材料?") stays on the last topic: the
        # topic word is added to the query, as the person would have said in full.
        topic = turn.entity(slots.ENTITY_TOPIC)
        last_topic = turn.slot(slots.TOPIC)
        if topic is not None and turn.slot(slots.KB_ENTRY):
            # the topic slot already holds this turn's entity: the last answer's own topic
            last_topic = _topic_of(turn, turn.slot(slots.KB_ENTRY)) or last_topic
        # ... and so does one that names another topic only as who the person is ("吃低保的人家也得
        # 自个儿掏钱吗" after 医保's payment: 医保 for a 低保 household)
        qualified = topic is not None and bool(last_topic) and topic != last_topic \
            and _names_who_they_are(topic, turn.text)
        follow_up = bool(last_topic) and (topic is None or qualified)
        previous = turn.slot(slots.KB_ENTRY) if follow_up else None
        asked = question
        if follow_up:
            topic = last_topic
            question = f"{topic} {question}"
        result = on_topic = None
        if follow_up:
            # A follow-up is about the topic just answered, so the entries of that topic decide
            # when one of them is sure ("那我们大人每年几月份交" after 新生儿医保: 医保's payment
            # time); else the whole base. Among the topic's own entries the question is asked as
            # said: the topic's name added would pull it to the entry that names the topic most
            # ("酒席能办几桌" after the wedding rules went to 红白理事会's own entry; 634 development
            # follow-ups: right and sure 501 -> 538, wrong 33 -> 33)
            on_topic = search(turn, asked, topic, topic_mode="filter", previous=previous)
            if on_topic.entry is not None and on_topic.confident:
                result = on_topic
            if knowledge(turn).asks_local(turn.text):
                # "他哪天到村里来坐班" after the village lawyer: the village's own notice says when,
                # whatever topic it is filed under
                anywhere = search(turn, question, topic, previous=previous)
                if anywhere.entry is not None and anywhere.confident and knowledge(turn).is_village(anywhere.entry.id):
                    result = anywhere
        if result is None:
            # the whole base, unless the other topic was named only as who the person is: the
            # base would answer about that topic ("吃低保的能多报些不" is about 医保, not 低保)
            result = on_topic if qualified else search(turn, question, topic, previous=previous)
        if not follow_up and topic is not None and not (result.entry is not None and result.confident):
            # the topic the model heard is the first one named, not always the one asked about
            # ("残疾证上个月刚领到，那份护理补助去哪办" asks about the care subsidy): the question alone,
            # when that is sure
            alone = search(turn, question)
            if alone.entry is not None and alone.confident:
                result = alone
        if result.entry is not None and result.confident:
            return answer_and_offer_report(turn, result.entry.id, turn.text, result)
        other = _the_other_one(turn, result, turn.slot(slots.KB_ENTRY), turn.text) if follow_up else None
        if other is not None and _topic_of(turn, other) == topic:
            # "批下来一个月能有多少" right after how to apply: asking back "A or B?" where A is the
            # answer just given — a follow-up asks for something new, so it is B (of the same
            # topic: "要拿些啥去办" after 新生儿医保 is not about 残疾证's materials), unless B does
            # not give the kind of answer asked for ("去边度办" after the student loan: A again).
            return answer_and_offer_report(turn, other, turn.text)
        if on_topic is not None and on_topic.clarify and list(on_topic.candidates) == [previous]:
            # "那要是今年忘整了会咋地" right after the certification: asking back "您问的是养老金资格
            # 认证吗" about the answer just given helps nobody — its paragraph asked about is said
            return answer_and_offer_report(turn, previous, turn.text)
        if on_topic is not None and on_topic.clarify:
            result = on_topic  # asked back between the topic's own entries
        households_asked = staff_means_households(turn)
        if households_asked is not None:
            return households_asked
        asked = ask_clarify(turn, result, turn.text)
        if asked is not None:
            return asked
        told = None if follow_up else who_to_tell(turn)
        if told is not None:
            return told  # "为棵核桃树吵了两三年，该去找哪个评理": no entry is sure; who settles it
        options = _options(result)
        if not options:
            turn.say("utter_kb_no_answer")
            return []
        # Voice lists the options in words (the channel variant); text channels get buttons.
        buttons = [] if turn.on_voice else (
            [{"title": e.title, "payload": f'/choose_option{{"number":"{i + 1}"}}'} for i, e in enumerate(options)]
            + [{"title": phrases.HUMAN_BUTTON, "payload": "/request_human"}])
        turn.say("utter_kb_which", buttons=buttons,
                 options=phrases.series(phrases.spoken_option(i, e.title) for i, e in enumerate(options)))
        return [SlotSet(slots.CHOICES, [e.id for e in options]), SlotSet(slots.CHOICE_KIND, slots.OFFERED_KB)]


#: Staff asking who or how many of a kind of household ("二组有几个老人是自个儿住的", "黄色户都有谁").
_WHO_OR_HOW_MANY = re.compile(r"有几个|有几户|几户|多少户|多少人|有哪些|都有谁|有谁|哪几家|哪些户|哪几户|名单"
                              # "有没有一个人过活的老汉", "可有独居的"
                              r"|有没有|可有|有冇|有无")

_A_KIND_OF_HOUSEHOLD = re.compile(rf"[一二三四五六七八九\d]组|第.网格|网格里|{LIVING_ALONE}|老人"
                                  r"|红色|黄色|绿色|红户|黄户|绿户|连心户|关心户|放心户|空巢")


def asks_for_a_list(text: str) -> bool:
    """A question for the households of a kind (a group, living alone, a colour) by who or how many."""
    return bool(_WHO_OR_HOW_MANY.search(text or "")) and bool(_A_KIND_OF_HOUSEHOLD.search(text or ""))


#: How somebody is doing ("那边最近咋样", "家里情况怎么样"): about a household, when one is named.
_ASKS_HOW_THEY_ARE = re.compile(r"咋样|怎么样|怎样|情况|近况|好不好|如何")


def _names_household(turn: Turn) -> bool:
    """The sentence names a household the staff member may see: by house number, or by a
    resident's name (the model's entity, or a name of the village said in full)."""
    if parsing.house_number_in(turn.text) or turn.entity(slots.ENTITY_HOUSEHOLD_NO):
        return True
    with turn.session() as s:
        return bool(households.named_in(s, turn.actor, turn.text))


def alerts_asked(turn: Turn) -> Optional[List[EventType]]:
    """A staff member asking whether anybody is calling for help ("我片里现在可有人家在呼救"): the
    open alerts, whichever action the model chose. None otherwise (words of an emergency are one)."""
    if turn.actor.is_staff and goals.asks_about_alerts(turn.text) and not is_emergency(turn.text):
        return [FollowupAction("action_query_emergencies")]
    return None


def staff_means_households(turn: Turn, named: bool = False) -> Optional[List[EventType]]:
    """A staff member's words the knowledge base is unsure of that ask about households (or about
    who is calling for help: the open alerts): how a named one is doing ("二十一号……哦不，二十二号，
    吴春生那边最近咋样"; ``named``: any mention of one will do), or the households of a kind
    ("二组有几个老人是自个儿住的"). None otherwise."""
    if not turn.actor.is_staff:
        return None
    alerts = alerts_asked(turn)
    if alerts is not None:
        return alerts
    if (named or _ASKS_HOW_THEY_ARE.search(turn.text)) and _names_household(turn):
        return [FollowupAction("action_household_summary")]
    if asks_for_a_list(turn.text):
        return [FollowupAction("action_list_households")]
    return None


class ActionKnowledgeFallback(XiangyinAction):
    """NLU was not sure what was meant: a confident answer from the knowledge base (say a
    village notice added last week) is still given, or its clarifying question asked;
    otherwise ask to rephrase."""

    action_name = "action_knowledge_fallback"

    def handle(self, turn: Turn) -> List[EventType]:
        result = search(turn, turn.text)
        if result.entry is not None and result.confident:  # a problem it also describes: offered for report
            return answer_and_offer_report(turn, result.entry.id, turn.text, result)
        households_asked = staff_means_households(turn, named=True)
        if households_asked is not None:
            return households_asked
        if turn.intent == "out_of_scope":  # not a question for us, unless the base is sure
            turn.say("utter_out_of_scope")
            return []
        asked = ask_clarify(turn, result, turn.text)
        if asked is not None:
            return asked
        told = who_to_tell(turn)
        if told is not None:
            return told  # "对门天天半夜剁馅儿，吵得我睡不着，这事儿该找谁管呀": who, and the offer to report it
        if parsing.reports_problem(turn.text):
            # a problem told: reporting it is offered (a yes starts the form, which reads it back)
            return propose_write(turn, slots.WRITE_REPORT_OFFER, {"text": turn.text}, "utter_offer_report")
        turn.say("utter_ask_rephrase")
        return []


class ActionPolicySource(XiangyinAction):
    """'这是哪个文件说的': the issuer, title and date of the entry last quoted."""

    action_name = "action_policy_source"

    def handle(self, turn: Turn) -> List[EventType]:
        entry = knowledge(turn).by_id.get(turn.slot(slots.KB_ENTRY) or "")
        if entry is None:
            turn.say("utter_kb_no_source")
            return []
        turn.say("utter_kb_source", issuer=entry.issuer, title=entry.title, date=entry.date)
        return []
