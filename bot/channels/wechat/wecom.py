"""WeCom (企业微信) for staff: a self-built app (自建应用) whose members — grid workers, the village
office, township duty staff — talk to the same Rasa server as ``wecom:<UserID>``, receive the
outbox's notifications, and take charge of an emergency with the button on its alert card.

Differences from the Official Account, and where they live:

* :class:`WorkApp` — the callback protocol: always encrypted (``msg_signature`` only; the
  ciphertext carries the CorpID), URL verification decrypts ``echostr``
  (wechatpy.enterprise: ``WeChatCrypto``, ``parse_message``, ``create_reply``);
* :class:`WorkAPI` — ``/cgi-bin/gettoken`` and ``/cgi-bin/message/send`` (an app may message
  its members at any time: no 48-hour window), and the alert card (``template_card`` of type
  ``button_interaction``, its button's key ``ack-emergency:<id>``; once pressed the button turns
  into the label 已处理 through ``update_template_card``);
* :class:`WeComDelivery` — the outbox adapter: alerts waiting for somebody to take charge go as
  cards, everything else as text;
* :class:`WeComChannel` — the channel; answers always go by ``message/send`` (``passive_seconds``
  0), which also covers a pressed card button, where WeCom takes no passive text.

Linking, turns, limits, the text commands (我的待办: the grid worker's or the township's queue)
and the button's effect (:meth:`.accounts.Accounts.acknowledge_emergency`) are the Official
Account's code with the channel name ``wecom``. Spoken replies are not offered: WeCom plays
voice messages in AMR only, which this ffmpeg cannot encode (:attr:`WorkAPI.VOICE_FORMAT`).
"""
from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy.orm import Session
from wechatpy.enterprise import create_reply, parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from bot.channels.wechat import texts
from bot.channels.wechat.api import WeChatAPI, WeChatAPIError
from bot.channels.wechat.app import WeChatChannel
from bot.channels.wechat.config import AES_KEY, ConfigError, WeChatConfig
from bot.channels.wechat.delivery import send_each
from bot.channels.wechat.protocol import MAX_BODY, SUCCESS, Callback, Rejected, fresh
from bot.config import Settings, WeChatSettings
from bot.outbox import Claim, DeliveryAdapter, Recipients, SendResult, linked_recipients

logger = logging.getLogger(__name__)

CHANNEL = "wecom"
USERID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # the characters WeCom allows in a member's UserID
REFUSED = {60111, 81013}  # no such member; no valid recipient
SLOW_DOWN = {45009, 45033}  # API quota used up; too many calls at once
SLOW_DOWN_SECONDS = 600.0
CARD_TEXT_CHARS = 100  # what a card shows of the alert under its title


# --------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class WeComConfig(WeChatConfig):
    """The WeCom app: ``app_id`` is the CorpID, ``app_secret`` the app's Secret."""

    agent_id: int = 0
    path: str = "/wecom"
    port: int = WeChatSettings.work_port
    passive_seconds: float = 0.0  # every answer by message/send (see the module docstring)

    def __post_init__(self):
        super().__post_init__()
        if self.aes_key is None or not AES_KEY.fullmatch(self.aes_key):
            raise ConfigError("XIANGYIN_WECHAT_WORK_AES_KEY must be the app's 43-character EncodingAESKey")
        if not self.app_secret:  # every answer goes by message/send
            raise ConfigError("XIANGYIN_WECHAT_WORK_SECRET is needed: the app answers by sending messages")

    @classmethod
    def from_settings(cls, settings: Settings) -> "WeComConfig | None":
        """The configuration for these settings; None when no CorpID and Token are configured."""
        wx = settings.wechat
        if not (wx.work_corp_id and wx.work_token):
            return None
        return cls(app_id=wx.work_corp_id, token=wx.work_token, aes_key=wx.work_aes_key, app_secret=wx.work_secret,
                   agent_id=wx.work_agent_id, rasa_url=settings.servers.rasa_url.rstrip("/"),
                   api_url=wx.work_api_url.rstrip("/"), listen=settings.security.bind, port=wx.work_port,
                   rate_limit=wx.rate_limit, replay_seconds=float(settings.security.replay_seconds),
                   db_url=settings.database.url, var_dir=settings.paths.var_dir)


# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class WorkApp:
    """The WeCom app's callback protocol (the methods the callback server calls)."""

    crypto: WeChatCrypto

    @classmethod
    def of(cls, token: str, aes_key: str, corp_id: str) -> "WorkApp":
        return cls(WeChatCrypto(token, aes_key, corp_id))

    def verify(self, params: Mapping[str, str]) -> str:
        """The decrypted ``echostr`` that proves we hold the key; :class:`Rejected` if unsigned."""
        try:
            return self.crypto.check_signature(params.get("msg_signature", ""), params.get("timestamp", ""),
                                               params.get("nonce", ""), params.get("echostr", ""))
        except (InvalidSignatureException, InvalidCorpIdException):
            raise Rejected(403, "bad msg_signature") from None
        except Exception as exc:  # noqa: BLE001 - base64/AES errors of a malformed echostr
            raise Rejected(400, f"cannot decrypt echostr: {type(exc).__name__}") from None

    def open(self, params: Mapping[str, str], body: bytes, now: float, window: float) -> Callback:
        fresh(params, now, window)
        if len(body) > MAX_BODY:
            raise Rejected(400, "body too large")
        try:
            xml = self.crypto.decrypt_message(body, params.get("msg_signature", ""), params.get("timestamp", ""),
                                              params.get("nonce", ""))
        except (InvalidSignatureException, InvalidCorpIdException):
            raise Rejected(403, "bad msg_signature or CorpID") from None
        except Exception as exc:  # noqa: BLE001 - wechatpy raises whatever its XML/AES/base64 steps raise
            raise Rejected(400, f"cannot decrypt: {type(exc).__name__}") from None
        try:
            message = parse_message(xml)
        except Exception as exc:  # noqa: BLE001 - malformed XML inside a genuine envelope
            raise Rejected(400, f"cannot parse: {type(exc).__name__}") from None
        if message is None or not USERID.fullmatch(str(message.source or "")):
            raise Rejected(400, "no sender")
        return Callback(message, encrypted=True)

    def reply(self, callback: Callback, text: str, now: float) -> str:
        if not text:
            return SUCCESS
        xml = create_reply(text.replace("]]>", "]] >"), message=callback.message, render=True)
        return self.crypto.encrypt_message(xml, secrets.token_hex(8), str(int(now)))


# --------------------------------------------------------------------------- API


def alert_card(claim: Claim, agent_id: int, user: str) -> dict:
    """An emergency alert as a card with the "收到，我去处理" button (``template_card``)."""
    emergency_id = int(claim.payload["emergency_id"])
    return {"touser": user, "msgtype": "template_card", "agentid": agent_id, "template_card": {
        "card_type": "button_interaction",
        "main_title": {"title": texts.ALERT_TITLE},
        "sub_title_text": claim.text[:CARD_TEXT_CHARS],
        "task_id": f"alert-{claim.outbox_id}-{claim.attempt}-{secrets.token_hex(4)}",
        "button_list": [{"text": texts.ACK_BUTTON, "style": 1, "key": f"ack-emergency:{emergency_id}"}],
    }}


def wants_acknowledgement(claim: Claim) -> bool:
    return claim.kind == "emergency" and claim.payload.get("expects") == "acknowledge" \
        and bool(claim.payload.get("emergency_id"))


class WorkAPI(WeChatAPI):
    """The WeCom server API for one app (``app_id`` = CorpID, ``app_secret`` = the app's Secret)."""

    TOKEN_PATH = "/cgi-bin/gettoken"  # nosec B105 - the path of WeCom's token call, not a password
    SEND_PATH = "/cgi-bin/message/send"
    VOICE_FORMAT = None  # WeCom plays AMR voice messages only, which this ffmpeg cannot encode

    def __init__(self, *args, agent_id: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent_id = agent_id

    def _token_params(self) -> dict[str, str]:
        return {"corpid": self.app_id, "corpsecret": self._secret or ""}

    def _text_body(self, user: str, text: str) -> dict:
        return {"touser": user, "msgtype": "text", "agentid": self.agent_id, "text": {"content": text}}

    async def post_json(self, path: str, body: dict) -> dict:
        answer = await super().post_json(path, body)
        if answer.get("invaliduser"):  # WeCom says errcode 0 and names the members it could not reach
            raise WeChatAPIError(81013, f"invalid user {answer['invaliduser']}")
        return answer

    async def send_alert(self, user: str, claim: Claim) -> None:
        await self.post_json(self.SEND_PATH, alert_card(claim, self.agent_id, user))

    async def close_card(self, user: str, response_code: str) -> None:
        """The pressed card's button becomes a label ("已处理"), so it is not pressed again
        (``update_template_card`` with the ``ResponseCode`` of the button event)."""
        await self.post_json("/cgi-bin/message/update_template_card", {
            "userids": [user], "agentid": self.agent_id, "response_code": response_code,
            "button": {"replace_name": texts.ACK_PRESSED}})


# --------------------------------------------------------------------------- delivery


class WeComDelivery(DeliveryAdapter):
    """The outbox through the WeCom app (see the module docstring)."""

    channel = CHANNEL

    def __init__(self, api: WorkAPI | None = None):
        self.api = api

    def recipients(self, s: Session) -> Recipients:
        return linked_recipients(s, CHANNEL, accepts=lambda external_id: bool(USERID.fullmatch(external_id)))

    async def send(self, claim: Claim) -> SendResult:
        codes = dict(refused_codes=REFUSED, slow_down_codes=SLOW_DOWN, pause_seconds=SLOW_DOWN_SECONDS)
        if wants_acknowledgement(claim):
            return await send_each(claim, lambda user: self.api.send_alert(user, claim), **codes)
        return await send_each(claim, lambda user: self.api.send_text(user, claim.text), **codes)


# --------------------------------------------------------------------------- the channel


class WeComChannel(WeChatChannel):
    """The staff's WeCom app: the Official Account's channel with WeCom's protocol, API and outbox."""

    CHANNEL = CHANNEL
    config: WeComConfig

    def _protocol(self) -> Any:
        return WorkApp.of(self.config.token, self.config.aes_key or "", self.config.app_id)

    def _api(self) -> WorkAPI:
        config = self.config
        return WorkAPI(config.api_url, config.app_id, config.app_secret, config.api_timeout, agent_id=config.agent_id)

    def _delivery(self) -> DeliveryAdapter:
        return WeComDelivery()
