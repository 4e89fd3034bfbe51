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


# --- the streamed utterance (bot/channels/voice.py): start, numbered pieces, end --------------

STREAM_PATH = "/webhooks/voice/stream"


def signed_post(base_url: str, path: str, device_id: str | None, body: bytes = b"", *,
                key: str | None = None, content_type: str = "application/octet-stream"):
    """A POST signed as ``device_id`` would sign it (unsigned when ``device_id`` is None);
    (status, headers, body)."""
    from bot.security.devices import signed_headers

    auth = signed_headers(device_id, key or device_key(device_id), "POST", path, body) if device_id else {}
    request = urllib.request.Request(f"{base_url}{path}", data=body, method="POST",
                                     headers={"Content-Type": content_type, **auth})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def stream_start(base_url: str, device_id: str | None, **kw):
    import json

    status, _, body = signed_post(base_url, f"{STREAM_PATH}/start", device_id, b"", **kw)
    return status, json.loads(body)


def stream_piece(base_url: str, device_id: str | None, utterance: str, seq: int, pcm: bytes, **kw):
    import json

    status, _, body = signed_post(base_url, f"{STREAM_PATH}/{utterance}/chunk/{seq}", device_id, pcm, **kw)
    return status, json.loads(body)


def stream_end(base_url: str, device_id: str | None, utterance: str, seq: int, pcm: bytes = b"", **kw):
    return signed_post(base_url, f"{STREAM_PATH}/{utterance}/end/{seq}", device_id, pcm, **kw)


def frames(body: bytes) -> tuple[dict, list[bytes]]:
    """A framed answer: its JSON header and its WAV segments (the empty end frame checked)."""
    import json

    from speech.device import read_frames

    parts = list(read_frames([body]))
    assert parts[-1] == b"", "no end frame"
    return json.loads(parts[0]), parts[1:-1]
