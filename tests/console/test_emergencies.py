"""An emergency raised the way a voice device raises it (through the domain, as the voice channel
does) shows up on the 工作台 of the household's worker, live; 收到 tells the caller who is coming;
到现场 and 处理完 complete it, and the board shows the times against the 30-minute target."""
from __future__ import annotations

from bot import emergency
from bot.identity import resolve_actor
from bot.models import EmergencyEvent
from tests.console.helpers import audit_rows, csrf_of, flashes, login, outbox_texts, post_form


def _raise(console, device: str = "voice:device-002", text: str = "救命 我摔倒了") -> tuple[int, int]:
    with console.session() as s:
        event = emergency.raise_alarm(s, resolve_actor(s, device), text)
        return event.id, event.household_id


def test_acknowledging_an_alert_from_the_home_page_tells_the_caller(console, page):
    event_id, household_id = _raise(console)
    login(page, console, "wangxiulan")
    panel = page.locator("#emergency-panel")
    assert panel.get_attribute("data-waiting") == "1" and "ringing" in panel.get_attribute("class")
    row = page.locator(f"#alert-{event_id}")
    assert "救命 我摔倒了" in row.inner_text() and "李桂芳" in row.inner_text()
    row.locator("text=收到，我去处理").click()
    page.wait_for_load_state()
    assert flashes(page) == "已收到。求助的人已经知道您正在赶过去。"
    assert "王秀兰" in page.locator(f"#alert-{event_id} .alert-state").inner_text()
    assert page.locator("#emergency-panel").get_attribute("data-waiting") == "0"
    with console.session() as s:
        # What the device plays on its next press: who is coming.
        assert outbox_texts(s, household=household_id, kind="caller_update") == ["王秀兰已经收到，正在赶过去。"]
        assert s.get(EmergencyEvent, event_id).acknowledger.login == "wangxiulan"

    page.locator(f"#alert-{event_id} >> text=处理完了").click()  # no note: refused, nothing written
    page.wait_for_load_state()
    assert page.locator(".flash.error").inner_text() == "请填写处理结果。"
    with console.session() as s:
        assert s.get(EmergencyEvent, event_id).closed_at is None
    page.goto(console.url + "/")
    page.locator(f"#alert-{event_id} >> text=已到现场").click()
    page.wait_for_load_state()
    page.fill(f"#close-note-{event_id}", "扶起来了，送到镇卫生院检查")
    page.locator(f"#alert-{event_id} >> text=处理完了").click()
    page.wait_for_load_state()
    assert flashes(page) == "已记录：处理完了。"
    assert page.locator(f"#alert-{event_id}").count() == 0
    page.click("nav.menu >> text=紧急求助")
    closed = page.locator("table.board tbody").inner_text()
    assert "扶起来了，送到镇卫生院检查" in closed and "王秀兰" in closed
    report = page.locator("table").first.inner_text()
    assert "第一网格" in report and "1（100%）" in report  # on site within 30 minutes


def test_a_new_alert_appears_on_an_open_page_without_reloading(console, page):
    login(page, console, "wangxiulan")
    assert page.locator("#emergency-panel .alert-row").count() == 0
    event_id, _household = _raise(console, text="快来人 着火了")
    # The panel refreshes itself (htmx, every 10 seconds): wait for the row to arrive.
    page.locator(f"#alert-{event_id}").wait_for(timeout=30_000)
    assert page.locator("#emergency-panel").get_attribute("data-waiting") == "1"
    assert "快来人 着火了" in page.locator(f"#alert-{event_id}").inner_text()


def test_a_worker_of_another_grid_can_neither_see_nor_acknowledge_it(console, page):
    event_id, _household = _raise(console)
    login(page, console, "liguoqiang")  # 第二网格; 李桂芳 lives in 第一网格
    assert page.locator(f"#alert-{event_id}").count() == 0
    status, text = post_form(page, f"/emergencies/{event_id}/ack", {"csrf": csrf_of(page), "next": "/"}, console)
    assert status == 403 and "您没有权限查看或办理这一项" in text
    with console.session() as s:
        assert s.get(EmergencyEvent, event_id).acknowledged_at is None
        assert [(r.object_id, r.channel) for r in audit_rows(s, "liguoqiang", "refused", "emergency")] == [
            (event_id, "console")]
