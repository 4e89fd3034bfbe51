"""``python -m bot.channels.wechat``: the WeChat Official Account and/or the staff's WeCom app,
whichever is configured (see :mod:`.app` and :mod:`.wecom`)."""
from __future__ import annotations

import asyncio
import logging
import sys

from bot.config import Settings, SettingsError, load_settings, quiet_libraries


async def _serve_all(channels: list) -> None:
    await asyncio.gather(*(channel.serve_forever() for channel in channels))


def main(settings: Settings | None = None) -> int:
    """``python -m bot.channels.wechat``: the Official Account and/or the staff's WeCom app,
    whichever is configured; 0 after a clean stop (or when neither is configured)."""
    from bot.channels.wechat import texts
    from bot.channels.wechat.app import WeChatChannel
    from bot.channels.wechat.config import ConfigError, WeChatConfig
    from bot.channels.wechat.wecom import WeComChannel, WeComConfig

    try:
        settings = settings or load_settings()
        official, work = WeChatConfig.from_settings(settings), WeComConfig.from_settings(settings)
    except (SettingsError, ConfigError) as exc:
        print(texts.CONFIG_ERROR.format(error=exc), file=sys.stderr)
        return 2
    if official is None and work is None:
        print(texts.NOT_CONFIGURED_HELP)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs carry the access token
    channels = ([WeChatChannel(official, settings=settings)] if official else []) + \
               ([WeComChannel(work, settings=settings)] if work else [])
    try:
        asyncio.run(_serve_all(channels))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    quiet_libraries()
    sys.exit(main())
