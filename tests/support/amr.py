"""Real AMR-NB files for the tests, the format most WeChat clients record voice messages in.

This machine's ffmpeg decodes AMR but has no AMR encoder; Debian's ``libopencore-amrnb0`` (the
codec library ffmpeg's own builds link for it; in the Makefile's system packages) has one.
This drives its encoder through ctypes: espeak-ng speaks the text, ffmpeg turns it into 8 kHz
mono 16-bit PCM, and each 20 ms frame (160 samples) is encoded at 12.2 kbit/s into the AMR
storage format (RFC 4867 section 5: the ``#!AMR\\n`` magic, then frames each starting with its
table-of-contents byte), which is what ``Encoder_Interface_Encode`` writes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
from pathlib import Path

MAGIC = b"#!AMR\n"
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
MR122 = 7  # enum Mode: 12.2 kbit/s
MAX_FRAME_BYTES = 32  # a 12.2 kbit/s frame is 32 bytes with its ToC byte
LIBRARY_NAMES = ("libopencore-amrnb.so.0", "opencore-amrnb")


class AMRUnavailable(RuntimeError):
    """No AMR-NB encoder (libopencore-amrnb) or no espeak-ng/ffmpeg on this machine."""


def _library() -> ctypes.CDLL:
    for name in LIBRARY_NAMES:
        path = ctypes.util.find_library(name) if not name.endswith(".0") else name
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.Encoder_Interface_init.restype = ctypes.c_void_p
        lib.Encoder_Interface_init.argtypes = [ctypes.c_int]
        lib.Encoder_Interface_Encode.restype = ctypes.c_int
        lib.Encoder_Interface_Encode.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_short),
                                                 ctypes.POINTER(ctypes.c_ubyte), ctypes.c_int]
        lib.Encoder_Interface_exit.restype = None
        lib.Encoder_Interface_exit.argtypes = [ctypes.c_void_p]
        return lib
    raise AMRUnavailable("libopencore-amrnb is not installed (apt-get install libopencore-amrnb0)")


def encode_pcm(pcm: bytes) -> bytes:
    """8 kHz mono s16le PCM as an AMR-NB file (12.2 kbit/s); the last partial frame is padded
    with silence."""
    lib = _library()
    state = lib.Encoder_Interface_init(0)
    if not state:
        raise AMRUnavailable("Encoder_Interface_init failed")
    frame_bytes = FRAME_SAMPLES * 2
    if len(pcm) % frame_bytes:
        pcm += b"\0" * (frame_bytes - len(pcm) % frame_bytes)
    out = bytearray(MAGIC)
    buffer = (ctypes.c_ubyte * MAX_FRAME_BYTES)()
    try:
        for start in range(0, len(pcm), frame_bytes):
            samples = (ctypes.c_short * FRAME_SAMPLES).from_buffer_copy(pcm[start:start + frame_bytes])
            size = lib.Encoder_Interface_Encode(state, MR122, samples, buffer, 0)
            if size <= 0:
                raise AMRUnavailable(f"Encoder_Interface_Encode returned {size}")
            out += bytes(buffer[:size])
    finally:
        lib.Encoder_Interface_exit(state)
    return bytes(out)


def espeak_amr(text: str, tmp_path: Path) -> bytes:
    """``text`` spoken by espeak-ng (Mandarin) as a real AMR-NB voice message."""
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        raise AMRUnavailable("espeak-ng and ffmpeg are needed")
    wav = tmp_path / "say-amr.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "130", "-w", str(wav), text], check=True, timeout=60)
    pcm = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(wav), "-ar", "8000", "-ac", "1",
                          "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1"], check=True, capture_output=True,
                         timeout=60).stdout
    return encode_pcm(pcm)
