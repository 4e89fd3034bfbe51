"""The domain reads and writes the staff console (bot/console/) needs: the grievance list with
filters, the case file, internal notes, 代为登记, the household register and file, sensitive
details by role, a household's ledger, the monthly figures and the audit log (admins only)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot import grievances, households, points
from bot.db import session_scope
from bot.grievances import GrievanceQuery
from bot.households import HouseholdFilter
from bot.identity import AccessDenied, actor_for_user, may_see_sensitive, read_audit, resolve_actor
from bot.models import AuditLog, CareColour, GrievanceState, Household, OutboxMessage, User


def _console(s, login: str):
    user_id = s.execute(select(User.id).where(User.login == login)).scalar_one()
    return actor_for_user(s, user_id, "console")


def _household_id(s, number: int) -> int:
    return s.execute(select(Household.id).where(Household.number == number)).scalar_one()


def test_a_console_actor_has_the_rights_of_the_same_user_elsewhere(any_db):
    with session_scope(url=any_db) as s:
        console, cli = _console(s, "wangxiulan"), resolve_actor(s, "cli:wangxiulan")
        assert console.channel == "console" and console.external_id == "wangxiulan"
        assert (console.user_id, console.role, console.grid_ids, console.village_id) == (
            cli.user_id, cli.role, cli.grid_ids, cli.village_id)
        assert actor_for_user(s, 999999, "console") is None and actor_for_user(s, None, "console") is None


def test_the_grievance_list_is_filtered_in_the_database_by_who_asks(any_db):
    with session_scope(write=True, url=any_db) as s:
        admin, worker = _console(s, "chenzhiming"), _console(s, "liguoqiang")  # 第二网格: none of the demo ones
        total, rows = grievances.search(s, admin)
        assert total == 4 and {g.ticket_no for g in rows} == {"260101", "260102", "260103", "260104"}
        assert grievances.search(s, worker) == (0, [])
        leader = _console(s, "zhaodefu")  # 一组: households 1-11 (260101-260103); 260104 is 二组's
        assert {g.ticket_no for g in grievances.search(s, leader)[1]} == {"260101", "260102", "260103"}
        assert [g.ticket_no for g in grievances.search(s, admin, GrievanceQuery(text="260103"))[1]] == ["260103"]
        assert [g.ticket_no for g in grievances.search(s, admin, GrievanceQuery(text="路灯"))[1]] == ["260101"]
        assert {g.ticket_no for g in grievances.search(s, admin, GrievanceQuery(text="李桂芳"))[1]} == {"260101", "260102"}
        assert [g.ticket_no for g in grievances.search(s, admin, GrievanceQuery(state=GrievanceState.resolved))[1]] == ["260103"]
        assert grievances.search(s, admin, GrievanceQuery(text="%"))[0] == 0  # a wildcard is a character
        total, page = grievances.search(s, admin, GrievanceQuery(limit=3, offset=3))
        assert total == 4 and len(page) == 1
        for login in ("xiaomaibu", "wangjianguo", "limingliang"):
            with pytest.raises(AccessDenied):
                grievances.search(s, _console(s, login))


def test_a_case_file_for_someone_who_may_not_see_it_reads_like_a_missing_ticket_and_is_audited(any_db):
    with session_scope(write=True, url=any_db) as s:
        outsider = _console(s, "liguoqiang")
        with pytest.raises(grievances.TicketNotFound):
            grievances.case_file(s, outsider, "260101")
        s.flush()
        refused = s.execute(select(AuditLog).where(AuditLog.actor_id == outsider.user_id,
                                                   AuditLog.action == "refused")).scalars().all()
        assert [(r.object_type, r.channel) for r in refused] == [("grievance", "console")]
        assert grievances.case_file(s, _console(s, "zhaodefu"), "260101").ticket_no == "260101"


def test_an_internal_note_is_in_the_timeline_but_never_reaches_the_reporter(any_db):
    with session_scope(write=True, url=any_db) as s:
        leader = _console(s, "zhaodefu")
        before = s.execute(select(func.count(OutboxMessage.id))).scalar_one()
        grievances.add_internal_note(s, leader, "260101", "电工说下周二来，先别告诉她具体时间")
        g = grievances.get_by_ticket(s, "260101")
        assert g.events[-1].kind == "internal"
        assert s.execute(select(func.count(OutboxMessage.id))).scalar_one() == before
        villager = resolve_actor(s, "cli:liguifang")
        assert "电工" not in grievances.status(s, villager, "260101")[0].last_note
        with pytest.raises(grievances.GrievanceError):
            grievances.add_internal_note(s, leader, "260101", "   ")
        with pytest.raises(AccessDenied):
            grievances.add_internal_note(s, _console(s, "liguoqiang"), "260101", "不是我的")


def test_filing_on_behalf_makes_the_villager_the_reporter_and_records_who_entered_it(any_db):
    with session_scope(write=True, url=any_db) as s:
        worker = _console(s, "wangxiulan")
        villager = resolve_actor(s, "cli:liguifang")
        her = s.get(User, villager.user_id).resident
        g = grievances.file_on_behalf(s, worker, _household_id(s, 2), "水电气", "打电话说家里停水两天了",
                                      resident_id=her.id, via="电话")
        assert (g.reporter_id, g.household.number, g.assignee.login) == (villager.user_id, 2, "zhaodefu")
        assert g.events[0].actor_id == worker.user_id and g.events[0].note == "王秀兰代为登记（电话，反映人李桂芳）"
        # The villager follows it on their own channel.
        assert g.ticket_no in [v.ticket_no for v in grievances.status(s, villager)]
        told = s.execute(select(OutboxMessage).where(OutboxMessage.user_id == villager.user_id,
                                                     OutboxMessage.kind == "grievance_update")).scalars().all()
        assert [m.payload["ticket_no"] for m in told if m.payload["ticket_no"] == g.ticket_no] == [g.ticket_no]
        # A resident without an account, or nobody named: the household is the reporter (its device hears it).
        five = s.get(Household, _household_id(s, 5))
        member = next((r for r in five.residents if not r.is_head), None)
        g2 = grievances.file_on_behalf(s, worker, five.id, "其他", "来村委会说的", via="来访",
                                       resident_id=member.id if member else None)
        assert g2.reporter_id is None and g2.household.number == 5
        assert grievances.status(s, resolve_actor(s, "voice:device-005"))[0].ticket_no == g2.ticket_no
        # Another household's resident, another grid's household: refused.
        with pytest.raises(grievances.GrievanceError):
            grievances.file_on_behalf(s, worker, five.id, "其他", "冒名", resident_id=her.id)
        with pytest.raises(AccessDenied):
            grievances.file_on_behalf(s, worker, _household_id(s, 30), "其他", "别的网格")


def test_the_register_pages_and_filters_what_the_worker_may_see(any_db):
    with session_scope(write=True, url=any_db) as s:
        worker, admin = _console(s, "wangxiulan"), _console(s, "chenzhiming")
        total, page = households.register(s, worker, limit=10)
        assert total == 22 and [line.number for line in page] == list(range(1, 11))
        assert households.register(s, admin)[0] == 66
        reds = households.register(s, admin, HouseholdFilter(colour=CareColour.red))[1]
        assert reds and all(line.colour == CareColour.red for line in reds)
        assert [line.number for line in households.register(s, admin, text="12号")[1]] == [12]
        named = households.register(s, admin, text="李桂芳")[1]  # a head, or any member of the household
        assert "李桂芳" in [line.head for line in named] and len(named) < 66
        assert households.register(s, worker, text="30")[0] == 0  # 30号 is 第二网格's
        with pytest.raises(AccessDenied):
            households.register(s, _console(s, "xiaomaibu"))


def test_sensitive_details_only_for_the_admin_and_the_responsible_worker(any_db):
    with session_scope(write=True, url=any_db) as s:
        household = s.execute(select(Household).where(Household.number == 4)).scalar_one()  # red: has a note
        assert household.sensitive_note
        admin, contact, leader = (_console(s, login) for login in ("chenzhiming", "wangxiulan", "zhaodefu"))
        assert households.sensitive_note(s, admin, household.id) == household.sensitive_note
        assert households.sensitive_note(s, contact, household.id) == household.sensitive_note
        assert not may_see_sensitive(s, leader, household)  # may see the household, not the details
        assert households.sensitive_note(s, leader, household.id) is None
        with pytest.raises(AccessDenied):
            households.sensitive_note(s, _console(s, "liguoqiang"), household.id)


def test_a_households_ledger_for_staff_and_the_monthly_points(any_db):
    with session_scope(write=True, url=any_db) as s:
        worker = _console(s, "wangxiulan")
        household_id = _household_id(s, 1)
        lines = points.household_ledger(s, worker, household_id, limit=500)
        assert sum(line.delta for line in lines) == points.balance_of(s, household_id)
        with pytest.raises(AccessDenied):
            points.household_ledger(s, _console(s, "liguoqiang"), household_id)
        rows = points.monthly_report(s, _console(s, "chenzhiming"))
        assert rows and {r.grid for r in rows} == {"第一网格", "第二网格", "第三网格"}
        mine = points.monthly_report(s, worker)
        assert {r.grid for r in mine} == {"第一网格"}
        assert sum(r.earned for r in mine) > 0
        assert [i.name for i in points.shop_items(s, _console(s, "xiaomaibu"))][:1] == ["食盐"]


def test_the_grievance_report_counts_first_responses_against_the_limit(any_db):
    with session_scope(write=True, url=any_db) as s:
        rows = grievances.monthly_report(s, _console(s, "chenzhiming"))
        assert sum(r.filed for r in rows) == 4
        assert sum(r.closed for r in rows) == 1  # 260103
        assert sum(r.responded for r in rows) == 2  # 260102 and 260103 were accepted
        # Both were accepted a day after filing: not within 8 hours.
        assert sum(r.responded_in_time for r in rows) == 0


def test_the_audit_log_is_for_admins_only(any_db):
    with session_scope(write=True, url=any_db) as s:
        admin, worker = _console(s, "chenzhiming"), _console(s, "wangxiulan")
        households.household_file(s, worker, _household_id(s, 3))
        s.flush()
        rows = read_audit(s, admin, user_id=worker.user_id)
        assert rows and rows[0].detail == "household file" and rows[0].channel == "console"
        with pytest.raises(AccessDenied):
            read_audit(s, worker)
        s.flush()
        assert s.execute(select(AuditLog).where(AuditLog.actor_id == worker.user_id,
                                                AuditLog.object_type == "audit_log")).scalar_one().action == "refused"
