"""Talking to the voice channel as the one-button device does: a spoken question made with
espeak-ng, posted as a multipart upload to ``/webhooks/voice/webhook``."""
from __future__ import annotations

import io
import subprocess
import urllib.error
import urllib.request
import uuid
import wave


def espeak_wav(text: str) -> bytes:
    """A real recording stand-in: espeak-ng speaking Chinese, as 22 kHz WAV."""
    return subprocess.run(["espeak-ng", "-v", "cmn", "--stdout", text], check=True, capture_output=True).stdout


def post_voice(base_url: str, device_id: str | None, audio: bytes, accept: str = "application/json"):
    boundary = uuid.uuid4().hex
    parts = []
    if device_id is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\n{device_id}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
                 f"Content-Type: audio/wav\r\n\r\n".encode() + audio + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{base_url}/webhooks/voice/webhook", data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()
