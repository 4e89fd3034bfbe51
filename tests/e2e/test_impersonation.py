"""Nobody speaks as somebody else (issue 13): every entry point of the running servers refuses
a request whose identity is not proven by a credential, and writes an audit row.

Real servers (the tier's action server and Rasa server), real database; the credentials are
minted from the run's server secret the way our own processes mint them."""
from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import AuditLog, ChannelIdentity
from bot.security import devices, tokens
from bot.security.keys import action_server_token, rasa_api_token
from tests.support.conversation import bearer_header
from tests.support.voice import VOICE_PATH, device_key, espeak_wav, post_voice

REST = "/webhooks/rest/webhook"


def refusals(url: str, object_type: str) -> list[AuditLog]:
    with session_scope(url=url) as s:
        return list(s.execute(select(AuditLog).where(AuditLog.action == "auth_refused",
                                                     AuditLog.object_type == object_type)).scalars())


def turn(rasa_server: str, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{rasa_server}{REST}", json=body, headers=headers or {}, timeout=120)


def tracker_texts(rasa_server: str, sender: str) -> list[str]:
    response = httpx.get(f"{rasa_server}/conversations/{sender}/tracker",
                         params={"token": rasa_api_token_now()}, timeout=60)
    response.raise_for_status()
    return [e.get("text") for e in response.json().get("events") or [] if e.get("event") == "user"]


def rasa_api_token_now() -> str:
    from bot.config import load_settings

    return rasa_api_token(load_settings())


# --- the REST channel ------------------------------------------------------------------

def test_rest_turn_without_a_token_is_refused_and_audited(rasa_server, seeded_db):
    response = turn(rasa_server, {"sender": "cli:wangxiulan", "message": "王建国家什么情况"})
    assert response.status_code == 401 and response.json()["error"] == "请先登录。"
    assert len(refusals(seeded_db, "rest")) == 1
    assert "王建国家什么情况" not in tracker_texts(rasa_server, "cli:wangxiulan")


@pytest.mark.parametrize("forge", ["other key", "expired", "garbage", "wrong scheme"])
def test_forged_or_expired_tokens_are_refused(rasa_server, seeded_db, settings, forge):
    now = time.time()
    token = {
        "other key": jwt.encode({"sub": "cli:wangxiulan", "aud": tokens.AUDIENCE, "exp": int(now) + 600},
                                "not-the-server-secret", algorithm="HS256"),
        "expired": tokens.issue(settings, "cli:wangxiulan", hours=1, now=now - 7200),
        "garbage": "abc.def.ghi",
        "wrong scheme": None,
    }[forge]
    headers = {"Authorization": f"Bearer {token}"} if token else {
        "Authorization": "Basic " + tokens.issue(settings, "cli:wangxiulan")}
    response = turn(rasa_server, {"message": "你好"}, headers)
    assert response.status_code == 401
    assert len(refusals(seeded_db, "rest")) == 1


def test_a_villager_token_cannot_claim_another_sender(rasa_server, seeded_db):
    response = turn(rasa_server, {"sender": "cli:wangxiulan", "message": "我是网格员"}, bearer_header("cli:hh003"))
    assert response.status_code == 403 and "自己的身份" in response.json()["error"]
    [row] = refusals(seeded_db, "rest")
    assert "cli:hh003" in row.detail and "cli:wangxiulan" in row.detail
    assert "我是网格员" not in tracker_texts(rasa_server, "cli:wangxiulan")


def test_the_turn_speaks_as_the_token_sender(rasa_server):
    response = turn(rasa_server, {"message": "我家有多少积分"}, bearer_header("cli:hh003"))
    assert response.status_code == 200 and response.json()
    assert "我家有多少积分" in tracker_texts(rasa_server, "cli:hh003")


def test_staff_login_with_pin_then_lockout(rasa_server, seeded_db):
    login = f"{rasa_server}/webhooks/rest/login"
    ok = httpx.post(login, json={"login": "wangxiulan", "pin": "1234"}, timeout=60)
    assert ok.status_code == 200 and ok.json()["sender"] == "cli:wangxiulan"
    answered = turn(rasa_server, {"message": "你好"}, {"Authorization": f"Bearer {ok.json()['token']}"})
    assert answered.status_code == 200
    assert httpx.post(login, json={"login": "liguoqiang", "pin": "1234"}, timeout=60).status_code == 401
    statuses = [httpx.post(login, json={"login": "liguoqiang", "pin": "0000"}, timeout=60).status_code
                for _ in range(4)]  # with the one above: five wrong in a row lock the login
    assert statuses == [401, 401, 401, 423]
    locked = httpx.post(login, json={"login": "liguoqiang", "pin": "2468"}, timeout=60)  # the right PIN
    assert locked.status_code == 423 and "锁定" in locked.json()["error"]
    assert httpx.post(login, json={"user": "x"}, timeout=60).status_code == 400
    with session_scope(url=seeded_db) as s:
        actions = [a for (a,) in s.execute(select(AuditLog.action).where(AuditLog.object_type == "user"))]
    assert actions.count("login_ok") == 1 and actions.count("login_locked") >= 2
    assert actions.count("login_failed") == 4  # the fifth wrong one is the lock


# --- Rasa's HTTP API -------------------------------------------------------------------

def test_rasa_http_api_needs_its_token(rasa_server):
    sender = "cli:wangxiulan"
    assert httpx.get(f"{rasa_server}/conversations/{sender}/tracker", timeout=30).status_code == 401
    injected = httpx.post(f"{rasa_server}/conversations/{sender}/tracker/events",
                          json={"event": "slot", "name": "pin_verified", "value": True}, timeout=30)
    assert injected.status_code == 401
    assert httpx.put(f"{rasa_server}/model", json={"model_file": "/tmp/evil.tar.gz"}, timeout=30).status_code == 401
    assert httpx.get(f"{rasa_server}/conversations/{sender}/tracker",
                     params={"token": "wrong"}, timeout=30).status_code == 401
    assert httpx.get(f"{rasa_server}/conversations/{sender}/tracker",
                     params={"token": rasa_api_token_now()}, timeout=30).status_code == 200


# --- the action server -----------------------------------------------------------------

def forged_action_call(sender: str) -> dict:
    """What an attacker would send the action server directly: a tracker claiming to be a grid
    worker whose PIN was verified, asking for a household summary."""
    return {"next_action": "action_household_summary", "sender_id": sender, "version": "3.6.2",
            "domain": {}, "tracker": {"sender_id": sender, "slots": {"pin_verified": True}, "events": [],
                                      "latest_message": {"text": "王建国家", "intent": {"name": "household_summary"},
                                                         "entities": []}}}


def test_action_server_refuses_calls_without_rasas_token(action_server, settings):
    body = forged_action_call("cli:wangxiulan")
    assert httpx.post(action_server, json=body, timeout=30).status_code == 401
    assert httpx.post(action_server, params={"token": "guess"}, json=body, timeout=30).status_code == 401
    assert httpx.get(action_server.replace("/webhook", "/actions"), timeout=30).status_code == 401
    assert httpx.get(action_server.replace("/webhook", "/health"), timeout=30).status_code == 200
    listed = httpx.get(action_server.replace("/webhook", "/actions"),
                       params={"token": action_server_token(settings)}, timeout=30)
    assert listed.status_code == 200 and any(a["name"] == "action_household_summary" for a in listed.json())


# --- voice devices ---------------------------------------------------------------------

def voice(rasa_server, device_id, **kwargs):
    status, _, body = post_voice(rasa_server, device_id, espeak_wav("你好"), **kwargs)
    return status, json.loads(body or b"{}")


def test_a_device_cannot_speak_with_another_devices_id(rasa_server, seeded_db):
    status, body = voice(rasa_server, "device-003", key=device_key("device-004"))
    assert status == 401 and "设备" in body["error"]
    status, _ = voice(rasa_server, "device-003", claim="device-004")  # its own signature, another id in the form
    assert status == 403
    [row] = refusals(seeded_db, "device")
    assert "device-003" in row.detail and "bad signature" in row.detail


def test_a_replayed_request_is_refused(rasa_server, seeded_db):
    """The same bytes and headers again, as someone on the village Wi-Fi could capture them."""
    audio = espeak_wav("你好")
    headers = devices.signed_headers("device-007", device_key("device-007"), "POST", VOICE_PATH, audio)
    send = lambda: httpx.post(f"{rasa_server}{VOICE_PATH}", content=audio,  # noqa: E731
                              headers={"Content-Type": "audio/wav", **headers}, timeout=120)
    assert send().status_code == 200
    assert send().status_code == 401
    assert [r.detail for r in refusals(seeded_db, "device")] == ["device-007: replayed request"]


def test_stale_unknown_and_revoked_devices_are_refused(rasa_server, seeded_db, settings):
    audio = espeak_wav("你好")
    stale = devices.signed_headers("device-008", device_key("device-008"), "POST", VOICE_PATH, audio,
                                   now=time.time() - 3600)
    response = httpx.post(f"{rasa_server}{VOICE_PATH}", content=audio,
                          headers={"Content-Type": "audio/wav", **stale}, timeout=120)
    assert response.status_code == 401
    assert voice(rasa_server, "device-999", key="00" * 32)[0] == 401  # never provisioned here
    assert voice(rasa_server, "device-009")[0] == 200
    with session_scope(write=True, url=seeded_db) as s:
        assert devices.revoke(s, "device-009")
    assert voice(rasa_server, "device-009")[0] == 401
    with session_scope(write=True, url=seeded_db) as s:  # provisioned anew: the old key stays dead
        new_key = devices.provision(s, settings, "device-009")
    assert voice(rasa_server, "device-009")[0] == 401
    assert voice(rasa_server, "device-009", key=new_key)[0] == 200
    reasons = " | ".join(r.detail for r in refusals(seeded_db, "device"))
    for reason in ("timestamp", "unknown device", "revoked device", "bad signature"):
        assert reason in reasons
    with session_scope(url=seeded_db) as s:
        ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.external_id == "device-009")).scalar_one()
        assert ident.key_version == 2 and ident.revoked_at is None
