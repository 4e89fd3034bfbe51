"""The grievance loop from the console — 受理 → 进展 → 办结 → 回访 — with the villager's side seeing
each change (their status and the messages sent to them, through the domain's own queries), staff
notes that never reach the villager, 上报, 代为登记 for someone who phoned, and the list's filters."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot import followups, grievances
from bot.identity import resolve_actor
from bot.models import Followup, Grievance, GrievanceEvent, OutboxMessage
from tests.console.helpers import count, flashes, login, outbox_texts, user_id


def _villager_view(console, ticket: str):
    """What 李桂芳 hears when she asks about her grievance, and every message sent to her."""
    with console.session() as s:
        villager = resolve_actor(s, "cli:liguifang")
        view = grievances.status(s, villager, ticket)[0]
        texts = [t for t in outbox_texts(s, user=villager.user_id) if ticket in t]
        return view, texts


def _act(page, action: str, note: str = "") -> None:
    page.check(f"input[name=action][value={action}]")
    page.fill("#note", note)
    page.click("form[action$='/act'] button[type=submit]")
    page.wait_for_load_state()


def test_the_whole_loop_from_the_console_reaches_the_villager(any_console, new_page):
    console = any_console
    page = new_page()
    login(page, console, "zhaodefu")  # 一组's leader: 260101 is his
    page.click("nav.menu >> text=诉求")
    page.fill("#q", "路灯")
    page.click("form[role=search] button[type=submit]")
    assert page.locator("table.list tbody tr").count() == 1
    page.click("text=260101")
    assert page.locator("#state-name").inner_text() == "已受理"

    _act(page, "accept", "今天下午去看")
    assert "已受理" in flashes(page) and page.locator("#state-name").inner_text() == "正在办理"
    view, told = _villager_view(console, "260101")
    assert view.state_name == "正在办理" and "赵德福" in view.where
    assert told[-1] == "您反映的260101号诉求，赵德福已经开始办理。"

    page.check("input[name=action][value=note]")
    page.click("summary:text('常用说法')")
    page.click("button[data-text='已经到现场看过了，正在联系人来修。']")  # a reply template fills the box
    page.click("form[action$='/act'] button[type=submit]")
    page.wait_for_load_state()
    _view, told = _villager_view(console, "260101")
    assert told[-1] == "您反映的260101号诉求有新进展：已经到现场看过了，正在联系人来修。"

    page.fill("#internal", "电工老周说周二来，先别和她说具体时间")
    page.click("form[action$='/internal'] button[type=submit]")
    page.wait_for_load_state()
    assert "群众看不到" in flashes(page)
    assert "电工老周" in page.locator(".timeline li.internal").inner_text()
    view, told_after = _villager_view(console, "260101")
    assert told_after == told and "电工老周" not in view.last_note  # never reaches her

    with console.session() as s:
        events_before = count(s, GrievanceEvent)
    _act(page, "resolve", "")  # 办结 without a result: refused, nothing written
    assert page.locator(".flash.error").inner_text() == "请填写办理结果。"
    assert page.locator("#state-name").inner_text() == "正在办理"
    with console.session() as s:
        assert count(s, GrievanceEvent) == events_before

    _act(page, "resolve", "路灯已经换好了。")
    assert page.locator("#state-name").inner_text() == "已办结"
    view, told = _villager_view(console, "260101")
    assert view.state_name == "已办结"
    assert told[-2:] == ["您反映的260101号诉求已经办结：路灯已经换好了。。",
                         "回访：您反映的260101号诉求“村口路灯坏了好几天了”已经办结，您满意吗？请说满意、基本满意或不满意。"]

    # She does not answer; after the follow-up days the scheduler makes it her grid worker's task.
    with console.session() as s:
        followups.chase_unanswered(s, now=dt.datetime.utcnow() + dt.timedelta(days=30))
        followup_id = s.execute(select(Followup.id).join(Grievance, Grievance.id == Followup.grievance_id)
                                .where(Grievance.ticket_no == "260101", Followup.state == "task")).scalar_one()
    worker = new_page()
    login(worker, console, "wangxiulan")  # 李桂芳's 三线 contact
    task = worker.locator(f"#followup-{followup_id}")
    assert "260101" in task.inner_text() and "李桂芳" in task.inner_text()
    task.locator("input[name=answer][value=满意]").check()
    task.locator("button[type=submit]").click()
    worker.wait_for_load_state()
    assert "回访已记录：满意" in flashes(worker)
    assert worker.locator(f"#followup-{followup_id}").count() == 0
    view, _told = _villager_view(console, "260101")
    assert view.state_name == "已回访"
    with console.session() as s:
        g = s.execute(select(Grievance).where(Grievance.ticket_no == "260101")).scalar_one()
        assert (g.satisfaction, [e.kind for e in g.events][-1]) == ("满意", "followed_up")


def test_escalating_tells_the_villager_where_it_went(console, page):
    login(page, console, "zhaodefu")
    page.goto(console.url + "/grievances/260102")  # in progress with him
    _act(page, "escalate", "要换新的垃圾桶，组里没有钱")
    assert "已上报" in flashes(page)
    view, told = _villager_view(console, "260102")
    assert view.level_name == "村" and told[-1] == "您反映的260102号诉求已上报，现在在村里，由陈志明负责。"
    # The group leader may still read it (his grid's household); the admin has it now.
    assert "陈志明" in page.locator("#state-name").locator("..").inner_text()


def test_filing_for_a_villager_who_phoned(console, page):
    login(page, console, "wangxiulan")
    page.goto(console.url + "/grievances")
    page.click("text=代为登记")
    page.fill("#number", "2")
    page.click("text=找这一户")
    assert "杏花村一组2号" in page.locator("form[action='/grievances/new'][method=post] h2").inner_text()
    assert page.locator("input[name=resident]:checked").locator("..").inner_text().strip().startswith("李桂芳")
    with console.session() as s:
        before = count(s, Grievance)
    page.select_option("#category", "水电气")
    page.click("form[action='/grievances/new'][method=post] button[type=submit]")  # no description: refused, typed values kept
    assert page.locator(".flash.error").inner_text() == "请填写反映的问题。"
    assert page.locator("#category").input_value() == "水电气"
    with console.session() as s:
        assert count(s, Grievance) == before
    page.fill("#description", "打电话说家里停水两天了")
    page.click("form[action='/grievances/new'][method=post] button[type=submit]")
    page.wait_for_load_state()
    message = flashes(page)
    assert message.startswith("已登记，编号")
    ticket = message.removeprefix("已登记，编号")[:6]
    assert page.url.endswith(f"/grievances/{ticket}")
    assert "王秀兰代为登记（电话，反映人李桂芳）" in page.locator(".timeline").inner_text()
    view, told = _villager_view(console, ticket)  # she follows it like one she filed herself
    assert view.state_name == "已受理" and told == [f"您反映的问题已经登记，编号{ticket}，在一组，由赵德福负责。"]


def test_a_household_outside_the_grid_cannot_be_filed_for(console, page):
    login(page, console, "wangxiulan")
    page.goto(console.url + "/grievances/new?number=30")  # 第二网格
    assert "不在您负责的网格里" in page.locator(".flash.error").inner_text()
    assert page.locator("form[method=post][action='/grievances/new']").count() == 0


def test_the_list_filters_by_state_and_search(console, page):
    login(page, console, "chenzhiming")
    page.goto(console.url + "/grievances")
    assert page.locator("table.list tbody tr").count() == 4
    page.select_option("#state", "resolved")
    page.click("form[role=search] button[type=submit]")
    assert page.locator("table.list tbody tr td:first-child").all_inner_texts() == ["260103"]
    page.goto(console.url + "/grievances?q=李桂芳")
    assert sorted(page.locator("table.list tbody tr td:first-child").all_inner_texts()) == ["260101", "260102"]
    page.goto(console.url + "/grievances?from=not-a-date")
    assert "日期看不懂" in flashes(page) and page.locator("table.list tbody tr").count() == 4
    with console.session() as s:
        assert s.execute(select(OutboxMessage.id).where(OutboxMessage.kind == "grievance_update")).first()
        assert user_id(s, "chenzhiming")


# A 2x2 red PNG: what a villager's photo stands in for.
PHOTO = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000164944415478"
                      "9c63f8cfc0f01f0418c0c4c0c0f09f010012fb03fd2a7e3b3d0000000049454e44ae426082")


def test_a_villagers_photo_shows_in_the_case_for_staff_only(console, new_page):
    uploads = console.settings.var_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "telegram-1-lamp.png").write_bytes(PHOTO)
    with console.session() as s:
        villager = resolve_actor(s, "cli:liguifang")
        g = s.execute(select(Grievance).where(Grievance.ticket_no == "260101")).scalar_one()
        grievances.attach_photos(s, villager, g.id, ["uploads/telegram-1-lamp.png", "../secrets/server.key"])
        photo_id, forged_id = [e.id for e in g.events if e.kind == "photo"]
    page = new_page()
    login(page, console, "zhaodefu")
    page.goto(console.url + "/grievances/260101")
    image = page.locator(f"img[src='/grievances/260101/photos/{photo_id}']")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 2  # really decoded
    assert page.request.get(f"{console.url}/grievances/260101/photos/{forged_id}").status == 404  # outside uploads
    outsider = new_page()
    login(outsider, console, "liguoqiang")
    response = outsider.request.get(f"{console.url}/grievances/260101/photos/{photo_id}")
    assert response.status == 404 and "没有找到这个诉求编号" in response.text()
