"""Telegram buttons with PTB's arbitrary callback data (bot/channels/telegram/keyboards.py):
Telegram only ever sees short keys, and with a buttons file the payloads behind them survive a
restart of the bot — a satisfaction survey pushed yesterday still works today. Rasa is not
needed: a press that resolves is passed on as the next message, which here gets the busy reply."""
from __future__ import annotations

from bot.channels import turn
from bot.channels.telegram.texts import BUTTON_EXPIRED
from bot.db import session_scope
from bot.linking import link_with_code
from tests.support.fake_telegram import FakeTelegram, TgUser, add_notification, code_for, new_tg_id, run, telegram, texts


def test_button_payloads_survive_a_restart(seeded_db, tmp_path):
    tg, buttons = new_tg_id(), tmp_path / "buttons.pickle"
    with session_scope(write=True) as s:
        user_id = link_with_code(s, "telegram", str(tg), code_for("hh048")).id
    add_notification(user_id, "请您对办理结果评价：满意、基本满意或不满意？")

    async def scenario():
        fake = FakeTelegram()
        await fake.start()
        try:
            async with telegram(fake=fake, buttons_file=buttons) as (_, channel):
                assert await channel.deliver_outbox_once() == 1
            survey = fake.to(tg)[-1]["markup"]["inline_keyboard"]
            keys = [button["callback_data"] for row in survey for button in row]
            async with telegram(fake=fake, buttons_file=buttons):  # restarted, same buttons file
                kept = texts(await TgUser(fake, tg).press(keys[0]))
            async with telegram(fake=fake):  # restarted without it: the key means nothing
                expired = texts(await TgUser(fake, tg).press(keys[0]))
            return keys, kept, expired
        finally:
            await fake.stop()

    keys, kept, expired = run(scenario())
    assert len(keys) == 3 and all(len(key.encode()) <= 64 and "满意" not in key for key in keys)
    assert kept == turn.BUSY  # "满意" went on to Rasa (unreachable in this test)
    assert expired == BUTTON_EXPIRED
