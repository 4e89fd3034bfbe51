"""Publishing a notice (村务公开) from the console — it reaches people through the outbox, becomes a
knowledge entry the assistant can answer from, and prints for the notice board — and the figures
page with its CSV export."""
from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from bot.models import Notice, NoticeReceipt, OutboxMessage
from tests.console.helpers import audit_rows, count, csrf_of, flashes, login, post_form


def test_publishing_a_notice_reaches_people_and_the_knowledge_base(console, page):
    login(page, console, "chenzhiming")
    page.click("nav.menu >> text=公告")
    page.click("form[action='/notices'] button[type=submit]")  # empty: refused, nothing written
    assert page.locator(".flash.error").inner_text() == "请填写标题。"
    with console.session() as s:
        assert count(s, Notice) == 0
    page.fill("#title", "冬季防火安全提醒")
    page.fill("#body", "天干物燥，请大家不要在田里焚烧秸秆，家里用电取暖注意安全。")
    page.check("input[name=scope][value=village]")
    page.fill("#deadline", "2099-12-31")
    page.click("form[action='/notices'] button[type=submit]")
    page.wait_for_load_state()
    assert flashes(page) == "通知已经发出去了。"
    assert page.locator("h1").inner_text() == "冬季防火安全提醒"
    with console.session() as s:
        notice = s.execute(select(Notice)).scalar_one()
        receipts = count(s, NoticeReceipt)
        offers = s.execute(select(OutboxMessage).where(OutboxMessage.kind == "notice_offer")).scalars().all()
        assert receipts > 0 and len(offers) == 66  # every household's voice device is offered it
        assert offers[0].text == "村里有一条新通知：冬季防火安全提醒。要听吗？"
    assert f"发给{receipts}个" in page.locator("h2").nth(0).inner_text()
    entry = console.knowledge_dir / "village" / f"notice-{notice.id}.md"
    assert "天干物燥" in entry.read_text(encoding="utf-8")
    index = json.loads((console.settings.var_dir / "knowledge-index" / "index.json").read_text(encoding="utf-8"))
    assert f"notice-{notice.id}" in json.dumps(index, ensure_ascii=False)

    page.click("text=打印张贴")
    assert page.locator(".notice-print h1").inner_text() == "冬季防火安全提醒"
    assert "杏花村村民委员会" in page.locator(".notice-print .sign").inner_text()
    assert "2099年12月31日" in page.locator(".notice-print").inner_text()


def test_a_grid_worker_publishes_to_their_grid_only(console, page):
    login(page, console, "wangxiulan")
    page.goto(console.url + "/notices")
    scopes = page.locator("input[name=scope]").evaluate_all("els => els.map(e => e.parentElement.innerText.trim())")
    assert scopes == ["第一网格", "一组", "二组"]  # no 全村
    status, text = post_form(page, "/notices", {"csrf": csrf_of(page), "title": "全村通知", "body": "冒充全村",
                                                "scope": "village"}, console)
    assert status == 403 and "没有权限" in text
    with console.session() as s:
        assert count(s, Notice) == 0
        assert [r.detail for r in audit_rows(s, "wangxiulan", "refused", "notice")] == ["village-wide"]


def test_the_figures_export_as_csv(console, page):
    login(page, console, "chenzhiming")
    page.click("nav.menu >> text=统计")
    assert "第一网格" in page.locator("#table-grievances").inner_text()
    with page.expect_download() as download:
        page.locator("#table-grievances >> text=导出表格").click()
    content = open(download.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0][:5] == ["月份", "网格", "反映", "有首次答复", "按时答复"]
    # the four demo grievances, two of them answered, in one or two months (they are dated days
    # before the seeding day, which may be early in a month by the village's clock)
    per_grid: dict = {}
    for row in rows[1:]:
        counts = per_grid.setdefault(row[1], [0, 0])
        counts[0] += int(row[2])
        counts[1] += int(row[3])
    assert per_grid == {"第一网格": [4, 2]} and len(rows) - 1 in (1, 2)
    response = page.request.get(console.url + "/stats/points.csv?months=12")
    points_rows = list(csv.reader(io.StringIO(response.text().lstrip("\ufeff"))))
    assert points_rows[0] == ["月份", "网格", "加分", "扣分", "兑换用掉", "有变动的户数"]
    assert {row[1] for row in points_rows[1:]} == {"第一网格", "第二网格", "第三网格"}
    assert response.headers["content-type"].startswith("text/csv")
    assert page.request.get(console.url + "/stats/nothing.csv").status == 404


def test_a_grid_workers_figures_are_their_grids(console, page):
    login(page, console, "liguoqiang")  # 第二网格: none of the demo grievances
    page.goto(console.url + "/stats")
    assert "这段时间没有数据" in page.locator("#table-grievances").inner_text()
    response = page.request.get(console.url + "/stats/points.csv?months=12")
    grids = {row[1] for row in csv.reader(io.StringIO(response.text().lstrip("\ufeff")))}
    assert grids == {"网格", "第二网格"}
