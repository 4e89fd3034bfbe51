"""Points from the console: an award by rule (once, however often the form is sent), an award
for many households at once, and the shop keeper handing out a redemption by its pickup code."""
from __future__ import annotations

from sqlalchemy import select

from bot import points
from bot.identity import resolve_actor
from bot.models import Household, PointsEntry, Redemption
from tests.console.helpers import count, flashes, login, post_form


def _household(s, number: int) -> Household:
    return s.execute(select(Household).where(Household.number == number)).scalar_one()


def test_an_award_by_rule_books_once(console, page):
    with console.session() as s:
        household_id = _household(s, 5).id
        before = points.balance_of(s, household_id)
        entries = count(s, PointsEntry)
    login(page, console, "wangxiulan")
    page.click("nav.menu >> text=积分")
    page.fill("#award-number", "5")
    page.select_option("#award-rule", label="参加义务清扫（+5分）")
    page.fill("#award-reason", "11月5日村口清扫")
    form = {name: page.locator(f"form[action='/points/award'] input[name={name}]").input_value()
            for name in ("csrf", "key")}
    rule = page.locator("#award-rule").input_value()
    page.click("form[action='/points/award'] button[type=submit]")
    page.wait_for_load_state()
    assert flashes(page) == f"已给5号户记+5分（参加义务清扫），现在共{before + 5}分。"
    # The same form sent again (a double click, a resent page): replayed, not booked twice.
    status, _text = post_form(page, "/points/award", {**form, "number": "5", "rule": rule, "reason": "11月5日村口清扫"},
                              console)
    assert status == 303
    with console.session() as s:
        assert points.balance_of(s, household_id) == before + 5
        assert count(s, PointsEntry) == entries + 1
        entry = s.execute(select(PointsEntry).order_by(PointsEntry.id.desc()).limit(1)).scalar_one()
        assert (entry.reason, entry.actor_id is not None) == ("参加义务清扫：11月5日村口清扫", True)


def test_an_award_to_a_household_outside_the_grid_is_refused(console, page):
    with console.session() as s:
        entries = count(s, PointsEntry)
    login(page, console, "wangxiulan")
    page.goto(console.url + "/points")
    page.fill("#award-number", "30")  # 第二网格
    page.select_option("#award-rule", label="参加义务清扫（+5分）")
    page.click("form[action='/points/award'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "没有找到30号户，或者这一户不在您负责的网格里。"
    assert page.locator("#award-number").input_value() == "30"  # what was typed stays
    with console.session() as s:
        assert count(s, PointsEntry) == entries


def test_a_bulk_award_is_all_or_nothing(console, page):
    with console.session() as s:
        entries = count(s, PointsEntry)
    login(page, console, "wangxiulan")
    page.goto(console.url + "/points")
    page.fill("#bulk-numbers", "1、2 3-5，30")
    page.select_option("#bulk-rule", label="参加义务清扫（+5分）")
    page.fill("#bulk-reason", "11月5日义务清扫")
    page.click("form[action='/points/bulk'] button[type=submit]")
    assert "30" in page.locator(".flash.error").inner_text() and "一户也没有记" in page.locator(".flash.error").inner_text()
    with console.session() as s:
        assert count(s, PointsEntry) == entries
    page.fill("#bulk-numbers", "1、2 3-5")
    page.click("form[action='/points/bulk'] button[type=submit]")
    page.wait_for_load_state()
    assert flashes(page) == "“11月5日义务清扫”：已给5户各记+5分（参加义务清扫）。"
    with console.session() as s:
        assert count(s, PointsEntry) == entries + 5


def test_the_shop_keeper_hands_out_a_redemption_by_its_code(console, page):
    with console.session() as s:  # 王建国 redeems a bag of rice by voice or chat
        result = points.redeem(s, resolve_actor(s, "cli:wangjianguo"), "大米", 1, "test:rice")
        code = result.pickup_code
    login(page, console, "xiaomaibu")
    page.click("text=输入取货码发货")
    assert "1号户 · 大米1袋" in page.locator("main").inner_text()
    page.fill("#code", "99999999")
    page.click("form[action='/points/pickup'] button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "没有这个取货码，请核对后再输入。"
    page.fill("#code", code)
    page.click("form[action='/points/pickup'] button[type=submit]")
    page.wait_for_load_state()
    assert flashes(page) == f"可以发货：1号户 大米1袋（取货码{code}）。"
    page.fill("#code", code)  # the same code again: already collected
    page.click("form[action='/points/pickup'] button[type=submit]")
    assert "已经领走了" in page.locator(".flash.error").inner_text()
    with console.session() as s:
        redemption = s.execute(select(Redemption).where(Redemption.pickup_code == code)).scalar_one()
        assert redemption.picked_up_at is not None


def test_the_shop_keeper_books_stock_and_sees_nothing_else(console, page):
    login(page, console, "xiaomaibu")
    page.goto(console.url + "/points")
    assert page.locator("form[action='/points/award']").count() == 0
    page.select_option("#item", label="食用油（现有25桶）")
    page.fill("#stock-quantity", "10")
    page.click("form[action='/points/stock'] button[type=submit]")
    page.wait_for_load_state()
    assert flashes(page) == "食用油进了10桶，现在有35桶。"
    status, text = post_form(page, "/points/award", {"csrf": page.locator("input[name=csrf]").first.input_value(),
                                                     "key": "0" * 32, "number": "1", "rule": "1"}, console)
    assert status == 403 and "没有权限" in text
