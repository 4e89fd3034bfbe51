"""Talking to the voice channel as the one-button device does: a spoken question made with
espeak-ng, posted as a multipart upload to ``/webhooks/voice/webhook``."""
from __future__ import annotations

import io
import subprocess
import urllib.error
import urllib.request
import uuid
import wave

VOICE_PATH = "/webhooks/voice/webhook"


def espeak_wav(text: str) -> bytes:
    """A real recording stand-in: espeak-ng speaking Chinese, as 22 kHz WAV."""
    return subprocess.run(["espeak-ng", "-v", "cmn", "--stdout", text], check=True, capture_output=True).stdout


def device_key(device_id: str, version: int = 1) -> str:
    """The key a seeded demo device holds (version 1), from the run's server secret."""
    from bot.config import load_settings
    from bot.security.devices import device_key as derive_device_key

    return derive_device_key(load_settings(), device_id, version).hex()


def post_voice(base_url: str, device_id: str | None, audio: bytes, accept: str = "application/json", *,
               key: str | None = None, sign: bool = True, claim: str | None = None, headers: dict | None = None):
    """Posts a recording as the device would: signed with the device's key (by default the
    demo key of ``device_id``). ``sign=False`` sends it unsigned; ``claim`` adds a
    ``device_id`` form field; ``headers`` replace the signature headers (replays, forgeries)."""
    from bot.security.devices import signed_headers

    boundary = uuid.uuid4().hex
    parts = []
    if claim is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\n{claim}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
                 f"Content-Type: audio/wav\r\n\r\n".encode() + audio + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    auth = {}
    if headers is not None:
        auth = headers
    elif sign and device_id is not None:
        auth = signed_headers(device_id, key or device_key(device_id), "POST", VOICE_PATH, body)
    request = urllib.request.Request(f"{base_url}{VOICE_PATH}", data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": accept, **auth})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()
