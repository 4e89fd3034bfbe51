"""The Telegram channel's pure parts: buttons and quick replies as inline keyboards, and the
bot token kept out of the logs. The channel end to end: tests/e2e/test_telegram.py."""
from __future__ import annotations

from bot.channels.telegram.app import RedactingFormatter
from bot.channels.telegram.keyboards import keyboard, quick_replies

TOKEN = "424242:FAKE-token-for-tests"


def test_buttons_and_quick_replies_render_as_inline_keyboards():
    from telegram import CallbackQuery, User as TgAccount
    from telegram.ext import ExtBot

    long_payload = '/choose_option{"number":"1","note":"' + "很长" * 30 + '"}'
    markup = keyboard({"text": "您是想问哪一个？", "buttons": [
        {"title": "低保申请", "payload": '/choose_option{"number":"1"}'},
        {"title": "别的", "payload": long_payload}]})
    assert [row[0].callback_data for row in markup.inline_keyboard] == ['/choose_option{"number":"1"}', long_payload]
    # PTB's arbitrary callback data sends Telegram short keys and maps them back to the payloads.
    cache = ExtBot(TOKEN, arbitrary_callback_data=True).callback_data_cache
    keys = [row[0].callback_data for row in cache.process_keyboard(markup).inline_keyboard]
    assert all(len(key.encode()) <= 64 for key in keys)
    query = CallbackQuery("q1", TgAccount(1, "村民", False), "ci", data=keys[1])
    cache.process_callback_query(query)
    assert query.data == long_payload
    assert quick_replies("我念一遍：……对吗？对就说“对”，不对就说“不对”。") == ["对", "不对"]
    assert quick_replies("这事急不急？说“很急”或者“不急”。") == ["很急", "不急"]
    assert quick_replies("请找村委会要个绑定码，在电报里发“/link 绑定码”。") == []


def test_token_is_redacted_from_logs():
    import logging

    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "POST %s", (f"https://x/bot{TOKEN}/getMe",), None)
    assert TOKEN not in RedactingFormatter(TOKEN).format(record)
