"""Screenshots of the main pages for the README (docs/screenshots/), taken in the real browser on
the demo village with an emergency waiting, so they show what a clerk sees. Every page must
render without an error message for its screenshot to be written."""
from __future__ import annotations

import datetime as dt

from bot import emergency, notices
from bot.identity import resolve_actor
from tests.console.conftest import SCREENSHOTS
from tests.console.helpers import login

MAX_HEIGHT = 1600


def _shot(page, name: str) -> None:
    assert page.locator(".flash.error, .card.problem").count() == 0, f"{name}: {page.locator('main').inner_text()[:200]}"
    height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": height})
    header = path.read_bytes()[:24]  # PNG: signature, then the IHDR chunk with width and height
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") == 1280 and int.from_bytes(header[20:24], "big") >= 400


def test_screenshots_of_the_main_pages(console, new_page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with console.session() as s:
        closed = emergency.raise_alarm(s, resolve_actor(s, "voice:device-007"), "我摔了一跤 起不来",
                                       now=dt.datetime.utcnow() - dt.timedelta(hours=3))
        worker = resolve_actor(s, "cli:wangxiulan")
        emergency.arrive(s, worker, closed.id, now=closed.at + dt.timedelta(minutes=12))
        emergency.close(s, worker, closed.id, "扶起来了，没有大碍", now=closed.at + dt.timedelta(minutes=40))
        emergency.raise_alarm(s, resolve_actor(s, "voice:device-002"), "救命 我摔倒了")
        notice = notices.publish(s, resolve_actor(s, "cli:chenzhiming"), "冬季防火安全提醒",
                                 "天干物燥，请大家不要在田里焚烧秸秆。\n家里用电取暖注意安全，出门记得关电源。",
                                 deadline=dt.date(2099, 12, 31), knowledge_dir=console.knowledge_dir,
                                 tz=console.settings.timezone)
        notice_id = notice.id

    page = new_page()
    page.goto(console.url + "/login")
    _shot(page, "login")
    login(page, console, "wangxiulan")
    _shot(page, "home")

    admin = new_page()
    login(admin, console, "chenzhiming")
    for path, name in [("/grievances", "grievances"), ("/grievances/260102", "grievance"),
                       ("/emergencies", "emergencies"), ("/households", "households"), ("/households/4", "household"),
                       ("/points", "points"), (f"/notices/{notice_id}/print", "notice-print"), ("/stats", "stats")]:
        admin.goto(console.url + path)
        _shot(admin, name)
    assert sorted(p.stem for p in SCREENSHOTS.glob("*.png")) >= sorted(
        ["login", "home", "grievances", "grievance", "emergencies", "households", "household", "points",
         "notice-print", "stats"])
