"""The decision of the dialogue-control policy (bot/nlu/dialogue_control.py), as a pure
function of what it looks at, so it can be read and tested without Rasa."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping, Optional

from bot.nlu.goals import (
    AWARDED_POINTS,
    ASKS_FOR_PEOPLE,
    asks_for_a_list,
    asks_where_lives,
    last_words,
    acknowledges,
    asks_for_more,
    about_a_report,
    asks_for_a_person,
    asks_to_explain,
    asks_who_handles,
    asks_household_detail,
    asks_question,
    asks_report_status,
    asks_source,
    asks_to_file,
    asks_to_file_last,
    commands_ticket,
    commands_ticket_by_subject,
    asks_others_balance,
    asks_own_balance,
    asks_points_rule,
    asks_shop_opening,
    command_action,
    complains_without_asking,
    disputes_deduction,
    flat_text,
    looks_up_by_name,
    names_a_report,
    reports_problem,
    tells_award,
    tells_penalty,
    tells_visit,
    says_house_number,
    wants_slower,
    wants_to_complain,
    wants_to_complain_last,
)
from bot.emergency import is_emergency
from bot.replies import BY_THE_WAY, REPEAT_PATTERNS, Reply, answers_read_back, asks_to_repeat, interpret, is_stop, verdict_in
from bot.text import HOUSE_DIGITS, pin_said

ACTION_LISTEN = "action_listen"
STOP_ACTION = "action_stop"
RESOLVE_ACTION = "action_resolve_pending"
STOP_INTENT = "stop"
EMERGENCY_INTENT = "emergency"
# The stop intent alone is trusted above this confidence; the lexicon needs no confidence.
STOP_INTENT_CONFIDENCE = 0.8
# Form questions that are themselves yes/no questions: there "不用了" answers, it does not stop.
YES_NO_SLOTS = frozenset({"grievance_anonymous"})

#: Questions that may be asked in the middle of a form ("哎对了，低保要带啥材料"): answered by
#: their usual action, then the form asks its question again. Their intents are excluded from
#: the form's free-text slot mappings in domain.yml (``not_intent``), so such a question is
#: never taken as the answer. Questions that may propose a write of their own (a deduction
#: explained with an appeal offered) are not among them.
INTERRUPTIONS: Mapping[str, str] = {
    "ask_policy": "action_policy_answer",
    "ask_source": "action_policy_source",
    "check_points": "action_points_balance",
    "ask_points_rules": "action_points_rules",
    "check_grievance_status": "action_grievance_status",
    "bot_challenge": "utter_bot_challenge",
}
#: A form's read-back slot ends so (grievance_confirmed).
CONFIRMED_SUFFIX = "_confirmed"
#: The description is free talk: whatever is said there is the description.
FREE_TEXT_SLOTS = frozenset({"grievance_description"})
#: Intents the model gives an answer about the name that the form's text mapping leaves out as
#: questions (domain.yml, grievance_anonymous): "不怕别人晓得" heard as a policy question.
NAME_ANSWER_MISREADS = frozenset({"ask_policy", "ask_source", "check_points", "ask_points_rules",
                                  "check_grievance_status", "bot_challenge", "request_human"})
#: Words of an answer about keeping the name private (the form reads which way it goes).
_ABOUT_THE_NAME = re.compile(r"名字|名儿|晓得|知道|保密|匿名|不怕|怕人|藏|瞒|写上|写着|留名")

POLICY_ACTION = "action_policy_answer"
REQUEST_HUMAN_INTENT = "request_human"
STATUS_INTENT = "check_grievance_status"
#: A question told with its story (at least this many characters: "…这个理该找哪个评", "…这工伤咋认定啊")
#: that the model heard as a wish for a person or for a report's progress is the knowledge base's;
#: a short one ("找网格员", "我要找人") asks for a person.
WHO_HANDLES_MIN_CHARS = 15
#: A question at least this long, with no word of leaving in it, is no stop whatever the model heard.
QUESTION_NOT_STOP_MIN_CHARS = 8
#: After a policy answer, a short question the model files elsewhere ("外地的呢", "一年交多少")
#: is a follow-up on the same policy: the policy answer keeps the topic (actions/policy.py).
FOLLOW_UP_MISREADS = frozenset({"inform", "nlu_fallback", "out_of_scope", "check_points", "redeem_points",
                                "choose_option", "my_queue", "handle_grievance", "log_visit", "query_household",
                                "list_households",
                                # "要还利息不" heard as a yes (要) or a no (不), "事先要跟啥人打招呼伐" as a
                                # way out, "那打哪个电话" as "are you a person"
                                "affirm", "deny", "stop", "bot_challenge",
                                # "他哪天到村里来坐班" (the village lawyer) heard as asking for a person
                                "request_human",
                                # "交上去好久才有信" (after the 低保 materials) heard as the points rules
                                "ask_points_rules",
                                # "那个证办下来有啥好处的呀" heard as a greeting (好…呀); never a real one
                                "greet",
                                # "最晚拖到哪一天", "回了家再报，得拿哪些单子" heard as a report's progress;
                                # never one that names a report (follow_up checks)
                                STATUS_INTENT})
#: Who the grid worker (or group leader) is, asked as a question ("我家这片归谁当网格员", "网格员是哪个"):
#: information, not a wish to be called.
_WHO_IS_THE_WORKER = re.compile(r"(谁|哪个|哪位|啥人)(是|当|管|做)(咱|我|俺|我们|俺们)?(家|这片|这块|这里|这儿|组|村)?(的)?"
                                r"(网格员|组长|中心户长)|(网格员|组长|中心户长)(是|叫)(谁|哪个|哪位|啥|什么)")
#: A greeting said as one ("你好", "在吗", "喂"): never a follow-up, whatever it ends with.
_GREETING = re.compile(r"你好|您好|在吗|在不在|喂|哈喽|早上好|晚上好|下午好|吃了吗|吃了没")
FOLLOW_UP_MAX_CHARS = 14
#: ... and the grievance intents, for a follow-up that asks about doing something the policy is
#: about ("自个儿找亲戚帮着盖中不中", "要是没等批就先盖了会咋样"), when it reports no problem and
#: asks to file nothing.
FOLLOW_UP_GRIEVANCE_MISREADS = frozenset({"file_grievance", "check_grievance_status"})
_FILING_WORDS = re.compile(r"反映|投诉|举报|告状|报上去|上报|报个|报一下|诉求")
_ELLIPSIS = re.compile(r"^(那|还|要|得|外地|外村|外省|多|几|啥|咋|怎么|在哪|去哪|上哪|能|可以|是不是|有没有|一年|一个月|每|要是)"
                       r"|呢$|吗$|不$|没$|多少|几|啥|什么|哪|中不中|行不行|成不成|会咋样|咋办|咋整"
                       # regional question words (Xiang 么子, Cantonese 咩 / 边度 / 点样 / 要唔要 / 有冇)
                       r"|么子|咩|乜|边度|边个|点样|唔|有冇|伐$")
_OTHER_TOPIC = re.compile(r"积分|鸡分|分数|扣分|加分|换|兑|[几一二两三四五六七八九十\d]分(?!钱|钟|之|地|开|配|红)")


def names_points(text: str) -> bool:
    """The sentence is about points or the shop ("俺家积分还有多少"), never a policy's follow-up."""
    return bool(_OTHER_TOPIC.search(flat_text(text)))


#: The intents a longer follow-up is heard as when the model cannot place it (a fallback, a staff
#: look-up of "他", out of scope).
LONG_FOLLOW_UP_MISREADS = frozenset({"inform", "nlu_fallback", "out_of_scope", "query_household", "list_households",
                                     "my_queue", "handle_grievance", "log_visit", "request_human", "ask_points_rules",
                                     # "我哥早把户口落在城里，这房他也有份吗" (a question: never a real greeting)
                                     "greet"})
FOLLOW_UP_LONG_MAX_CHARS = 30
_NAMES_HOUSE = re.compile(rf"{HOUSE_DIGITS}号")


#: Actions after which the bot always listens (they answer the turn; rules end the same way).
ANSWERS_THEN_LISTEN = frozenset({POLICY_ACTION, "action_points_rules", "action_log_visit", "action_knowledge_fallback",
                                 "action_points_history", "action_ack_emergency", "action_affirm",
                                 "action_household_summary", "action_award_points", "action_handle_grievance",
                                 *INTERRUPTIONS.values()})


def follow_up(turn: Turn) -> bool:
    """A short elliptical question right after a policy answer, about that policy (also when
    the model hears it as a question about the answer's source without a word of one:
    "办下来有啥子好处")."""
    flat = flat_text(turn.text)
    misread = turn.intent in FOLLOW_UP_MISREADS or (turn.intent == "ask_source" and not asks_source(flat)) \
        or (turn.intent in FOLLOW_UP_GRIEVANCE_MISREADS and asks_question(flat) and not reports_problem(flat)
            and not _FILING_WORDS.search(flat))
    if turn.intent in ("affirm", "deny", STOP_INTENT, "request_human") and not (
            asks_question(flat) and interpret(flat) not in (Reply.YES, Reply.NO, Reply.STOP)):
        return False  # "要", "好的", "不用了" after an answer are a yes or a no; "要还利息不" asks
    if turn.previous_action not in ANSWERED_A_POLICY or not misread or names_points(flat):
        return False
    if asks_to_file_last(turn.text) or wants_to_complain_last(turn.text):
        return False  # "要嘛，帮我往上报" after the answer: the report asked for, not more about the policy
    if turn.intent == "greet" and (_GREETING.search(flat) or not asks_question(flat)):
        return False
    if turn.intent == STATUS_INTENT and (names_a_report(flat) or asks_report_status(flat)):
        return False  # "我报的那个修了没": a report's progress after all
    if 0 < len(flat) <= FOLLOW_UP_MAX_CHARS and _ELLIPSIS.search(flat):
        return True
    # A longer sentence the model cannot place, right after the answer: more about that policy, in
    # the asker's own words or circumstances ("我没签合同，就几张聊天截图，管用吗", "他想回老家，连车票钱
    # 都凑不出来", "我那是老年机，上不了网"); never a problem to report, a household or a person asked for.
    # Heard as a report, it asks and tells no problem ("报完了自家还贴进去好几万，就没别的路子了").
    return (turn.intent in LONG_FOLLOW_UP_MISREADS | FOLLOW_UP_GRIEVANCE_MISREADS and len(flat) <= FOLLOW_UP_LONG_MAX_CHARS
            and not (reports_problem(flat) and not asks_question(flat)) and not _NAMES_HOUSE.search(flat)
            and not ASKS_FOR_PEOPLE.search(flat))


POINTS_RULES_ACTION = "action_points_rules"
#: After a rule was said ("塑料瓶每10个兑换1分"), "那废纸呢" asks the same about another deed.
_RULE_ELLIPSIS = re.compile(r"^那.{1,6}(呢|嘞|咧)?$|^.{1,6}(呢|嘞|咧)$")


def rules_follow_up(turn: Turn) -> bool:
    """A short "那废纸呢" right after a points-rule answer: the rule for that deed."""
    flat = flat_text(turn.text)
    return (turn.previous_action == POINTS_RULES_ACTION and turn.intent in FOLLOW_UP_MISREADS | {"ask_policy"}
            and bool(_RULE_ELLIPSIS.search(flat)))
#: Intents the model gives a question about the points rules when it also describes a problem or
#: names a policy word ("这不是要扣分吗", "烧秸秆要扣多少分"), or as a redemption or a balance when it
#: asks how points are earned ("塑料瓶子能换积分不", "积分咋挣"): the village's rule table answers it.
POINTS_RULE_MISREADS = frozenset({"ask_policy", "file_grievance", "nlu_fallback", "out_of_scope",
                                  "redeem_points", "check_points",
                                  # "帮着照看村里的孤老，一回给记几分" heard as a visit to log
                                  "log_visit"})


BALANCE_ACTION = "action_points_balance"
#: Intents the model gives "俺家还有多少分" when it hears a question about points in general: the
#: words ask for the household's balance (bot/nlu/goals.py).
#: A report said in the same breath ("路口垃圾桶满了没人管，对了俺家积分多少") is offered for filing
#: after the answer (actions/points.py), as with every mixed sentence.
BALANCE_MISREADS = frozenset({"ask_policy", "ask_points_rules", "nlu_fallback", "out_of_scope", "inform",
                              "redeem_points", "points_history", "file_grievance",
                              # "分呢？" heard as "say again"
                              "repeat"})
#: Intents the model gives "积分超市几号开门": the village's notice about the shop answers it.
SHOP_OPENING_MISREADS = frozenset({"ask_points_rules", "check_points", "redeem_points", "nlu_fallback",
                                   "out_of_scope", "inform", "points_history",
                                   # asked together with a problem told ("路灯不亮了，另外问下，超市几号开"):
                                   # the question first, then the offer to report
                                   "ask_policy", "file_grievance"})


HISTORY_ACTION = "action_points_history"
#: Intents the model gives a disputed deduction said with its story ("扣了俺家5分，说俺乱倒垃圾，俺根本
#: 没倒，这个要申诉" sounds like an award or a report): the deductions, explained, an appeal offered.
DISPUTE_MISREADS = frozenset({"award_points", "file_grievance", "ask_points_rules", "ask_policy", "nlu_fallback",
                              "out_of_scope", "inform", "check_points", "deny", "affirm", "stop",
                              # "…我要申诉" heard as a staff command on a ticket, or as asking for a person
                              "handle_grievance", "my_queue", "request_human"})
#: Intents the model gives an award said in the field when it cannot decide ("56号陈春生家送来塑料瓶
#: 三十个": award 0.49, look-up 0.47, so the fallback).
AWARD_MISREADS = frozenset({"nlu_fallback", "inform", "out_of_scope",
                            # "11号黄小红…按调解给她家加分" heard as a look-up of house 11
                            "query_household",
                            # "36号…调成了，记10分" heard as a staff command on a ticket or the queue;
                            # "给四十六号加十分，她帮着…劝和了" as a question about the rules
                            "handle_grievance", "my_queue", "ask_points_rules",
                            # "13号这个月垃圾分得规整，按分类那条给加上" heard as a points question
                            "points_history", "check_points",
                            # "38号…彩礼没要，大席也没摆，理事会那边认了" heard as a question on the custom
                            "ask_policy"})
#: ... and a penalty told by its verb ("这回得扣"), which sounds like a report (a villager's is one:
#: the award action hands it to the report).
PENALTY_MISREADS = frozenset({"file_grievance", "log_visit"})
AWARD_ACTION = "action_award_points"
#: Intents the model gives a visit told as done with the household named ("26号，我才走访完").
VISIT_MISREADS = frozenset({"query_household", "inform", "nlu_fallback",
                            # "吴翠花那儿我刚去过，55号，…走访登记一下" heard as a report
                            "file_grievance"})
VISIT_ACTION = "action_log_visit"
_NAMES_HOUSEHOLD = re.compile(rf"{HOUSE_DIGITS}号|门牌(号)?(是)?{HOUSE_DIGITS}|(?<![我俺咱])[\u4e00-\u9fa5]{{2,3}}(?<![我俺咱])(家|那户)")
#: Intents the model gives a staff command on a ticket it cannot place.
TICKET_MISREADS = frozenset({"nlu_fallback", "inform", "out_of_scope", "file_grievance", "check_grievance_status"})
TICKET_ACTION = "action_handle_grievance"
#: ... and one named by its subject ("村口路灯那件事，我这边打算办结了"), which may sound like the queue.
TICKET_BY_SUBJECT_MISREADS = TICKET_MISREADS | {"my_queue"}
#: Intents the model gives a look-up by name ("查一下李满仓家").
NAME_LOOKUP_MISREADS = frozenset({"log_visit", "check_points", "award_points", "inform", "nlu_fallback",
                                  "list_households", "check_grievance_status"})


KNOWLEDGE_FALLBACK = "action_knowledge_fallback"
#: "Out of scope" for the language model may still be in the knowledge base: a village notice
#: added last week ("送温暖活动怎么领棉被") is answered when the retriever is sure of it;
#: otherwise the action says what the assistant can do (as the out-of-scope rule did).
OUT_OF_SCOPE_INTENT = "out_of_scope"


AFFIRM_ACTION = "action_affirm"
HOUSEHOLD_ACTION = "action_household_summary"
#: What the model may hear in a short question about the household just looked up.
HOUSEHOLD_FOLLOW_UP_MISREADS = frozenset({"emergency", "check_points", "list_households", "inform", "nlu_fallback",
                                          "out_of_scope", "ask_policy", "affirm", "query_household", "repeat",
                                          # "她是一个人过吗" heard as a greeting
                                          "greet"})
HOUSEHOLD_FOLLOW_UP_MAX_CHARS = 12
#: What the model may hear in a bare house number ("七号"/"十三号": a yes, a no, an option picked).
HOUSE_NUMBER_MISREADS = frozenset({"affirm", "deny", "choose_option", "inform", "nlu_fallback", "out_of_scope",
                                   "check_grievance_status", "repeat", "check_points", "list_households"})
REPEAT_ACTION = "action_repeat"
SLOW_DOWN_ACTION = "action_slow_down"
#: Intents the model gives "你说慢点，俺没听清" or "前头说的再念念" when it hears nothing it knows:
#: outside a flow the words decide (inside one, the rules and the read-back handle them).
SAY_AGAIN_MISREADS = frozenset({"nlu_fallback", "out_of_scope", "inform", "stop", "deny", "greet"})
#: The model's own intents for hearing it again (slower).
SAY_AGAIN_INTENTS = frozenset({"repeat", "slow_down"})
SOURCE_ACTION = "action_policy_source"
#: Intents the model gives a question about where the answer just given comes from.
SOURCE_MISREADS = frozenset({"bot_challenge", "nlu_fallback", "out_of_scope", "inform", "repeat"})
#: ... when short: "低保是啥意思" asks about 低保.
SAY_AGAIN_MAX_CHARS = 10


START_REPORT_ACTION = "action_start_grievance"
#: The actions after which a short question follows up a policy answer: the policy answer, the
#: knowledge fallback, and a report started that answered the question first (a form it started
#: would still be active: "…村上那位法律顾问管不管这事" answered, then "那他哪天来村里").
ANSWERED_A_POLICY = frozenset({POLICY_ACTION, KNOWLEDGE_FALLBACK, START_REPORT_ACTION})
REPORT_FORM = "grievance_form"
#: Intents the model gives a short everyday report when it hears a form's answer in it, or nothing
#: at all ("二组晒场边上那根电线杆歪了" sounds like a place said to the form; "停了三回电了" like
#: "停"): outside a flow, a sentence that says something is wrong and asks nothing is a report. Its
#: read-back still needs a yes, and 算了 leaves it at every step.
REPORT_MISREADS = frozenset({"inform", "nlu_fallback", "stop", "deny", "out_of_scope"})
#: Intents the model gives a problem told without a question ("补偿款拖到如今还没到手"): a report;
#: also a person asked for in the telling ("收医保的收了我两回钱，找他他还不认账").
COMPLAINT_MISREADS = frozenset({"ask_policy", "request_human"})
#: A pick from options offered; with nothing offered, a problem told is heard as one ("前年…").
CHOOSE_INTENT = "choose_option"
#: Intents the model gives a bare wish to report something ("我想找你们反映点事情"): a status
#: question, a person asked for, the staff queue; and a report told for someone else ("替我外婆
#:说一下，她家…"), which sounds like a visit told.
FILE_REQUEST_MISREADS = REPORT_MISREADS | {"check_grievance_status", "request_human", "my_queue", "log_visit"}
#: ... and a complaint said as one, which may also sound like a visit told ("跟你们反映一下，…"), or,
#: with an amount in it, like the points ("养老金少打了一百多，…我要投诉"; a deduction disputed is
#: the points' own appeal, checked first).
COMPLAINT_OPENING_MISREADS = COMPLAINT_MISREADS | REPORT_MISREADS | {"log_visit", "check_points", "points_history"}
STATUS_ACTION = "action_grievance_status"
FILE_INTENT = "file_grievance"
#: A wish to tell something, with nothing told yet ("俺想给恁说道说道一件事", "跟你讲个事儿"): the
#: opening of a report, which the model may hear as a dispute about points (说道说道).
_WANTS_TO_TELL = re.compile(r"(说|讲|唠|反映|告诉|说道|念叨|聊|叨咕)[^，,。？?]{0,4}(一|个|件|点)(件|个)?(事|事情|事儿|情况)")
_POINTS_TALK = re.compile(r"分|扣|罚|申诉|超市|兑|换")
LIST_ACTION = "action_list_households"
#: Intents the model gives a staff list asked in other words ("挂了黄牌子的是谁家": 挂了 as a goodbye).
LIST_MISREADS = frozenset({"goodbye", "greet", "nlu_fallback", "inform", "out_of_scope",
                           # "五组有甚老汉老婆儿是独个儿住的" heard as a report (独个儿住 told)
                           "file_grievance"})
#: Intents whose action proposes a write; said with a way out ("我是说面条不要了") they propose none.
WRITE_INTENTS = frozenset({"redeem_points", "award_points", "log_visit", "file_grievance", "handle_grievance"})
#: At the PIN prompt, a PIN forgotten ("那四个数我这会儿死活想不出"): the request is left, not the PIN asked again.
_PIN_FORGOTTEN = re.compile(r"忘了|忘记|忘啦|想不起|想不出|记不得|记不起|记不清|记不住|不记得|不晓得|不知道")
#: Who decides, how it is decided ("村里头大事到底谁说了算"): a question about how things work.
_HOW_DECIDED = re.compile(r"谁说了算|谁拍板|谁做主|谁定的|(怎么|咋|如何)定(的|下来)")
#: Intents the model gives such an opening when it hears points in it.
TELL_SOMETHING_MISREADS = frozenset({"points_history", "check_points", "ask_points_rules"})
#: Intents the model gives a question about an earlier report that tells its problem again
#: ("前阵子反映垃圾桶那档子事，如今弄到哪步啦" sounds like a new report).
STATUS_MISREADS = frozenset({"file_grievance", "ask_policy", "nlu_fallback", "inform", "out_of_scope", "log_visit"})


ACK_ACTION = "action_ack_emergency"
#: Intents the model gives a staff member's own words for taking charge of an alert ("好的我知道了，
#: 这就去赵淑珍家" sounds like nothing it knows): the action takes the open alert, or says 好的.
ACK_MISREADS = frozenset({"nlu_fallback", "out_of_scope", "inform", "thank", "goodbye", "query_household",
                          "request_human",
                          # "明白，俺立马往刘树林家跑一趟" heard as a report
                          "file_grievance"})


CHOOSE_ACTION = "action_choose_option"
#: 回访: "满意吗？" was asked (slot choice_kind). A reply that starts with a verdict ("不中，才过了
#: 两天又坑坑洼洼的了", "还行吧") answers it, whatever the model makes of the complaint after it.
SATISFACTION_OFFERED = "satisfaction"
_CLAUSES = re.compile(r"[\s，,。.!！?？、…~～]+")


def answers_satisfaction(text: str) -> bool:
    """A verdict on the work done (bot.replies.verdict_in), or a yes/no to 满意吗 said first."""
    head = _CLAUSES.split((text or "").strip(" ，,。.!！?？、…~～"), 1)[0]
    return verdict_in(text) is not None or interpret(head) in (Reply.YES, Reply.NO)


PIN_FORM = "pin_form"
PIN_SLOT = "pin"


@dataclass(frozen=True)
class Turn:
    """What the policy sees of the conversation right now."""

    latest_action: Optional[str]
    text: str
    intent: Optional[str]
    confidence: float
    awaiting_confirmation: bool
    active_loop: Optional[str]
    requested_slot: Optional[str]
    #: The bot's last action before the user spoke (action_listen aside), e.g. a policy answer.
    previous_action: Optional[str] = None
    #: What the last question offered to choose from (slot choice_kind), e.g. "satisfaction".
    choice_kind: Optional[str] = None


def interruption(turn: Turn) -> Optional[str]:
    """The action that answers a question asked in the middle of a form, or None. At a form's
    read-back ("…对吗？"), a yes or a no with a correction ("地方不对，是卫生院前头那条") is the
    answer, whatever the model hears in it: the form reads it (actions/grievances.py)."""
    if not turn.active_loop or not turn.requested_slot or turn.requested_slot in FREE_TEXT_SLOTS:
        return None
    if turn.requested_slot.endswith(CONFIRMED_SUFFIX) and answers_read_back(turn.text):
        return None
    if _answers_the_name(turn):
        return None  # "不怕别人晓得", "可别叫人晓得是俺说的": the answer to 保密, whatever the model hears
    return INTERRUPTIONS.get(turn.intent or "")


def says_about_the_name(text: str | None) -> bool:
    """An answer about keeping the name private ("不怕别人晓得", "名字写着")."""
    return bool(_ABOUT_THE_NAME.search(text or ""))


def _answers_the_name(turn: Turn) -> bool:
    """At the form's yes/no question about the name, words about the name that the model heard
    as a question the form's text mapping leaves out."""
    return turn.requested_slot in YES_NO_SLOTS and turn.intent in NAME_ANSWER_MISREADS \
        and says_about_the_name(turn.text)


#: "对了，…" opening a question is "by the way", not a yes ("对了，积分超市是哪天开门来着"): the
#: question is read as one the model could not place.
_BY_THE_WAY = re.compile(rf"^(哎|噢|哦|啊|诶|欸|呃)?({'|'.join(BY_THE_WAY)})[\s，,。.…!！]*(?P<rest>.{{4,}})$")


#: A reply this short with a no in it is a no ("不是，路灯没坏"); a longer sentence that takes a word
#: back ("六组东头……不对，是西头那个公共厕所臭得没法进人") is a report corrected in the same breath.
NO_MAX_CHARS = 8


def _a_no(text: str) -> bool:
    return interpret(text) is Reply.NO and len(flat_text(text)) <= NO_MAX_CHARS


_ASKED_AGAIN = re.compile("|".join(sorted(map(re.escape, (*REPEAT_PATTERNS, "好吗", "行吗", "可以吗", "成吗", "中吗",
                                                                   "好不好")),
                                           key=len, reverse=True)))


def asks_beyond_hearing(text: str) -> bool:
    """A question besides the words about hearing ("我耳朵背了好多年，讲话听不清，能办残疾证不咯");
    "你刚才说的啥，我没听清，再说一遍好吗" asks only to hear it again."""
    rest = flat_text(_ASKED_AGAIN.sub("", text or ""))
    return len(rest) > SAY_AGAIN_MAX_CHARS and asks_question(rest)


#: The model's emergency below this confidence is doubted when the trouble told is long past.
EMERGENCY_DOUBT_CONFIDENCE = 0.5
_LONG_PAST = re.compile(r"前年|去年|早年|那年|几年前|多年|好几年|[一二三四五六七八九十两几\d]+年了|上个月|上回|以前")


def past_trouble_asked_about(turn: Turn) -> bool:
    """The model's unsure emergency about trouble long past, asked about ("孩子他爸前年出车祸没了，
    …够不够吃低保"); never when a word of danger now is said."""
    return turn.confidence < EMERGENCY_DOUBT_CONFIDENCE and not is_emergency(turn.text) \
        and bool(_LONG_PAST.search(turn.text or "")) and asks_question(turn.text)


def by_the_way(turn: Turn) -> bool:
    """"对了，积分超市是哪天开门来着": a question opened by "by the way", heard as a yes."""
    match = _BY_THE_WAY.match((turn.text or "").strip())
    return turn.intent == "affirm" and match is not None and asks_question(match.group("rest"))


def decide(turn: Turn) -> Optional[str]:
    """The action to insist on, or None to let the other policies decide."""
    if turn.latest_action == ACTION_LISTEN and turn.active_loop and _answers_the_name(turn) \
            and not is_stop(turn.text, soft=False):
        return turn.active_loop  # "不怕别人晓得": the answer to 保密, read by the form
    if turn.latest_action in (STOP_ACTION, RESOLVE_ACTION):
        return ACTION_LISTEN  # both end the bot's turn
    if turn.active_loop and turn.latest_action in INTERRUPTIONS.values():
        # Back to the form after answering a question asked inside it: it asks its question
        # again. Should the answer have offered something of its own, that offer is answered first.
        return ACTION_LISTEN if turn.awaiting_confirmation else turn.active_loop
    if turn.latest_action in (REPEAT_ACTION, SLOW_DOWN_ACTION) and not turn.active_loop \
            and not turn.awaiting_confirmation:
        return ACTION_LISTEN  # said again: the bot's turn is over
    if turn.latest_action == START_REPORT_ACTION and not turn.active_loop:
        # a report started, whoever started it (the rules, this policy, or another action
        # handing over): the form asks what is missing
        return REPORT_FORM
    if turn.latest_action in ANSWERS_THEN_LISTEN:
        # An answer this policy may have chosen against the model's intent: no rule follows it
        # up, so the bot listens (rather than a learned policy's fallback undoing the turn).
        return ACTION_LISTEN
    if turn.latest_action != ACTION_LISTEN:
        return None  # otherwise only right after the user spoke
    if turn.active_loop == PIN_FORM and turn.requested_slot == PIN_SLOT and not pin_said(turn.text) \
            and _PIN_FORGOTTEN.search(turn.text or ""):
        return STOP_ACTION  # "密码我一时想不起来了，回头再说": nothing is looked up, nothing asked again
    if turn.active_loop == PIN_FORM and turn.requested_slot == PIN_SLOT and pin_said(turn.text):
        # Digits said as a PIN go to the PIN form, whatever the model hears in them: "九九九九"
        # sounds like "救救救救" (jiù), and the pinyin features make the model say emergency.
        # A real call for help is words (救命, 快来人), never digits only.
        return turn.active_loop
    if turn.previous_action == HOUSEHOLD_ACTION and turn.intent in HOUSEHOLD_FOLLOW_UP_MISREADS \
            and not turn.awaiting_confirmation and not turn.active_loop and not is_emergency(turn.text) \
            and asks_household_detail(turn.text) and len(flat_text(turn.text)) <= HOUSEHOLD_FOLLOW_UP_MAX_CHARS:
        # "屋里住着几个人" / "积分呢" / "算哪种户" after a look-up: a question about that household,
        # which the model may hear as a call for help, the asker's own points or a list; words of
        # an emergency (救命, 摔了) always raise one.
        return HOUSEHOLD_ACTION
    if turn.intent == EMERGENCY_INTENT and turn.choice_kind == SATISFACTION_OFFERED and not is_emergency(turn.text):
        # "东西是修上了，可等了快一个礼拜才见着人" to 回访's 满意吗: a word on the work done that the model
        # heard as a call for help, with no word of danger in it (those are routed before the
        # policies): the satisfaction question takes it, or asks again
        return CHOOSE_ACTION
    if turn.intent == EMERGENCY_INTENT and past_trouble_asked_about(turn):
        # "孩子他爸前年出车祸没了，…像俺家够不够吃低保": the model's unsure emergency, about something
        # long past and with a question; no word of danger now (those are routed before the policies)
        return KNOWLEDGE_FALLBACK
    if not (turn.text or turn.intent) or turn.intent == EMERGENCY_INTENT:
        return None
    pending = turn.awaiting_confirmation
    busy = pending or bool(turn.active_loop)
    # At a yes/no question of a form ("要不要保密？"), "不用了" / "不用保密" answer it: only the
    # unmistakable stop words leave, and the stop intent is not trusted there.
    yes_no_question = not pending and turn.requested_slot in YES_NO_SLOTS
    # The model's stop is not trusted over words that agree ("这回对了" after a correction).
    confident_stop = turn.intent == STOP_INTENT and turn.confidence >= STOP_INTENT_CONFIDENCE \
        and interpret(turn.text) is not Reply.YES
    if busy and (is_stop(turn.text, soft=not yes_no_question) or (confident_stop and not yes_no_question)):
        return STOP_ACTION
    if pending:
        return RESOLVE_ACTION
    if not busy and turn.intent in WRITE_INTENTS and is_stop(turn.text) and not wants_to_complain(turn.text):
        # "我是说面条不要了" right after leaving an exchange: no new one proposed (a question said
        # in the same breath is still answered by the way out; nothing that writes is started)
        return STOP_ACTION
    aside = not busy and by_the_way(turn)
    if aside:
        turn = replace(turn, intent="nlu_fallback")
    if not busy and turn.choice_kind == SATISFACTION_OFFERED and answers_satisfaction(turn.text):
        return CHOOSE_ACTION  # 回访's 满意吗: "不中，…" is 不满意, not a new report
    if not busy and command_action(turn.text):
        return command_action(turn.text)  # "记录走访 …": the note may name any policy
    if not busy and turn.intent in ACK_MISREADS and acknowledges(turn.text):
        return ACK_ACTION  # "这就去赵淑珍家": an open alert taken in the staff member's own words (before the
        # house number it names: "晓得了，李玉珍家，三十号是吧，我骑上车就往那边去")
    if not busy and turn.intent in HOUSE_NUMBER_MISREADS and not turn.choice_kind and says_house_number(turn.text):
        return HOUSEHOLD_ACTION  # "七号": a look-up asked the short way (the action checks who may)
    if not busy and ((turn.intent in TICKET_MISREADS and commands_ticket(turn.text))
                     or (turn.intent in TICKET_BY_SUBJECT_MISREADS and commands_ticket_by_subject(turn.text))):
        return TICKET_ACTION  # "260104…报到村里去": the action checks who may, and reads it back
    if not busy and (turn.intent in AWARD_MISREADS or (turn.intent == CHOOSE_INTENT and not turn.choice_kind)
                     or (turn.intent in PENALTY_MISREADS and (tells_penalty(turn.text)
                                                             or AWARDED_POINTS.search(turn.text)))) \
            and tells_award(turn.text) and not disputes_deduction(turn.text) \
            and _NAMES_HOUSEHOLD.search(flat_text(turn.text)):
        return AWARD_ACTION  # read back before anything is booked; the action checks who may award
    if not busy and (turn.intent in VISIT_MISREADS or (turn.intent == "award_points" and not tells_award(turn.text))) \
            and tells_visit(turn.text) and _NAMES_HOUSEHOLD.search(flat_text(turn.text)):
        return VISIT_ACTION  # "26号，我才走访完，老人家气色挺好": read back before it is logged
    if not busy and turn.intent in NAME_LOOKUP_MISREADS and (looks_up_by_name(turn.text) or asks_where_lives(turn.text)):
        return HOUSEHOLD_ACTION  # "查一下李满仓家" heard as a visit to log (满仓): a look-up, nothing to write
    if not busy and (turn.intent in DISPUTE_MISREADS or turn.intent == STATUS_INTENT) and disputes_deduction(turn.text) \
            and not is_stop(turn.text) and not asks_report_status(turn.text):
        # the deduction explained and an appeal offered (a yes files it); before the report
        # check: "扣了我五分，讲我乱倒垃圾，我不服气的" is no problem to file; also when heard as a
        # report's progress ("上个礼拜那十分扣错了…要申诉")
        return HISTORY_ACTION
    if not busy and asks_for_more(turn.text):
        return AFFIRM_ACTION  # "还要" after a list read to its end: nothing more; anything else?
    if not busy and turn.intent in SOURCE_MISREADS and turn.previous_action == POLICY_ACTION \
            and asks_source(turn.text):
        return SOURCE_ACTION  # "这是哪里说的" after an answer, heard as "are you a robot"
    if not busy and turn.intent in SAY_AGAIN_INTENTS and asks_beyond_hearing(turn.text):
        # "我耳朵背了好多年，讲话听不清，能办残疾证不咯": a question about a policy, told with
        # why it is asked; not a wish to hear the last answer again
        return POLICY_ACTION
    if not busy and turn.intent in SAY_AGAIN_MISREADS and wants_slower(turn.text):
        return SLOW_DOWN_ACTION  # "你说慢点，俺没听清": the last answer again, slowly
    if not busy and turn.intent in SAY_AGAIN_MISREADS and asks_to_repeat(turn.text) \
            and len(flat_text(turn.text)) <= SAY_AGAIN_MAX_CHARS:
        return REPEAT_ACTION
    if not busy and turn.intent in STATUS_MISREADS and asks_report_status(turn.text) and not is_stop(turn.text):
        return STATUS_ACTION  # "前阵子反映垃圾桶那档子事，如今弄到哪步啦": not a new report
    if not busy and ((turn.intent in REPORT_MISREADS and reports_problem(turn.text))
                     or (turn.intent in FILE_REQUEST_MISREADS and asks_to_file(turn.text))
                     or ((turn.intent in COMPLAINT_MISREADS or (turn.intent == CHOOSE_INTENT and not turn.choice_kind))
                         and complains_without_asking(turn.text))) \
            and not asks_question(turn.text) and not is_stop(turn.text) and not _a_no(turn.text) \
            and not asks_report_status(turn.text) and not (turn.intent == "log_visit" and tells_visit(turn.text)):
        # (a visit told and "走访登记一下" asked is the visit, not a report to file)
        # "电线杆歪了" heard as a place, "停了三回电了" as 停 (not "不报了"); "那你给我报一下" after an
        # answer (the problem told just before), "我想找你们反映点事情" heard as a status question
        return START_REPORT_ACTION
    if not busy and turn.intent in REPORT_MISREADS and reports_problem(turn.text) and asks_who_handles(turn.text) \
            and len(flat_text(turn.text)) >= WHO_HANDLES_MIN_CHARS and not asks_for_a_person(turn.text) \
            and not is_stop(turn.text):
        # "后院那家天天半夜磨豆腐，吵得睡不着，这种事该上哪儿去说" heard as a form answer: whom to tell
        # (the knowledge base, or the general answer), then the offer to report it
        return POLICY_ACTION
    if not busy and turn.intent in TELL_SOMETHING_MISREADS and _WANTS_TO_TELL.search(flat_text(turn.text)) \
            and not _POINTS_TALK.search(flat_text(turn.text)) and not is_stop(turn.text):
        return START_REPORT_ACTION  # "俺想给恁说道说道一件事": what the matter is, asked by the form
    if not busy and turn.intent in LIST_MISREADS and asks_for_a_list(turn.text) and not reports_problem(turn.text) \
            and not is_emergency(turn.text) and not is_stop(turn.text):
        return LIST_ACTION  # "我那片挂了黄牌子的是谁家" heard as a goodbye (挂了): the list asked for
    if not busy and turn.intent == "list_households" and reports_problem(turn.text) and not asks_question(turn.text) \
            and not ASKS_FOR_PEOPLE.search(last_words(turn.text)) \
            and not is_stop(turn.text):
        # "五组，嗐，讲错了，六组那个垃圾池，一个礼拜没人来清": groups named in a report, heard as a list;
        # a list named in the story, not asked for last ("…名单上有个老人早走了，钱还照领，这明摆着糊弄人")
        return START_REPORT_ACTION
    if not busy and turn.intent == FILE_INTENT and _HOW_DECIDED.search(turn.text) \
            and not reports_problem(turn.text) and not asks_to_file(turn.text) and not wants_to_complain(turn.text) \
            and not asks_report_status(turn.text) and not names_a_report(turn.text) and not is_stop(turn.text):
        # "村里头大事到底谁说了算，有人提到四议两公开": how the village decides,
        # asked with no problem in it and no report asked for, which the model heard as a report
        return POLICY_ACTION
    if not busy and turn.intent in COMPLAINT_OPENING_MISREADS and wants_to_complain(turn.text) \
            and not disputes_deduction(turn.text) and not is_stop(turn.text):
        # "地力补贴…少算了三亩，这事我不服，得反映", "钱咋花的一张纸都不贴，我要投诉": a complaint said as
        # one is a report, whatever policy it names or asks about on the way
        return START_REPORT_ACTION
    if not busy and turn.intent in SHOP_OPENING_MISREADS and asks_shop_opening(turn.text):
        return POLICY_ACTION  # "积分超市几号开门": the village's notice, not the rules
    if not busy and turn.intent in BALANCE_MISREADS and (asks_own_balance(turn.text)
                                                         or asks_others_balance(turn.text)):
        return BALANCE_ACTION  # "俺家还有多少分"; "隔壁老李家多少分" (only one's own, it says)
    if not busy and turn.intent in POINTS_RULE_MISREADS and asks_points_rule(turn.text):
        return POINTS_RULES_ACTION  # the question first; a problem it describes is offered for report
    if not busy and turn.intent == REQUEST_HUMAN_INTENT and asks_to_explain(turn.text):
        return POLICY_ACTION  # "你给讲讲三线联系": a thing explained, not a person called
    if not busy and turn.intent == REQUEST_HUMAN_INTENT and _WHO_IS_THE_WORKER.search(flat_text(turn.text)):
        return POLICY_ACTION  # "我家这片归谁当网格员": who it is (the village's grid notice), no call
    if not busy and turn.intent in (REQUEST_HUMAN_INTENT, STATUS_INTENT) \
            and len(flat_text(turn.text)) >= WHO_HANDLES_MIN_CHARS \
            and (asks_who_handles(turn.text) or asks_question(turn.text)) and not asks_for_a_person(turn.text) \
            and not about_a_report(turn.text) and not asks_report_status(turn.text):
        # "隔壁…多占了半米，跟他讲他不认，这个理该找哪个评", "俺儿子…手指头轧了，厂子不管，这工伤咋认定啊",
        # "两个儿子为分家吵翻了，…这赡养的事该咋处理": a question told with its story, which the model
        # heard as asking for a person or for a report's progress
        return POLICY_ACTION
    if not busy and turn.intent == STOP_INTENT and len(flat_text(turn.text)) >= QUESTION_NOT_STOP_MIN_CHARS \
            and asks_question(turn.text) and not is_stop(turn.text):
        # "老房子想拆了翻盖，要不要先审批": a question the model heard as leaving (拆了 ~ 算了), with no
        # word of leaving in it and nothing to leave
        return POLICY_ACTION
    if not busy and follow_up(turn):
        return POLICY_ACTION
    if not busy and rules_follow_up(turn):
        return POINTS_RULES_ACTION
    if not busy and turn.intent == OUT_OF_SCOPE_INTENT or aside:
        return KNOWLEDGE_FALLBACK
    return interruption(turn)
