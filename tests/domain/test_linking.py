"""Linking a chat account to a villager (bot/linking.py), in the domain layer: one-time link
codes and who may issue them, linking by the phone number in the register, and the
`link-code` command. The same through the Telegram bot: tests/e2e/test_telegram.py."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.linking import LinkError, issue_link_code, link_by_phone, link_with_code
from bot.models import LinkCode, User, utcnow


def code_for(login: str, url: str, staff: str = "chenzhiming") -> str:
    with session_scope(write=True, url=url) as s:
        return issue_link_code(s, resolve_actor(s, f"cli:{staff}"), login)


def test_link_codes_are_one_time_and_guarded(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        admin = resolve_actor(s, "cli:chenzhiming")
        worker = resolve_actor(s, "cli:wangxiulan")  # serves households 1-22
        villager = resolve_actor(s, "cli:hh003")
        code = issue_link_code(s, admin, "hh012")
        assert len(code) == 6 and code.isdigit()
        assert issue_link_code(s, worker, "hh005")
        for actor, login in ((worker, "hh030"), (worker, "chenzhiming"), (villager, "hh004")):
            with pytest.raises(AccessDenied):
                issue_link_code(s, actor, login)
        with pytest.raises(LookupError):
            issue_link_code(s, admin, "nobody")
        user = link_with_code(s, "telegram", "555", code)
        assert user.login == "hh012"
        assert resolve_actor(s, "telegram:555").user_id == user.id
        with pytest.raises(LinkError) as used:
            link_with_code(s, "telegram", "556", code)
        assert used.value.reason == "used" and "用过" in used.value.message
        expired = issue_link_code(s, admin, "hh013", now=utcnow() - dt.timedelta(hours=73))
        with pytest.raises(LinkError) as late:
            link_with_code(s, "telegram", "557", expired)
        assert late.value.reason == "expired"

    # Wrong codes are counted (each refusal committed); the sixth try is refused outright.
    for n in range(5):
        with session_scope(write=True, url=fresh_db) as s:
            with pytest.raises(LinkError) as wrong:
                link_with_code(s, "telegram", "666", f"00000{n}")
            assert wrong.value.reason in ("unknown", "used", "expired")
    good = code_for("hh014", url=fresh_db)
    with session_scope(write=True, url=fresh_db) as s, pytest.raises(LinkError) as blocked:
        link_with_code(s, "telegram", "666", good)
    assert blocked.value.reason == "too_many"
    with session_scope(write=True, url=fresh_db) as s:  # another account may still use it
        assert link_with_code(s, "telegram", "667", good).login == "hh014"


def test_link_by_phone_matches_the_register(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        hh015 = s.execute(select(User).where(User.login == "hh015")).scalar_one()
        user = link_by_phone(s, "telegram", "888", "+86 " + hh015.resident.phone)
        assert user.id == hh015.id
        assert resolve_actor(s, "telegram:888").household_id == hh015.resident.household_id
        assert link_by_phone(s, "telegram", "889", "+8613999999999") is None
        assert resolve_actor(s, "telegram:889").user_id is None


def test_link_code_cli(cli, fresh_db):
    out = cli("link-code", "hh016", "--as", "chenzhiming", url=fresh_db)
    assert out.returncode == 0, out.stderr
    with session_scope(url=fresh_db) as s:
        code = s.execute(select(LinkCode).order_by(LinkCode.id.desc())).scalars().first()
        assert code.code in out.stdout and code.used_at is None
    refused = cli("link-code", "chenzhiming", "--as", "wangxiulan", url=fresh_db)
    assert refused.returncode != 0
