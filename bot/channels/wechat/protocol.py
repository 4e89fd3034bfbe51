"""The Official Account callback protocol, on wechatpy: URL verification, opening a signed (and,
in 安全模式, encrypted) callback, and the passive reply to it. Pure functions; no I/O.

* **URL verification** (``GET``): ``signature`` = sha1 of the sorted token, ``timestamp`` and
  ``nonce``; the answer is ``echostr`` (:func:`verify_url`).
* **Callbacks** (``POST``, XML): the same ``signature`` in the query on every callback; with
  ``encrypt_type=aes`` the body carries ``Encrypt`` (AES-256-CBC with the EncodingAESKey) and
  the query ``msg_signature`` = sha1 of the sorted token, timestamp, nonce and ciphertext
  (:func:`open_callback`, wechatpy's ``WeChatCrypto``). A timestamp further from our clock than
  the replay window is refused too, so a captured callback cannot be played back later.
* **Passive reply**: a text reply XML (``create_reply``), encrypted when the callback was; or
  ``success`` (nothing to say now: the answer follows as a customer-service message).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

SUCCESS = "success"  # the documented "received, no reply" answer (an empty body works as well)
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_BODY = 64 * 1024  # bytes; a WeChat callback is a few hundred
UNSUPPORTED_CONTENT = "【收到不支持的消息类型，暂无法显示】"  # what a custom sticker arrives as


class Rejected(Exception):
    """A request that did not come from WeChat (``status`` 403) or cannot be read (400).
    The message is for logs only."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Keys:
    """What verifies and answers callbacks: the Token, and the cipher when 安全模式 is set up."""

    token: str
    crypto: WeChatCrypto | None = None

    @classmethod
    def of(cls, token: str, app_id: str, aes_key: str | None) -> "Keys":
        return cls(token, WeChatCrypto(token, aes_key, app_id) if aes_key else None)


@dataclass(frozen=True)
class Callback:
    """A verified callback: the wechatpy message and whether the reply must be encrypted."""

    message: Any
    encrypted: bool

    @property
    def openid(self) -> str:
        return self.message.source


def _signed(token: str, params: Mapping[str, str]) -> None:
    try:
        check_signature(token, params.get("signature", ""), params.get("timestamp", ""), params.get("nonce", ""))
    except InvalidSignatureException:
        raise Rejected(403, "bad signature") from None


def fresh(params: Mapping[str, str], now: float, window: float) -> None:
    try:
        stamp = int(params.get("timestamp", ""))
    except ValueError:
        raise Rejected(403, "no timestamp") from None
    if abs(now - stamp) > window:
        raise Rejected(403, "timestamp outside the replay window")


def verify_url(token: str, params: Mapping[str, str]) -> str:
    """The ``echostr`` to answer the server-configuration check with; :class:`Rejected` if unsigned."""
    _signed(token, params)
    return params.get("echostr", "")


def _plaintext(keys: Keys, params: Mapping[str, str], body: bytes) -> str:
    if params.get("encrypt_type", "raw").lower() != "aes":
        return body.decode("utf-8")
    if keys.crypto is None:
        raise Rejected(400, "encrypted callback but no EncodingAESKey configured")
    try:
        return keys.crypto.decrypt_message(body, params.get("msg_signature", ""), params.get("timestamp", ""),
                                           params.get("nonce", ""))
    except InvalidSignatureException:
        raise Rejected(403, "bad msg_signature") from None
    except Exception as exc:  # noqa: BLE001 - wechatpy raises whatever its XML/AES/base64 steps raise
        raise Rejected(400, f"cannot decrypt: {type(exc).__name__}") from None


def open_callback(keys: Keys, params: Mapping[str, str], body: bytes, now: float, window: float) -> Callback:
    """The message of a callback that WeChat signed (and encrypted, in 安全模式); :class:`Rejected`
    for anything else. Signature and timestamp are checked before the body is read."""
    _signed(keys.token, params)
    fresh(params, now, window)
    if len(body) > MAX_BODY:
        raise Rejected(400, "body too large")
    try:
        message = parse_message(_plaintext(keys, params, body))
    except Rejected:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed XML: expat, KeyError, ...
        raise Rejected(400, f"cannot parse: {type(exc).__name__}") from None
    if message is None or not OPENID.fullmatch(str(message.source or "")):
        raise Rejected(400, "no sender")
    return Callback(message, encrypted=params.get("encrypt_type", "raw").lower() == "aes")


def dedupe_key(message: Any) -> str:
    """What identifies one message across WeChat's retries: ``MsgId``; for events, which have
    none, the sender and ``CreateTime`` (as the documentation recommends)."""
    if getattr(message, "id", 0):
        return f"msg:{message.id}"
    return f"event:{message.source}:{message.time}:{getattr(message, 'event', message.type)}"


def reply_body(keys: Keys, callback: Callback, text: str, now: float) -> str:
    """The passive reply carrying ``text`` (``success`` when there is none), encrypted when the
    callback was."""
    if not text:
        return SUCCESS
    xml = create_reply(text.replace("]]>", "]] >"), message=callback.message, render=True)
    if callback.encrypted and keys.crypto is not None:
        return keys.crypto.encrypt_message(xml, secrets.token_hex(8), str(int(now)))
    return xml


@dataclass(frozen=True)
class OfficialAccount:
    """The Official Account's side of the protocol, as the callback server uses it (the WeCom
    app in :mod:`.wecom` has the same three methods)."""

    keys: Keys

    def verify(self, params: Mapping[str, str]) -> str:
        return verify_url(self.keys.token, params)

    def open(self, params: Mapping[str, str], body: bytes, now: float, window: float) -> Callback:
        return open_callback(self.keys, params, body, now, window)

    def reply(self, callback: Callback, text: str, now: float) -> str:
        return reply_body(self.keys, callback, text, now)
