"""Timed HTTP turns against a running stack, as a plain client sees them (urllib, one
connection per turn): the REST webhook and the voice webhook."""
from __future__ import annotations

import functools
import json
import time
import urllib.request

REST_WEBHOOK = "/webhooks/rest/webhook"
VOICE_WEBHOOK = "/webhooks/voice/webhook"
TIMEOUT = 120.0


def _timed(request: urllib.request.Request, timeout: float) -> float:
    """Seconds until the JSON answer of ``request`` was read; HTTP errors raise."""
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310 - an http(s) URL from our settings or the caller, never a user's
        json.loads(response.read())
    return time.perf_counter() - started


@functools.lru_cache(maxsize=1)
def _credentials():
    """Token minter and device keys from this process's settings: the stacks the bench starts
    share its server secret (bot.ops.runtime.embedded_stack)."""
    from bot.config import load_settings
    from bot.security.tokens import Minter

    settings = load_settings()
    return settings, Minter(settings)


def bearer_header(sender: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_credentials()[1](sender)}"}


def post_turn(base_url: str, sender: str, text: str, timeout: float = TIMEOUT, token: bool = True) -> float:
    """One text turn through the REST webhook; its latency in seconds. The sender is named in the
    body (Xiangyin checks it against the token; Rasa's own REST channel, the bench's peer, reads
    it from there) and, with ``token``, proved by the sender's bearer token."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    return _timed(urllib.request.Request(f"{base_url}{REST_WEBHOOK}", data=body, headers={
        "Content-Type": "application/json", **(bearer_header(sender) if token else {})}), timeout)


def post_voice(base_url: str, device_id: str, wav: bytes, timeout: float = TIMEOUT) -> float:
    """One recording through the voice webhook; its latency in seconds."""
    from bot.security.devices import device_key, signed_headers

    key = device_key(_credentials()[0], device_id, 1)  # a seeded demo device
    headers = signed_headers(device_id, key, "POST", VOICE_WEBHOOK, wav)
    return _timed(urllib.request.Request(f"{base_url}{VOICE_WEBHOOK}", data=wav,
                                         headers={"Content-Type": "audio/wav", **headers}), timeout)
