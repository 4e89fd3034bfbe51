"""The WeChat channel's configuration: the ``settings.wechat`` section of
:class:`bot.config.Settings` plus the channel's own tuning knobs."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from bot.channels import turn
from bot.config import Settings, WeChatSettings

AES_KEY = re.compile(r"[A-Za-z0-9]{43}")  # EncodingAESKey: 43 characters from the account's settings page
TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")
TEMPLATE_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")  # a template's {{name.DATA}} name  # the alphabet and length WeChat allows for Token


class ConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class WeChatConfig:
    app_id: str
    token: str = dataclasses.field(repr=False)
    rasa_url: str
    aes_key: str | None = dataclasses.field(default=None, repr=False)  # None: plain mode only
    app_secret: str | None = dataclasses.field(default=None, repr=False)  # None: no 客服消息 (passive replies only)
    api_url: str = WeChatSettings.api_url
    listen: str = "127.0.0.1"
    port: int = WeChatSettings.port
    path: str = "/wechat"  # the callback path (the URL on the account's server configuration page)
    rate_limit: int = WeChatSettings.rate_limit  # messages per user per rate_window seconds
    rate_window: float = 60.0
    max_chars: int = 500  # a longer message is refused politely (turn.TOO_LONG)
    passive_seconds: float = 4.0  # answer in the callback's own response when the turn is done by then
    replay_seconds: float = 300.0  # a callback's timestamp may be this far from our clock
    outbox_interval: float | None = 10.0  # seconds between outbox deliveries; None: no delivery loop
    rasa_timeout: float = 60.0
    api_timeout: float = 15.0
    db_url: str | None = dataclasses.field(default=None, repr=False)  # None: the configured database
    var_dir: Path | None = None  # photos go to <var_dir>/uploads/; None: the configured var folder
    template_id: str | None = None  # notices outside the 48-hour window as this template message; None: refused
    template_text_field: str = WeChatSettings.template_text_field
    template_text_chars: int = WeChatSettings.template_text_chars
    template_time_field: str | None = None

    def __post_init__(self):
        if not TOKEN.fullmatch(self.token):
            raise ConfigError("XIANGYIN_WECHAT_TOKEN must be 3-32 letters or digits (as WeChat allows)")
        if self.aes_key is not None and not AES_KEY.fullmatch(self.aes_key):
            raise ConfigError("XIANGYIN_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
        if self.template_id is not None and not (TEMPLATE_FIELD.fullmatch(self.template_text_field) and (
                self.template_time_field is None or TEMPLATE_FIELD.fullmatch(self.template_time_field))):
            raise ConfigError("XIANGYIN_WECHAT_TEMPLATE_TEXT_FIELD and XIANGYIN_WECHAT_TEMPLATE_TIME_FIELD must be "
                              "template field names such as thing1")
        if self.template_text_chars < 2:
            raise ConfigError("XIANGYIN_WECHAT_TEMPLATE_TEXT_CHARS must be at least 2")
        if self.max_chars > turn.MAX_CHARS:
            raise ConfigError(f"max_chars may not exceed the REST channel's limit ({turn.MAX_CHARS})")

    @classmethod
    def from_settings(cls, settings: Settings) -> "WeChatConfig | None":
        """The configuration for these settings; None when no AppID and Token are configured."""
        wx = settings.wechat
        if not (wx.app_id and wx.token):
            return None
        return cls(app_id=wx.app_id, token=wx.token, aes_key=wx.aes_key, app_secret=wx.app_secret,
                   rasa_url=settings.servers.rasa_url.rstrip("/"), api_url=wx.api_url.rstrip("/"),
                   listen=settings.security.bind, port=wx.port, rate_limit=wx.rate_limit,
                   replay_seconds=float(settings.security.replay_seconds), db_url=settings.database.url,
                   var_dir=settings.paths.var_dir, template_id=wx.template_id,
                   template_text_field=wx.template_text_field, template_text_chars=wx.template_text_chars,
                   template_time_field=wx.template_time_field)
