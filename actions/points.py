"""Points: balance, history, rules, redemption and deduction appeals (each write with
read-back and confirmation)."""
from __future__ import annotations

import datetime as dt
import re
from typing import List, Optional

from rasa_sdk.events import EventType

from actions import parsing, phrases, slots
from actions.common import Turn, XiangyinAction, previous_user_text
from actions.households import SUMMARY, refers_back, staff_query
from actions.pending import PendingWrite, propose_write, read_list
from actions.point_rules import match_rule, rule_words
from bot import points
from bot.models import Household, utcnow
from bot.nlu.goals import disagrees_with_deduction, names_other_household


def _needs_household(turn: Turn, reading: bool = False) -> bool:
    """Points belong to a household: an unlinked sender is told how to link, staff are asked
    which household, a linked account without one is told whose points it may hear (and True).
    ``reading`` (a balance, the history): a relative linked to one household hears that one's."""
    if turn.actor.household_id is None and reading and turn.actor.is_relative:
        with turn.session() as s:
            if points.reading_household_id(s, turn.actor) is not None:
                return False
    if turn.actor.household_id is None:
        if turn.actor.is_staff:
            turn.say("utter_ask_household")
        elif turn.actor.linked:
            turn.say("utter_points_no_household")
        else:
            turn.say("utter_not_linked")
        return True
    return False


def _asks_about_another_household(turn: Turn) -> bool:
    """"王建军家积分多少" from a villager of another household: a name or house number in the
    question that is not their own."""
    person, number = turn.entity(slots.ENTITY_PERSON), turn.entity(slots.ENTITY_HOUSEHOLD_NO)
    relative = turn.actor.household_id is None and turn.actor.is_relative
    if names_other_household(turn.text) and not relative:  # "我妈那户" is a relative's linked household
        return True
    if not person and not number:
        return False
    with turn.session() as s:
        own_id = points.reading_household_id(s, turn.actor)  # a relative's: the household linked
        if own_id is None:
            return True  # staff without a household of their own: any household named is another
        household = s.get(Household, own_id)
        own_names = {r.name for r in household.residents}
        own_number = str(household.number)
    if number and parsing.parse_quantity(number) is not None and str(parsing.parse_quantity(number)) != own_number:
        return True
    return bool(person) and not any(person in name or name in person for name in own_names)


def _start_of_last_month(now: dt.datetime) -> dt.datetime:
    return points.month_start(points.month_start(now) - dt.timedelta(days=1))


#: Wanting to exchange points for something ("想换袋米", "给俺换块肥皂"); not one made before (换了, 换过).
_WANTS_TO_EXCHANGE = re.compile(r"(想|要|准备|打算|给我|帮我|给俺|帮俺|能不能|能)换(?!了|过)")


class ActionPointsBalance(XiangyinAction):
    action_name = "action_points_balance"

    def handle(self, turn: Turn) -> List[EventType]:
        if turn.actor.is_staff and turn.slot(slots.LAST_HOUSEHOLD) and refers_back(turn.text):
            return staff_query(turn, SUMMARY)  # "他家积分多少" after a lookup: that household's
        if turn.actor.is_staff and (_asks_about_another_household(turn) or parsing.house_number_in(turn.text)
                                    or turn.actor.household_id is None):
            # "49号户积分现在多少", "帮我看下张国强，五十四号的，攒了几分" (a staff voice device has no
            # household of its own): a look-up; who may see it, and the PIN, are checked there
            return staff_query(turn, SUMMARY)
        if _needs_household(turn, reading=True):
            return []
        if parsing.asks_price(turn.text) or _WANTS_TO_EXCHANGE.search(turn.text or ""):
            with turn.session() as s:
                item = points.item_in(s, turn.actor.village_id, turn.text)
            if item is not None:
                # "一支牙膏得几分": the price, whatever the model heard; "积分够的话想换袋米": an exchange
                # asked for (read back before anything is spent)
                return redeem_or_price(turn)
        if _asks_about_another_household(turn):
            turn.say("utter_points_only_own")
        with turn.session() as s:
            info = points.summary(s, turn.actor)
        turn.say("utter_points_balance", owner=phrases.points_owner(info.per_person), balance=info.balance,
                 month=phrases.month_change(info.earned_this_month, info.deducted_this_month,
                                                 info.spent_this_month),
                 rank=phrases.village_rank(info.rank, info.out_of, phrases.points_unit(info.per_person)))
        return offer_report_of_problem(turn)


class ActionPointsHistory(XiangyinAction):
    """Recent points, three at a time; asked about deductions, the latest one is explained
    and an appeal offered."""

    action_name = "action_points_history"

    def handle(self, turn: Turn) -> List[EventType]:
        if _needs_household(turn, reading=True):
            return []
        text = turn.text
        deductions = parsing.asks_for_deductions(text) or disagrees_with_deduction(text)  # "对，申诉": the latest
        since: Optional[dt.datetime] = _start_of_last_month(utcnow()) if parsing.asks_for_last_month(text) else None
        disputed = disagrees_with_deduction(text)
        # "这个月一共扣了我几分" asks about this month; a dispute ("这个月扣了10分，我压根没烧") is about
        # the deduction it names, whenever the village's clock put it
        this_month = deductions and since is None and parsing.asks_for_this_month(text) and not disputed
        spent = deducted = 0
        with turn.session() as s:
            if this_month:  # "这个月一共扣了我几分": this month's penalties, and what was spent is not one
                since = points.month_start()
                _, deducted, spent = points.month_totals(s, turn.actor)
            lines = points.history(s, turn.actor, limit=3 if deductions else 9, only_deductions=deductions,
                                   since=since)
            if not lines and since is not None and disputed:  # "上个月扣了五分，我要申诉": the latest one
                lines = points.history(s, turn.actor, limit=3, only_deductions=True)
        if this_month and (not lines or spent):
            if lines:
                turn.say("utter_month_deductions", points=deducted)
            else:
                turn.say("utter_no_deductions_this_month")
            if spent:
                turn.say("utter_spent_is_no_deduction", points=spent)
            if not lines:
                return []
        if not lines:
            turn.say("utter_no_deductions" if deductions else "utter_no_points_history")
            return []
        spoken = [phrases.history_line(line.at, line.reason, line.delta, line.spent) for line in lines]
        if not deductions:
            return read_list(turn, "utter_points_history", spoken)
        turn.say("utter_points_deductions", items=phrases.series(spoken, phrases.LIST_SEPARATOR))
        # Explain the most recent deduction's rule, and offer to appeal that one.
        latest = lines[0]
        if latest.rule_description:
            turn.say("utter_points_rule_explained", rule=latest.rule_description)
        if latest.appealable and not disputed:
            # asked why, not disputed: no offer waits for a yes; how to appeal that one is said
            if not parsing.declines_appeal(text):
                turn.say("utter_appeal_how", date=phrases.spoken_date(latest.at), points=-latest.delta)
            return []
        if latest.appealable and not parsing.declines_appeal(text) and turn.actor.household_id is not None:
            # (a relative hears the linked household's deductions; the appeal is the household's own)
            return propose_write(turn, slots.WRITE_POINTS_APPEAL, {"entry_id": latest.entry_id, "question": text},
                                 "utter_confirm_points_appeal", date=phrases.spoken_date(latest.at),
                                 points=-latest.delta)
        if latest.appeal_open:
            turn.say("utter_appeal_already_open", date=phrases.spoken_date(latest.at))
        return []


class ActionPointsRules(XiangyinAction):
    action_name = "action_points_rules"

    def handle(self, turn: Turn) -> List[EventType]:
        return answer_rules(turn)


def answer_rules(turn: Turn) -> List[EventType]:
    """The rule the question names ("烧秸秆要扣多少分"), else the ways to earn and lose points.
    A question that also describes a problem ("隔壁天天烧秸秆，呛得人…这不是要扣分吗") is
    answered first; then the assistant offers to report the problem."""
    activity = turn.entity(slots.ENTITY_ACTIVITY)
    with turn.session() as s:
        every_rule = points.rules(s, turn.actor.village_id)
        by_activity = points.rules(s, turn.actor.village_id, activity) if activity else []
        named = by_activity[0] if by_activity else match_rule(every_rule, turn.text)
        described = turn.text
        if named is not None:
            said = named.description or phrases.rule_line(named.name, named.points)
            # The deed the rule names is no problem described ("乱倒垃圾要扣几分"); anything
            # besides it may be ("呛得人直咳嗽").
            for word in sorted(rule_words(named), key=len, reverse=True):
                described = described.replace(word, "") if word else described
        earn = [phrases.rule_line(r.name, r.points) for r in ways_to_earn(every_rule)]
        lose = [phrases.rule_line(r.name, r.points) for r in every_rule if r.points < 0][:2]
    if named is not None:
        turn.say("utter_points_rule", rule=said)
    elif lose:
        turn.say("utter_points_rules_earn_and_lose", earn=phrases.series(earn), lose=phrases.series(lose))
    else:
        turn.say("utter_points_rules_earn", earn=phrases.series(earn))
    return offer_report_of_problem(turn, described)


#: "积分咋挣": the everyday deeds anyone can do come first, then the one rule that earns most.
EVERYDAY_POINTS, EVERYDAY_COUNT = 10, 4


def ways_to_earn(rules: list) -> list:
    """The rules a "how do I earn points" answer names: up to four everyday deeds (worth at most
    ``EVERYDAY_POINTS``, most first), then the largest award if it is not among them."""
    earning = sorted((r for r in rules if r.points > 0 and not getattr(r, "by_quantity", False)),
                     key=lambda r: (-r.points, r.id or 0))
    everyday = [r for r in earning if r.points <= EVERYDAY_POINTS][:EVERYDAY_COUNT] or earning[:EVERYDAY_COUNT]
    if earning and earning[0] not in everyday:
        everyday.append(earning[0])
    return everyday


def offer_report_of_problem(turn: Turn, described: Optional[str] = None) -> List[EventType]:
    """A points question said with a problem ("路口垃圾桶满了没人管，对了俺家积分多少"): after
    the answer, the assistant offers to report the problem (nothing is filed without a yes)."""
    described = turn.text if described is None else described
    if parsing.reports_problem(described) and turn.actor.household_id is not None:
        return propose_write(turn, slots.WRITE_REPORT_OFFER, {"text": turn.text}, "utter_offer_report")
    return []


class ActionRedeemPoints(XiangyinAction):
    """'我想换块肥皂': checks item, stock and balance, then reads the exchange back."""

    action_name = "action_redeem_points"

    def handle(self, turn: Turn) -> List[EventType]:
        return redeem_or_price(turn)


def redeem_or_price(turn: Turn) -> List[EventType]:
    """The exchange read back, the catalogue, or an item's price when that is what is asked."""
    if _needs_household(turn):
        return []
    item_text = turn.entity(slots.ENTITY_ITEM) or turn.text
    quantity = (parsing.parse_quantity(turn.entity(slots.ENTITY_NUMBER) or "")
                or parsing.counted_quantity(turn.text) or 1)
    with turn.session() as s:
        # "那能换点啥": what the shop has, unless a real item is named ("能换肥皂啥的不").
        named = points.item_named(s, turn.actor.village_id, turn.entity(slots.ENTITY_ITEM))
        if named is None and parsing.asks_catalogue(turn.text):
            return _say_catalogue(turn, points.catalogue(s, turn.actor.village_id), points.spendable(s, turn.actor))
        if named is None and points.item_in(s, turn.actor.village_id, turn.text) is None:
            # "那就给俺换一袋" right after "大米得花多少分": the item just talked about
            earlier = points.item_in(s, turn.actor.village_id, previous_user_text(turn.tracker))
            if earlier is not None:
                item_text = earlier.name
        try:
            item = points.find_item(s, turn.actor.village_id, item_text, said=turn.text)
        except points.UnknownItem as exc:
            turn.say("utter_shop_unknown_item", suggestions=phrases.series(exc.suggestions, phrases.NAME_SEPARATOR))
            return []
        if parsing.asks_price(turn.text) or (parsing.asks_same_again(turn.text)
                                             and parsing.asks_price(previous_user_text(turn.tracker))):
            # "换一袋大米得花多少分" (and then "那卫生纸呢"): the price and whether it is
            # affordable; an exchange needs its own request and read-back
            balance = points.spendable(s, turn.actor)
            cost = item.price * quantity
            turn.say("utter_shop_price", item=item.name, quantity=quantity,
                     unit=item.unit, cost=cost, balance=balance, enough=phrases.enough_clause(balance, cost))
            return []
    return _propose_redeem(turn, item, quantity)


def _propose_redeem(turn: Turn, item, quantity: int) -> List[EventType]:
    """The exchange read back (stock and balance checked first); nothing is spent before a yes."""
    with turn.session() as s:
        balance = points.spendable(s, turn.actor)
    cost = item.price * quantity
    if item.stock < quantity:
        turn.say("utter_shop_out_of_stock", item=item.name)
        return []
    if balance < cost:
        turn.say("utter_redeem_short", item=item.name, cost=cost, balance=balance, shortfall=cost - balance)
        return []
    return propose_write(turn, slots.WRITE_REDEEM, {"item": item.name, "quantity": quantity},
                         "utter_confirm_redeem", cost=cost, quantity=quantity, unit=item.unit, item=item.name,
                         left=balance - cost)


def correct_redeem(turn: Turn, pending: PendingWrite, reply: str) -> Optional[List[EventType]]:
    """"不是这个，俺说的是洗碗的洗洁精" at an exchange's read-back: the exchange read back again for
    the item the correction names (nothing is spent; the new read-back waits for its own yes).
    None when the reply names no other item of the shop."""
    corrected = parsing.strip_negation(reply)
    with turn.session() as s:
        item = points.item_in(s, turn.actor.village_id, corrected)
    if item is None or item.name == pending.get("item"):
        return None
    return _propose_redeem(turn, item, parsing.counted_quantity(corrected) or int(pending.get("quantity") or 1))


CATALOGUE_SPOKEN = 6  # goods read out at once; a voice answer stays short


def _say_catalogue(turn: Turn, items: list, balance: int) -> List[EventType]:
    """"能换点啥不": the goods in stock with their prices, the household's balance, and a
    question — nothing is proposed until an item is named."""
    if not items:
        turn.say("utter_shop_empty")
        return []
    # in the order the village office put them on the shelf (staples first: 大米, 食用油 …), not
    # cheapest first, which read out salt and soap and left the rice unsaid
    items = sorted(items, key=lambda item: item.id)
    spoken = [f"{item.name}{item.price}分" for item in items[:CATALOGUE_SPOKEN]]
    more = f"等{len(items)}样" if len(items) > CATALOGUE_SPOKEN else ""
    turn.say("utter_shop_catalogue", items=phrases.series(spoken, phrases.NAME_SEPARATOR), more=more,
             balance=balance)
    return []


def confirm_redeem(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """对 after a redemption's read-back: points spent, a pickup code given."""
    try:
        with turn.session(write=True) as s:
            result = points.redeem(s, turn.actor, pending["item"], int(pending["quantity"]), pending["key"])
    except points.InsufficientPoints as exc:
        turn.say("utter_redeem_insufficient", shortfall=exc.shortfall,
                 affordable=phrases.affordable_clause(exc.affordable))
        return []
    except points.OutOfStock as exc:
        turn.say("utter_redeem_sold_out", item=exc.item, alternatives=phrases.alternatives_clause(exc.alternatives))
        return []
    turn.say("utter_redeemed", code=result.pickup_code, quantity=result.quantity, unit=result.unit, item=result.item,
             balance=result.balance_after)
    return []


def confirm_points_appeal(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """对 after the appeal offer. One open appeal per entry makes a repeated 对 harmless."""
    try:
        with turn.session(write=True) as s:
            points.appeal(s, turn.actor, int(pending["entry_id"]), phrases.appeal_reason(pending.get("question") or ""))
    except points.AppealAlreadyOpen:
        turn.say("utter_appeal_already_open", date="")
        return []
    except points.NotAppealable:
        turn.say("utter_appeal_not_needed")
        return []
    turn.say("utter_appeal_filed")
    return []
