"""积分: award by rule (one household, by quantity for recyclables, or many households for one
event), villagers' applications and appeals to decide, and the points shop: pickups handed out by
code and stock booked in. Every write carries the idempotency key its form was rendered with, so
a double click or a resent form books once (the ledger's own guarantee)."""
from __future__ import annotations

import re

from bot import households, points
from bot.console.texts import Refusal
from bot.console.web import Ctx, Done, action, page

NOT_FOUND_HOUSEHOLD = "没有找到{}号户，或者这一户不在您负责的网格里。"
MAX_BULK = 200


def overview(ctx: Ctx) -> dict:
    actor, s = ctx.actor, ctx.s
    data: dict = {"staff": actor.is_staff, "shop": actor.role in points.SHOP_ROLES}
    if actor.is_staff:
        all_rules = points.rules(s, actor.village_id)
        data["rules"] = all_rules
        data["deed_rules"] = [r for r in all_rules if r.points > 0 and not r.by_quantity]
        data["applications"] = points.open_applications(s, actor)
        data["appeals"] = points.open_appeals(s, actor)
    if data["shop"] or not actor.is_staff:  # neither: the domain refuses (and records it)
        data["pickups"] = points.pending_pickups(s, actor)
        data["items"] = points.shop_items(s, actor)
    return data


def _household(ctx: Ctx, number: int):
    found = households.find_households(ctx.s, ctx.actor, number=number)
    if not found:
        raise Refusal(NOT_FOUND_HOUSEHOLD.format(number), 404)
    return found[0]


def _rule(ctx: Ctx, field: str = "rule"):
    rule_id = ctx.number(field, "积分规则")
    rule = next((r for r in points.rules(ctx.s, ctx.actor.village_id) if r.id == rule_id), None)
    if rule is None:
        raise points.UnknownRule(str(rule_id), [])
    return rule


def award(ctx: Ctx) -> Done:
    key = ctx.key()
    number = ctx.number("number", "门牌号", low=1)
    rule = _rule(ctx)
    reason = ctx.text("reason", "说明", required=False, limit=200)
    household = _household(ctx, number)
    if rule.by_quantity:
        quantity = ctx.text("quantity", f"数量（{rule.unit}）", limit=12)
        result = points.award_by_quantity(ctx.s, ctx.actor, household.id, rule.name, quantity, key, reason, now=ctx.now)
        if result.entry_id is None:
            raise Refusal(f"{quantity}{rule.unit}不够{rule.per_quantity}{rule.unit}，记不了分。")
        return Done("/points", f"已给{number}号户记{result.points:+d}分（{rule.name}），现在共{result.balance_after}分。")
    entry = points.award(ctx.s, ctx.actor, household.id, rule.name, reason, key)
    return Done("/points", f"已给{number}号户记{entry.delta:+d}分（{rule.name}），现在共{points.balance_of(ctx.s, household.id)}分。")


def _numbers(text: str) -> list[int]:
    """"1、2，5-8 12" → [1, 2, 5, 6, 7, 8, 12]."""
    found: list[int] = []
    for part in re.split(r"[\s,，、;；]+", text.strip()):
        if not part:
            continue
        span = re.fullmatch(r"(\d+)(?:[-—~到](\d+))?", part)
        if span is None:
            raise Refusal(f"“{part}”不是门牌号。门牌号之间用顿号或空格隔开，连着的可以写成5-8。")
        low, high = int(span.group(1)), int(span.group(2) or span.group(1))
        if high < low or high - low > MAX_BULK:
            raise Refusal(f"“{part}”的范围不对。")
        found.extend(range(low, high + 1))
    if len(set(found)) > MAX_BULK:
        raise Refusal(f"一次最多给{MAX_BULK}户记分。")
    return sorted(set(found))


def award_bulk(ctx: Ctx) -> Done:
    key = ctx.key()
    numbers = _numbers(ctx.text("numbers", "门牌号", limit=2000))
    rule = _rule(ctx)
    if rule.by_quantity:
        raise Refusal("按数量记分的规则不能一次给很多户记，请一户一户记。")
    reason = ctx.text("reason", "活动名称", limit=100)
    ids, missing = [], []
    for number in numbers:
        found = households.find_households(ctx.s, ctx.actor, number=number)
        if found:
            ids.append(found[0].id)
        else:
            missing.append(str(number))
    if missing:
        raise Refusal(f"没有找到这些门牌号，或者不在您负责的网格里：{'、'.join(missing)}。一户也没有记，请改好再提交。", 404)
    lines = points.award_bulk(ctx.s, ctx.actor, ids, rule.name, key, reason, now=ctx.now)
    new = sum(1 for line in lines if not line.replayed)
    return Done("/points", f"“{reason}”：已给{new}户各记{rule.points:+d}分（{rule.name}）。")


def decide_application(ctx: Ctx) -> Done:
    decision = ctx.choice("decision", "同意还是不同意", ("approve", "reject"))
    note = ctx.text("note", "不同意的原因", required=decision == "reject", limit=500)
    rule_name = None
    if decision == "approve" and (ctx.form.get("rule") or "").strip():
        rule_name = _rule(ctx).name
    application = points.decide_application(ctx.s, ctx.actor, ctx.path("id"), decision == "approve", note,
                                            rule_text=rule_name, now=ctx.now)
    if decision == "approve":
        return Done("/points", f"已同意{application.household.number}号户的申请，加了{application.entry.delta}分。")
    return Done("/points", f"已经告诉{application.household.number}号户没有通过的原因。")


def decide_appeal(ctx: Ctx) -> Done:
    decision = ctx.choice("decision", "维持还是撤销", ("uphold", "overturn"))
    note = ctx.text("note", "说明", required=decision == "uphold", limit=500)
    appeal = points.decide_appeal(ctx.s, ctx.actor, ctx.path("id"), decision == "overturn", note, now=ctx.now)
    done = "已撤销扣分，分数退回去了" if decision == "overturn" else "已维持原来的扣分"
    return Done("/points", f"{appeal.household.number}号户的申诉：{done}。")


def pickup(ctx: Ctx) -> Done:
    code = ctx.text("code", "取货码", limit=12)
    if not code.isdigit():
        raise Refusal("取货码是几位数字，请核对后再输入。")
    view = points.collect_pickup(ctx.s, ctx.actor, code, now=ctx.now)
    return Done("/points", f"可以发货：{view.household_number}号户 {view.item}{view.quantity}{view.unit}（取货码{view.code}）。")


def restock(ctx: Ctx) -> Done:
    key = ctx.key()
    item_id = ctx.number("item", "商品")
    item = next((i for i in points.shop_items(ctx.s, ctx.actor) if i.id == item_id), None)
    if item is None:
        raise points.UnknownItem(str(item_id), [])
    quantity = ctx.number("quantity", "数量", low=1, high=10000)
    result = points.replenish_stock(ctx.s, ctx.actor, item.name, quantity, key,
                                    ctx.text("note", "说明", required=False, limit=200), now=ctx.now)
    return Done("/points", f"{result.item}进了{result.added}{result.unit}，现在有{result.stock}{result.unit}。")


routes = [
    page("/points", overview, "points.html"),
    action("/points/award", award, back=(overview, "points.html")),
    action("/points/bulk", award_bulk, back=(overview, "points.html")),
    action("/points/applications/{id:int}", decide_application, back=(overview, "points.html")),
    action("/points/appeals/{id:int}", decide_appeal, back=(overview, "points.html")),
    action("/points/pickup", pickup, back=(overview, "points.html")),
    action("/points/stock", restock, back=(overview, "points.html")),
]
