"""Credentials against a real database: the persistent login lockout, device provisioning,
revocation, and signed requests with their replay window (bot/security/)."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from bot.config import load_settings
from bot.db import session_scope
from bot.models import AuditLog, RequestNonce, User
from bot.security import devices, logins, passwords

PATH = "/webhooks/voice/webhook"


@pytest.fixture()
def local_settings(tmp_path, fresh_db):
    return load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": fresh_db,
                          "XIANGYIN_PIN_MAX_FAILURES": "3", "XIANGYIN_PIN_LOCK_MINUTES": "10"})


def audit_actions(s, object_type: str) -> list[str]:
    return list(s.execute(select(AuditLog.action).where(AuditLog.object_type == object_type)
                          .order_by(AuditLog.id)).scalars())


def test_every_staff_login_has_its_own_salted_pin(fresh_db):
    with session_scope(url=fresh_db) as s:
        staff = s.execute(select(User).where(User.pin_hash.is_not(None))).scalars().all()
    assert len(staff) >= 12 and len({u.pin_hash for u in staff}) == len(staff)
    from bot.seed import demo_pin

    assert all(passwords.verify(demo_pin(u.login), u.pin_hash) for u in staff)
    assert not any(passwords.verify("1234", u.pin_hash) for u in staff if u.login != "wangxiulan")


def test_lockout_survives_sessions_and_ends_after_its_minutes(local_settings, fresh_db):
    settings = local_settings
    start = dt.datetime(2026, 11, 29, 8, 0)
    for minute in range(3):
        with session_scope(write=True, url=fresh_db) as s:
            outcome, _ = logins.check_login(s, "liguoqiang", "0000", settings=settings,
                                            now=start + dt.timedelta(minutes=minute))
    assert outcome is logins.Outcome.locked
    with session_scope(write=True, url=fresh_db) as s:  # the right PIN while locked
        assert logins.check_login(s, "liguoqiang", "2468", settings=settings,
                                  now=start + dt.timedelta(minutes=9))[0] is logins.Outcome.locked
    with session_scope(write=True, url=fresh_db) as s:
        outcome, user = logins.check_login(s, "liguoqiang", "二四六八", settings=settings,
                                           now=start + dt.timedelta(minutes=13))
        assert outcome is logins.Outcome.ok and user.login_failures == 0
        assert audit_actions(s, "user") == ["login_failed", "login_failed", "login_locked", "login_locked", "login_ok"]
    with session_scope(write=True, url=fresh_db) as s:
        assert logins.check_login(s, "nobody", "1234", settings=settings)[0] is logins.Outcome.unknown
        assert logins.check_login(s, "hh003", "1234", settings=settings)[0] is logins.Outcome.unknown  # no PIN


def test_set_secret_validates_and_replaces(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        user = s.execute(select(User).where(User.login == "wangxiulan")).scalar_one()
        with pytest.raises(ValueError):
            logins.set_secret(s, user, "12")
        with pytest.raises(ValueError):
            logins.set_secret(s, user, "short", kind=logins.Kind.password)
        logins.set_secret(s, user, "五六七八")
        assert passwords.verify("5678", user.pin_hash) and not passwords.verify("1234", user.pin_hash)


def request(settings, s, device_id, key, body=b"audio", now=None, headers=None):
    headers = headers or devices.signed_headers(device_id, key, "POST", PATH, body, now=now)
    return devices.authenticate(s, settings, "POST", PATH, headers, body)


def test_provision_sign_replay_revoke(local_settings, fresh_db):
    settings = local_settings
    with session_scope(write=True, url=fresh_db) as s:
        key = devices.provision(s, settings, "kitchen-1", household_id=3)
    headers = devices.signed_headers("kitchen-1", key, "POST", PATH, b"audio")
    with session_scope(write=True, url=fresh_db) as s:
        assert request(settings, s, "kitchen-1", key, headers=headers).household_id == 3
    with session_scope(write=True, url=fresh_db) as s:
        with pytest.raises(devices.DeviceAuthError, match="replayed"):
            request(settings, s, "kitchen-1", key, headers=headers)
    with session_scope(write=True, url=fresh_db) as s:
        with pytest.raises(devices.DeviceAuthError, match="bad signature"):
            request(settings, s, "kitchen-1", key, body=b"other", headers=headers | {
                devices.HEADER_NONCE: "ab" * 16})
        with pytest.raises(devices.DeviceAuthError, match="timestamp"):
            request(settings, s, "kitchen-1", key, now=time.time() - 301)
        with pytest.raises(devices.DeviceAuthError, match="unsigned"):
            devices.authenticate(s, settings, "POST", PATH, {}, b"")
        assert devices.revoke(s, "kitchen-1") and not devices.revoke(s, "no-such-device")
    with session_scope(write=True, url=fresh_db) as s:
        with pytest.raises(devices.DeviceAuthError, match="revoked"):
            request(settings, s, "kitchen-1", key)
    with session_scope(write=True, url=fresh_db) as s:
        new_key = devices.provision(s, settings, "kitchen-1")
        assert new_key != key and devices.current_key(s, settings, "kitchen-1") == new_key
    with session_scope(write=True, url=fresh_db) as s:
        with pytest.raises(devices.DeviceAuthError, match="bad signature"):
            request(settings, s, "kitchen-1", key)
        assert request(settings, s, "kitchen-1", new_key).external_id == "kitchen-1"
    with session_scope(url=fresh_db) as s:
        actions = audit_actions(s, "device")
        assert actions.count("auth_refused") == 6 and actions.count("device_provisioned") == 2
        assert actions.count("device_revoked") == 1


def test_old_nonces_are_forgotten(local_settings, fresh_db):
    settings = local_settings
    with session_scope(write=True, url=fresh_db) as s:
        key = devices.provision(s, settings, "porch-2", household_id=4)
    clock = time.time()
    with session_scope(write=True, url=fresh_db) as s:
        request(settings, s, "porch-2", key, now=clock - 200)
    with session_scope(write=True, url=fresh_db) as s:
        for _ in range(3):
            request(settings, s, "porch-2", key)
        assert s.execute(select(func.count()).select_from(RequestNonce)).scalar() == 4
    with session_scope(write=True, url=fresh_db) as s:  # a request well after the window prunes
        devices._remember_nonce(s, "porch-2", "ff" * 16, clock + 2000, 300)
        assert s.execute(select(func.count()).select_from(RequestNonce)).scalar() == 1


def test_provisioning_refuses_bad_input(local_settings, fresh_db):
    settings = local_settings
    with session_scope(write=True, url=fresh_db) as s:
        for device_id, kwargs in [("bad id!", {"household_id": 1}), ("new-one", {}),
                                  ("new-two", {"household_id": 99999}), ("new-three", {"login": "nobody"})]:
            with pytest.raises(ValueError):
                devices.provision(s, settings, device_id, **kwargs)


def test_operator_commands_provision_devices_and_set_pins(cli, any_db, tmp_path):
    key_file = tmp_path / "kitchen.key"
    added = cli("device", "add", "kitchen-9", "--household", "5", "--key-file", str(key_file), url=any_db)
    assert added.returncode == 0 and "0600" in added.stdout
    key = devices.read_key_file(key_file)
    exported = cli("device", "export", "kitchen-9", "--key-file", str(tmp_path / "copy.key"), url=any_db)
    assert exported.returncode == 0 and devices.read_key_file(tmp_path / "copy.key") == key
    assert "kitchen-9" in cli("device", "list", url=any_db).stdout
    assert cli("device", "revoke", "kitchen-9", url=any_db).returncode == 0
    assert "revoked" in cli("device", "list", url=any_db).stdout
    refused = cli("device", "export", "kitchen-9", url=any_db)
    assert refused.returncode != 0 and "not a provisioned" in refused.stderr
    assert cli("device", "revoke", "nope", url=any_db).returncode != 0
    assert cli("device", "add", "new-1", url=any_db).returncode != 0  # neither household nor user
    assert cli("staff", "set-pin", "wangxiulan", "--value", "12", url=any_db).returncode != 0
    assert cli("staff", "set-pin", "wangxiulan", "--value", "9876", url=any_db).returncode == 0
    assert cli("staff", "set-password", "wangxiulan", "--value", "long enough", url=any_db).returncode == 0
    with session_scope(url=any_db) as s:
        user = s.execute(select(User).where(User.login == "wangxiulan")).scalar_one()
        assert passwords.verify("9876", user.pin_hash) and passwords.verify("long enough", user.password_hash)
        assert audit_actions(s, "user").count("credential_changed") == 2
