"""What a WeChat user (an openid of the Official Account, or a WeCom member's UserID) is to the
domain: the channels' shared account logic (:mod:`bot.channels.accounts`: linking by one-time
code, voice replies, the staff queue, alerts, photos) with the WeChat wording, and the text
commands that stand in for Telegram's slash commands (WeChat has none): both the slash form
and Chinese words are accepted (:func:`command_of`).

WeChat shares no phone number with an Official Account or a WeCom app's callbacks, so the only
way to link is the office's one-time code; a phone number sent in its place is answered with
how to get a code (:data:`~.texts.PHONE_LINK_UNAVAILABLE`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.channels.accounts import RECENT_FILING, ChannelAccounts  # noqa: F401 - re-exported
from bot.channels.wechat import texts as wechat_texts

CHANNEL = "wechat"
# "绑定 123456", "绑定码：123456", "/link 123456" (full-width digits and spaces are normalised first).
LINK_COMMAND = re.compile(r"^(?:/link|绑定码?|绑定身份)\s*[:：]?\s*(\d*)\s*$", re.IGNORECASE)
PHONE_NUMBER = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")  # a mainland mobile number
PHONE_COMMAND = re.compile(r"^(?:/phone|/contact|手机号绑定|用手机号绑定|手机绑定)$", re.IGNORECASE)

# Commands by what a user may type (compared without spaces, trailing punctuation and case).
COMMANDS = {
    "queue": ("/myqueue", "我的待办", "待办", "待办事项", "我的任务"),
    "voice": ("/voice", "语音回复"),
    "voice_on": ("打开语音回复", "开语音回复", "开启语音回复"),
    "voice_off": ("关掉语音回复", "关闭语音回复", "关语音回复"),
    "points": ("/points", "查积分"),
    "grievances": ("/mygrievances", "我反映的事"),
    "help": ("/help", "/start", "帮助", "怎么用"),
}
_COMMAND_OF = {alias.lower(): name for name, aliases in COMMANDS.items() for alias in aliases}
_TRAILING = "。.!！?？~～ \u3000"


def sender_id(openid: str, channel: str = CHANNEL) -> str:
    return f"{channel}:{openid}"


_FULL_WIDTH = str.maketrans("０１２３４５６７８９\u3000／", "0123456789 /")


def _normal(text: str) -> str:
    return text.strip().translate(_FULL_WIDTH)


def link_code(text: str) -> str | None:
    """The code of a link command ("" when the command has none); None when ``text`` is no link command."""
    found = LINK_COMMAND.match(_normal(text))
    return found.group(1) if found else None


def is_phone_link(text: str) -> bool:
    """A phone number offered for linking ("绑定 13812345678", "13812345678", "手机号绑定"): WeChat
    cannot vouch that it is the sender's, so it is never used (see the module docstring)."""
    normal = re.sub(r"[\s-]", "", _normal(text)).rstrip(_TRAILING)
    code = link_code(normal) if not PHONE_NUMBER.match(normal) else normal
    return bool(PHONE_COMMAND.match(normal) or (code and PHONE_NUMBER.match(code)))


def command_of(text: str) -> str | None:
    """The command a message is (``queue``, ``voice``, ``voice_on``, ``voice_off``, ``points``,
    ``grievances``, ``help``), or None for anything else (which goes to Rasa)."""
    normal = re.sub(r"\s", "", _normal(text)).rstrip(_TRAILING).lower()
    return _COMMAND_OF.get(normal)


@dataclass(frozen=True)
class Accounts(ChannelAccounts):
    """The domain as the WeChat channel sees it; ``channel`` is ``wechat`` for the Official
    Account, ``wecom`` for the staff's WeCom app."""

    var_dir: Path | None = None
    db_url: str | None = None
    channel: str = CHANNEL
    texts = wechat_texts
