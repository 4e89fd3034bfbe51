"""Timed HTTP turns against a running stack, as a plain client sees them (urllib, one
connection per turn): the REST webhook and the voice webhook."""
from __future__ import annotations

import json
import time
import urllib.request

REST_WEBHOOK = "/webhooks/rest/webhook"
VOICE_WEBHOOK = "/webhooks/voice/webhook"
TIMEOUT = 120.0


def _timed(request: urllib.request.Request, timeout: float) -> float:
    """Seconds until the JSON answer of ``request`` was read; HTTP errors raise."""
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        json.loads(response.read())
    return time.perf_counter() - started


def post_turn(base_url: str, sender: str, text: str, timeout: float = TIMEOUT) -> float:
    """One text turn through the REST webhook; its latency in seconds."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    return _timed(urllib.request.Request(f"{base_url}{REST_WEBHOOK}", data=body,
                                         headers={"Content-Type": "application/json"}), timeout)


def post_voice(base_url: str, device_id: str, wav: bytes, timeout: float = TIMEOUT) -> float:
    """One recording through the voice webhook; its latency in seconds."""
    return _timed(urllib.request.Request(f"{base_url}{VOICE_WEBHOOK}?device_id={device_id}", data=wav,
                                         headers={"Content-Type": "audio/wav", "X-Device-Id": device_id}), timeout)
