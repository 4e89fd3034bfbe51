"""Who may see what, in the domain layer: the spoken PIN and its audit, and the audit trail
that only admins read. The same rules through the model: tests/e2e/test_identity_conversations.py.
(Spoken digits are bot.text's: tests/unit/test_text.py.)"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import households
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor, verify_pin
from bot.models import AuditLog


def test_pin_check_and_its_audit(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "voice:staff-wangxiulan")
        assert worker.is_staff and worker.channel == "voice"
        assert verify_pin(s, worker, "一二三四")
        assert not verify_pin(s, worker, "四三二一")
        villager = resolve_actor(s, "voice:device-001")  # a household device, no staff user
        assert not verify_pin(s, villager, "一二三四")
        actions = s.execute(select(AuditLog.action).where(AuditLog.actor_id == worker.user_id)).scalars().all()
        assert actions.count("login_ok") == 1 and actions.count("login_failed") == 1


def test_only_admins_list_the_audit_trail(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        households.summarise(s, worker, 2)
        with pytest.raises(AccessDenied):
            households.audit_trail(s, worker, 2)
        admin = resolve_actor(s, "cli:chenzhiming")
        trail = households.audit_trail(s, admin, 2)
        assert [(a.action, a.channel) for a in trail][-1] == ("read", "cli")
