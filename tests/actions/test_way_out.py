"""The way out and replies to read-backs (issue 18): ``action_stop`` leaves any form or
pending write and writes nothing; ``action_resolve_pending`` performs a write only on an
explicit yes to it, asks again when unclear, and hands a new request back to the policies."""
from __future__ import annotations

import pytest

from actions import slots
from actions.basics import ActionResolvePending, ActionStop
from actions.points import ActionRedeemPoints
from bot import points
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.models import Redemption
from sqlalchemy import func, select

SENDER = "cli:hh011"


def _redemptions(runner) -> int:
    with session_scope(url=runner.settings.database.url) as s:
        return s.execute(select(func.count(Redemption.id))).scalar_one()


def _balance(runner) -> int:
    with session_scope(url=runner.settings.database.url) as s:
        return points.balance_of(s, resolve_actor(s, SENDER).household_id)


def _offer(runner):
    said = runner.run(ActionRedeemPoints(runner.settings), SENDER, "换块肥皂", intent="redeem_points",
                      entities={"item": "肥皂"})
    return said.slot(slots.PENDING_WRITE)


def _reply(runner, pending, text, intent="inform", events=None):
    return runner.run(ActionResolvePending(runner.settings), SENDER, text, intent=intent, events=events,
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})


@pytest.mark.parametrize("text", ["对", "中", "行", "好嘞", "可以，办吧", "嗯，就这个", "那就换呗", "换吧", "要得"])
def test_every_way_of_saying_yes_performs_the_write_once(runner, text):
    before, count = _balance(runner), _redemptions(runner)
    pending = _offer(runner)
    done = _reply(runner, pending, text)
    assert "取货码" in done.text and done.slot(slots.PENDING_WRITE) is None
    assert _redemptions(runner) == count + 1 and _balance(runner) == before - 5


@pytest.mark.parametrize("text", ["不用了", "拉倒吧", "先不弄了", "算了", "不换了", "行吧…算了不换了"])
def test_no_and_stop_drop_the_write_and_say_so(runner, text):
    count, before = _redemptions(runner), _balance(runner)
    said = _reply(runner, _offer(runner), text)
    assert said.texts == ["好的，不换了，积分一分没动。"]
    assert said.slot(slots.PENDING_WRITE) is None and said.slot(slots.AWAITING_CONFIRMATION) is False
    assert _redemptions(runner) == count and _balance(runner) == before


@pytest.mark.parametrize("text", ["嗯…", "啊？", "满意", "不四", "布什"])
def test_unclear_or_misheard_replies_never_write(runner, text):
    count = _redemptions(runner)
    pending = _offer(runner)
    said = _reply(runner, pending, text)
    assert "取货码" not in said.text
    assert _redemptions(runner) == count


def test_an_unclear_reply_hears_the_read_back_again_and_keeps_it(runner):
    pending = _offer(runner)
    readback = [{"event": "user", "text": "换块肥皂"}, {"event": "bot", "text": "用5分换1块肥皂。对吗？"},
                {"event": "user", "text": "嗯…"}]
    said = _reply(runner, pending, "嗯…", events=readback)
    assert said.texts[0].startswith("没听清您的意思") and said.texts[-1] == "用5分换1块肥皂。对吗？"
    assert not said.sets(slots.PENDING_WRITE)  # still waiting for the answer


def test_a_new_request_drops_the_write_and_is_answered_as_usual(runner):
    count = _redemptions(runner)
    said = _reply(runner, _offer(runner), "俺家这个月加了几分", intent="points_history")
    assert said.slot(slots.PENDING_WRITE) is None
    assert said.events[-1]["event"] == "action_execution_rejected"  # the policies answer the new request
    assert _redemptions(runner) == count


def test_stop_leaves_the_grievance_form_and_writes_nothing(runner):
    said = runner.run(ActionStop(runner.settings), SENDER, "算了不说了", intent="stop",
                      active_loop=slots.GRIEVANCE_FORM,
                      slots={slots.GRIEVANCE_DESCRIPTION: "桥上的栏杆断了", slots.REQUESTED_SLOT: "grievance_place"})
    assert said.texts == ["好的，这件事先不报了，什么都没记下。想报的时候再跟我说。"]
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in said.events]
    assert said.slot(slots.GRIEVANCE_DESCRIPTION) is None


def test_stop_drops_a_pending_write(runner):
    said = runner.run(ActionStop(runner.settings), SENDER, "算了", intent="stop",
                      slots={slots.PENDING_WRITE: _offer(runner), slots.AWAITING_CONFIRMATION: True})
    assert said.texts == ["好的，不换了，积分一分没动。"] and said.slot(slots.PENDING_WRITE) is None


@pytest.mark.parametrize("text, then", [
    ("不办了，先帮俺查查积分", "action_points_balance"),
    ("算了算了", None),
    ("先这样吧，俺再想想", None),
])
def test_a_question_said_with_the_way_out_is_answered_right_after_it(runner, text, then):
    pending = _offer(runner)
    said = runner.run(ActionStop(runner.settings), SENDER, text, intent="stop",
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})
    followups = [e.get("name") for e in said.events if e.get("event") == "followup"]
    assert followups == ([then] if then else [])
    assert said.slot(slots.PENDING_WRITE) is None and _redemptions(runner) >= 0
