"""Credentials without servers: password/PIN hashing, session tokens, device signatures and
the server secret's file (bot/security/)."""
from __future__ import annotations

import os
import stat
import time

import pytest

from bot.config import load_settings
from bot.security import devices, keys, passwords, tokens


@pytest.fixture()
def settings(tmp_path):
    return load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var")})


def test_hashes_are_salted_and_verified_in_constant_form():
    first, second = passwords.hash_secret("1234"), passwords.hash_secret("1234")
    assert first != second and first.startswith("scrypt$")
    assert passwords.verify("1234", first) and passwords.verify("1234", second)
    assert not passwords.verify("1235", first) and not passwords.verify("", first)
    assert not passwords.verify("1234", None) and not passwords.verify("1234", "scrypt$broken")
    assert not passwords.needs_rehash(first)


def test_legacy_pin_hashes_still_verify_and_ask_to_be_replaced():
    import hashlib

    legacy = hashlib.sha256(b"xiangyin:wangxiulan:1234").hexdigest()
    assert passwords.verify("1234", legacy, login="wangxiulan")
    assert not passwords.verify("1234", legacy, login="liguoqiang")
    assert passwords.needs_rehash(legacy)


def test_the_secret_file_is_created_private_and_refused_when_readable_by_others(settings):
    key = keys.master_key(settings)
    path = keys.key_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and keys.master_key(settings) == key
    os.chmod(path, 0o644)
    with pytest.raises(keys.SecretKeyError, match="chmod 600"):
        keys.master_key(settings)


def test_derived_keys_differ_by_purpose_and_follow_the_secret(settings, tmp_path):
    assert keys.rasa_api_token(settings) != keys.action_server_token(settings)
    other = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "other")})
    assert keys.rasa_api_token(other) != keys.rasa_api_token(settings)
    fixed = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "x"), "XIANGYIN_SECRET_KEY": "k" * 64})
    assert keys.master_key(fixed) == b"k" * 64 and not keys.key_file(fixed).exists()


def test_tokens_name_their_sender_and_expire(settings, tmp_path):
    token = tokens.issue(settings, "cli:wangxiulan")
    assert tokens.sender_of(settings, token) == "cli:wangxiulan"
    old = tokens.issue(settings, "cli:wangxiulan", hours=1, now=time.time() - 7200)
    with pytest.raises(tokens.TokenError):
        tokens.sender_of(settings, old)
    other = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "other")})
    with pytest.raises(tokens.TokenError):
        tokens.sender_of(other, token)
    with pytest.raises(tokens.TokenError):
        tokens.sender_of(settings, None)
    assert tokens.bearer(f"Bearer {token}") == token and tokens.bearer(f"Basic {token}") is None
    mint = tokens.Minter(settings)
    assert mint("telegram:1") == mint("telegram:1") and tokens.sender_of(settings, mint("telegram:1")) == "telegram:1"


def test_a_signature_covers_method_path_device_time_nonce_and_body():
    key = "ab" * 32
    headers = devices.signed_headers("device-001", key, "POST", "/webhooks/voice/webhook", b"audio")
    args = ("POST", "/webhooks/voice/webhook", "device-001", headers[devices.HEADER_TIME],
            headers[devices.HEADER_NONCE], b"audio")
    assert devices.sign(key, *args) == headers[devices.HEADER_SIGNATURE]
    for position, changed in [(0, "GET"), (1, "/webhooks/rest/webhook"), (2, "device-002"), (3, "1"),
                              (4, "00" * 16), (5, b"other audio")]:
        altered = list(args)
        altered[position] = changed
        assert devices.sign(key, *altered) != headers[devices.HEADER_SIGNATURE]
    assert devices.sign("cd" * 32, *args) != headers[devices.HEADER_SIGNATURE]
    again = devices.signed_headers("device-001", key, "POST", "/webhooks/voice/webhook", b"audio")
    assert again[devices.HEADER_NONCE] != headers[devices.HEADER_NONCE]


def test_device_key_files_are_private(tmp_path):
    path = tmp_path / "device.key"
    devices.write_key_file(path, "ab" * 32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and devices.read_key_file(path) == "ab" * 32
    os.chmod(path, 0o640)
    with pytest.raises(PermissionError):
        devices.read_key_file(path)
