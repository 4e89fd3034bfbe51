"""Bad input — empty forms, forged ids, a missing or wrong CSRF token, text that is too long — is
answered with a clear Chinese sentence, and nothing is written."""
from __future__ import annotations

from sqlalchemy import select

from bot.models import (
    AuditLog,
    CareColourChange,
    GrievanceEvent,
    Household,
    OutboxMessage,
    PointsApplication,
    PointsEntry,
    VisitLog,
)
from tests.console.helpers import count, csrf_of, flashes, login, post_form

WRITTEN = (VisitLog, CareColourChange, GrievanceEvent, PointsEntry, OutboxMessage, PointsApplication)


def _counts(console) -> dict:
    with console.session() as s:
        return {model.__name__: count(s, model) for model in WRITTEN}


def _household_id(console, number: int) -> int:
    with console.session() as s:
        return s.execute(select(Household.id).where(Household.number == number)).scalar_one()


def test_empty_forms_are_answered_and_write_nothing(console, page):
    mine = _household_id(console, 3)
    before = _counts(console)
    login(page, console, "wangxiulan")
    page.goto(f"{console.url}/households/{mine}")
    page.click("form[action$='/visit'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "请填写走访情况。"
    page.check("input[name=colour][value=red]")
    page.click("form[action$='/colour'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "请填写换颜色的原因。"
    assert page.locator("input[name=colour][value=red]").is_checked()  # the choice is kept
    page.goto(console.url + "/grievances/260101")
    page.click("form[action$='/act'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "请选择怎么办理。"
    page.click("form[action$='/internal'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "请填写内部备注。"
    page.goto(console.url + "/points")
    page.click("form[action='/points/award'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "请填写门牌号。"
    page.fill("#award-number", "三")
    page.click("form[action='/points/award'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "门牌号要填数字。"
    assert _counts(console) == before


def test_forged_ids_are_refused_or_not_found(console, page):
    theirs = _household_id(console, 30)
    before = _counts(console)
    login(page, console, "wangxiulan")
    token = csrf_of(page)
    status, text = post_form(page, f"/households/{theirs}/visit", {"csrf": token, "note": "冒充走访"}, console)
    assert status == 403 and "您没有权限查看或办理这一项" in text
    status, text = post_form(page, "/households/999999/colour", {"csrf": token, "colour": "red", "reason": "乱改"},
                             console)
    assert status == 403 and "您没有权限" in text
    status, text = post_form(page, "/grievances/999999/act", {"csrf": token, "action": "resolve", "note": "好了"},
                             console)
    assert status == 404 and "没有找到这个诉求编号" in text
    status, text = post_form(page, "/grievances/260101/act", {"csrf": token, "action": "delete", "note": "x"}, console)
    assert status == 400 and "请选择怎么办理" in text
    status, text = post_form(page, "/points/applications/99999", {"csrf": token, "decision": "approve"}, console)
    assert status == 403 and "您没有权限" in text
    status, text = post_form(page, "/followups/99999", {"csrf": token, "answer": "满意", "method": "phone"}, console)
    assert status == 404 and "没有找到这一条" in text
    status, text = post_form(page, "/emergencies/99999/ack", {"csrf": token}, console)
    assert status == 404 and "没有找到这一条" in text
    assert "Traceback" not in text
    assert _counts(console) == before
    with console.session() as s:  # the refusals are on record
        refused = s.execute(select(AuditLog).where(AuditLog.action == "refused", AuditLog.channel == "console")
                            ).scalars().all()
        assert {(r.object_type, r.object_id) for r in refused} >= {("household", theirs), ("household", 999999)}


def test_a_form_without_its_csrf_token_does_nothing(console, page):
    mine = _household_id(console, 3)
    before = _counts(console)
    login(page, console, "wangxiulan")
    for token in (None, "forged-token"):
        data = {"note": "老人身体还行"} | ({"csrf": token} if token else {})
        status, text = post_form(page, f"/households/{mine}/visit", data, console)
        assert status == 403 and "这个页面已经过期了，请刷新页面后再提交一次" in text
    status, text = post_form(page, "/logout", {}, console)  # not even logging out
    assert status == 403
    assert page.goto(console.url + "/").status == 200 and page.url == console.url + "/"
    assert _counts(console) == before


def test_text_that_is_too_long_is_refused_whole(console, page):
    mine = _household_id(console, 3)
    before = _counts(console)
    login(page, console, "wangxiulan")
    status, text = post_form(page, f"/households/{mine}/visit", {"csrf": csrf_of(page), "note": "很长" * 1500}, console)
    assert status == 400 and "走访情况太长了" in text
    assert _counts(console) == before


def test_the_typed_text_stays_after_a_refusal(console, page):
    login(page, console, "chenzhiming")
    page.goto(console.url + "/grievances/260104")
    page.check("input[name=action][value=reject]")
    page.click("form[action$='/act'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "请填写退回原因。"
    assert page.locator("input[name=action][value=reject]").is_checked()
    assert flashes(page) == "请填写退回原因。"
