"""Logging in and out, and what each role may open: the menu shows a role only its pages, and a
page opened by URL that the role may not see is refused in plain Chinese by the domain, which
records the refusal in the audit log."""
from __future__ import annotations

from sqlalchemy import select

from bot.models import AuditLog, Household, User, VisitLog
from tests.console.helpers import audit_rows, count, flashes, login


def test_login_and_logout(console, page):
    page.goto(console.url + "/grievances?state=accepted")
    assert page.url.startswith(console.url + "/login")  # not logged in: the login form first
    login(page, console, "wangxiulan", next_path="/grievances?state=accepted")
    assert page.url == console.url + "/grievances?state=accepted"  # back where they wanted to go
    assert page.locator(".who .name").inner_text() == "王秀兰"
    assert page.locator(".who .role").inner_text() == "网格员"
    page.click("form[action='/logout'] button")
    assert page.url.startswith(console.url + "/login")
    assert "已经退出登录" in flashes(page)
    page.goto(console.url + "/")
    assert page.url.startswith(console.url + "/login")  # the session is gone
    with console.session() as s:
        rows = audit_rows(s, "wangxiulan", "login_ok")
        assert [(r.channel, r.detail) for r in rows] == [("console", "password")]


def test_a_wrong_password_is_refused_in_chinese_and_locks_after_five(console, page):
    for attempt in range(5):
        login(page, console, "zhaodefu", password=f"wrong-{attempt}")
        assert page.url.startswith(console.url + "/login")
    assert "锁定" in flashes(page)
    login(page, console, "zhaodefu")  # the right password, but locked now
    assert "锁定" in flashes(page) and page.url.startswith(console.url + "/login")
    login(page, console, "nobody-here", password="whatever-123")
    assert flashes(page) == "用户名或密码不对，请再试一次。"
    with console.session() as s:
        logins = audit_rows(s, "zhaodefu", object_type="user")
        assert [(r.action, r.channel) for r in logins] == [("login_failed", "console")] * 4 + [("login_locked", "console")] * 2


def test_villagers_and_relatives_have_no_console(console, page):
    with console.session() as s:  # a villager who somehow has a console password
        from bot.security.passwords import hash_secret

        user = s.execute(select(User).where(User.login == "wangjianguo")).scalar_one()
        user.password_hash = hash_secret("xinghua-wangjianguo")
    for who in ("wangjianguo", "limingliang"):
        login(page, console, who)
        assert page.url.startswith(console.url + "/login")
        assert "这个账号不能登录工作台" in flashes(page)
    with console.session() as s:
        refused = audit_rows(s, "wangjianguo", "refused")
        assert [(r.object_type, r.channel) for r in refused] == [("console", "console")]


def test_each_role_sees_its_own_menu(console, new_page):
    menus = {}
    for who in ("chenzhiming", "wangxiulan", "liujianhua", "xiaomaibu"):
        page = new_page()
        login(page, console, who)
        menus[who] = page.locator("nav.menu a").all_inner_texts()
    assert menus["chenzhiming"] == ["工作台", "诉求", "紧急求助", "住户", "积分", "公告", "统计", "审计"]
    assert menus["wangxiulan"] == ["工作台", "诉求", "紧急求助", "住户", "积分", "公告", "统计"]
    assert menus["liujianhua"] == ["工作台", "诉求", "紧急求助", "统计"]
    assert menus["xiaomaibu"] == ["工作台", "积分超市"]


def test_a_grid_worker_cannot_open_another_grids_household_by_url(console, page):
    with console.session() as s:
        theirs = s.execute(select(Household.id).where(Household.number == 30)).scalar_one()  # 第二网格
        mine = s.execute(select(Household.id).where(Household.number == 3)).scalar_one()  # 第一网格
        visits_before = count(s, VisitLog)
    login(page, console, "wangxiulan")
    response = page.goto(f"{console.url}/households/{mine}")
    assert response.status == 200 and "3号" in page.locator("h1").inner_text()
    response = page.goto(f"{console.url}/households/{theirs}")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "没有权限"
    assert "您没有权限查看或办理这一项" in page.locator(".message").inner_text()
    assert "30号" not in page.content()  # nothing about the household leaks
    with console.session() as s:
        refused = s.execute(select(AuditLog).where(AuditLog.action == "refused", AuditLog.household_id == theirs)
                            ).scalars().all()
        assert [(r.actor_id, r.channel, r.object_type) for r in refused] == [
            (s.execute(select(User.id).where(User.login == "wangxiulan")).scalar_one(), "console", "household")]
        assert count(s, VisitLog) == visits_before


def test_pages_outside_a_role_are_refused_and_the_audit_log_is_for_admins(console, new_page):
    shop = new_page()
    login(shop, console, "xiaomaibu")
    for path in ("/grievances", "/households", "/stats", "/audit", "/notices"):
        response = shop.goto(console.url + path)
        assert response.status == 403, path
        assert shop.locator("h1").inner_text() == "没有权限"
    worker = new_page()
    login(worker, console, "zhaodefu")
    assert worker.goto(console.url + "/audit").status == 403
    admin = new_page()
    login(admin, console, "chenzhiming")
    assert admin.goto(console.url + "/audit").status == 200
    texts = admin.locator("table tbody").inner_text()
    assert "赵德福" in texts and "被拒绝" in texts  # the group leader's attempt is in the log
    with console.session() as s:
        assert [r.object_type for r in audit_rows(s, "zhaodefu", "refused")] == ["audit_log"]


def test_a_page_that_does_not_exist_is_answered_in_chinese(console, page):
    login(page, console, "chenzhiming")
    response = page.goto(console.url + "/no-such-page")
    assert response.status == 404 and "没有这个页面" in page.content()
    response = page.goto(console.url + "/households/abc")
    assert response.status == 404 and "没有这个页面" in page.content()
    response = page.goto(console.url + "/grievances/not-a-ticket")
    assert response.status == 404 and "没有找到这个诉求编号" in page.content()


def test_after_login_the_console_never_sends_you_to_another_site(console, page):
    for target in ("//evil.example/", "https://evil.example/", "/%09/evil.example"):
        page.context.clear_cookies()
        login(page, console, "chenzhiming", next_path=target)
        assert page.url == console.url + "/", target


def test_the_township_sees_its_queue(console, page):
    from bot import grievances
    from bot.identity import resolve_actor

    with console.session() as s:  # 260102 goes up twice: 组 → 村 → 镇
        admin = resolve_actor(s, "cli:chenzhiming")
        grievances.transition(s, resolve_actor(s, "cli:zhaodefu"), "260102", "escalate", "组里解决不了")
        grievances.transition(s, admin, "260102", "escalate", "要镇里协调")
    login(page, console, "liujianhua")
    queue = page.locator("section.card", has=page.locator("h2:text('上报到镇里的诉求')"))
    assert "260102" in queue.inner_text()
    page.click("text=260102")
    assert "已经上报到青山镇，由镇里的刘建华负责" in page.locator("main").inner_text()
