"""Points: balance, history, rules, redemption and deduction appeals (each write with
read-back and confirmation)."""
from __future__ import annotations

import datetime as dt

from actions.common import (
    NOT_LINKED_REPLY,
    XiangyinAction,
    entity,
    latest_text,
    pending_handler,
    propose_write,
    read_list,
)
from bot import points
from bot.db import session_scope
from bot.households import parse_number
from bot.models import utcnow


ALREADY_APPEALED = "这笔扣分已经在申诉了，网格员核实后会告诉您结果。"


def _spoken_date(at: dt.datetime) -> str:
    return f"{at.month}月{at.day}日"


def _signed(delta: int) -> str:
    return f"加{delta}分" if delta >= 0 else f"扣{-delta}分"


class ActionPointsBalance(XiangyinAction):
    action_name = "action_points_balance"

    def handle(self, dispatcher, tracker, actor, domain):
        if actor.household_id is None:
            dispatcher.utter_message(text=NOT_LINKED_REPLY)
            return []
        with session_scope() as s:
            info = points.summary(s, actor)
        whose, unit = ("您", "人") if info.per_person else ("您家", "户")
        text = f"{whose}现在有{info.balance}分。"
        if info.change_this_month:
            text += f"这个月{_signed(info.change_this_month)}。"
        if info.rank is not None:
            text += f"在全村{info.out_of}{unit}里排第{info.rank}名。"
        dispatcher.utter_message(text=text)
        return []


class ActionPointsHistory(XiangyinAction):
    action_name = "action_points_history"

    def handle(self, dispatcher, tracker, actor, domain):
        if actor.household_id is None:
            dispatcher.utter_message(text=NOT_LINKED_REPLY)
            return []
        text = latest_text(tracker)
        deductions = "扣" in text
        since = None
        if "上个月" in text or "上月" in text:
            first = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            since = (first - dt.timedelta(days=1)).replace(day=1)
        with session_scope() as s:
            lines = points.history(s, actor, limit=3 if deductions else 9, only_deductions=deductions, since=since)
        if not lines:
            dispatcher.utter_message(text="这段时间没有扣分。" if deductions else "还没有积分记录。")
            return []
        spoken = [f"{_spoken_date(l.at)}，{l.reason}，{_signed(l.delta)}" for l in lines]
        if not deductions:
            return read_list(dispatcher, "最近的积分记录是：", spoken)
        dispatcher.utter_message(text=f"最近的扣分是：{'；'.join(spoken)}。")
        # Explain the most recent deduction's rule, and offer to appeal that one.
        latest = lines[0]
        if latest.rule_description:
            dispatcher.utter_message(text=f"村里的规定是：{latest.rule_description}。")
        if latest.appealable:
            return propose_write(
                dispatcher, "points_appeal",
                f"觉得扣得不对可以申诉。要帮您申诉{_spoken_date(latest.at)}扣的{-latest.delta}分，",
                entry_id=latest.entry_id, question=text,
            )
        if latest.appeal_open:
            dispatcher.utter_message(text=f"{_spoken_date(latest.at)}{ALREADY_APPEALED}")
        return []


class ActionPointsRules(XiangyinAction):
    action_name = "action_points_rules"

    def handle(self, dispatcher, tracker, actor, domain):
        activity = entity(tracker, "activity")
        with session_scope() as s:
            rules = points.rules(s, actor.village_id, activity)
        if activity and rules:
            rule = rules[0]
            dispatcher.utter_message(text=f"{rule.description}。")
            return []
        earn = [r for r in rules if r.points > 0][:3]
        lose = [r for r in rules if r.points < 0][:2]
        text = "挣积分的办法有：" + "，".join(f"{r.name}{_signed(r.points)}" for r in earn) + "。"
        if lose:
            text += "要扣分的有：" + "，".join(f"{r.name}{_signed(r.points)}" for r in lose) + "。"
        dispatcher.utter_message(text=text)
        return []


class ActionRedeemPoints(XiangyinAction):
    action_name = "action_redeem_points"

    def handle(self, dispatcher, tracker, actor, domain):
        if actor.household_id is None:
            dispatcher.utter_message(text=NOT_LINKED_REPLY)
            return []
        item_text = entity(tracker, "item") or latest_text(tracker)
        quantity = parse_number(entity(tracker, "number") or "") or 1
        with session_scope() as s:
            try:
                item = points.find_item(s, actor.village_id, item_text)
            except points.UnknownItem as exc:
                dispatcher.utter_message(text=f"积分超市没找到这个东西。现在有{'、'.join(exc.suggestions)}等。")
                return []
            balance = points.spendable(s, actor)
        cost = item.price * quantity
        if item.stock < quantity:
            dispatcher.utter_message(text=f"{item.name}现在没货了，过几天再来看看。")
            return []
        if balance < cost:
            dispatcher.utter_message(text=f"{item.name}要{cost}分，您家有{balance}分，还差{cost - balance}分。")
            return []
        return propose_write(
            dispatcher, "redeem",
            f"用{cost}分换{quantity}{item.unit}{item.name}，换完还剩{balance - cost}分。",
            item=item.name, quantity=quantity,
        )


@pending_handler("redeem")
def confirm_redeem(dispatcher, tracker, actor, pending):
    try:
        with session_scope(write=True) as s:
            result = points.redeem(s, actor, pending["item"], int(pending["quantity"]), pending["key"])
    except points.InsufficientPoints as exc:
        alt = f"您可以换{'、'.join(exc.affordable)}。" if exc.affordable else ""
        dispatcher.utter_message(text=f"积分不够，还差{exc.shortfall}分。{alt}")
        return []
    except points.OutOfStock as exc:
        alt = f"可以看看{'、'.join(exc.alternatives)}。" if exc.alternatives else ""
        dispatcher.utter_message(text=f"{exc.item}刚好没货了。{alt}")
        return []
    dispatcher.utter_message(
        text=f"换好了。取货码是{result.pickup_code}，拿着去村里积分超市领{result.quantity}{result.unit}"
             f"{result.item}。还剩{result.balance_after}分。")
    return []


@pending_handler("points_appeal")
def confirm_points_appeal(dispatcher, tracker, actor, pending):
    # One open appeal per entry makes a repeated 对 harmless: it finds the first appeal.
    question = pending.get("question") or ""
    try:
        with session_scope(write=True) as s:
            points.appeal(s, actor, int(pending["entry_id"]),
                          f"村民对这笔扣分有异议（原话：{question}）" if question else "村民对这笔扣分有异议")
    except points.AppealAlreadyOpen:
        dispatcher.utter_message(text=ALREADY_APPEALED)
        return []
    except points.NotAppealable:
        dispatcher.utter_message(text="这笔扣分已经更正过了，不用再申诉。")
        return []
    dispatcher.utter_message(text="申诉交上去了。网格员会来核实，有结果会告诉您。")
    return []
