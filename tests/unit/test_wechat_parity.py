"""The WeChat channel's additions for parity with Telegram, in their pure parts: message keys kept
in the database across restarts and replicas, the text commands that stand in for slash
commands, the template message a notice outside the 48-hour window becomes, and the settings
behind it. Through the real servers and the fake platform: tests/e2e/test_wechat.py."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, func, select

from bot.channels.wechat import texts
from bot.channels.wechat.accounts import command_of, is_phone_link, link_code
from bot.channels.wechat.config import ConfigError, WeChatConfig
from bot.channels.wechat.delivery import Template
from bot.channels.wechat.limits import DurableSeenMessages
from bot.config import load_settings
from bot.models import RequestNonce
from tests.support.fake_wechat import AES_KEY, APP_ID, TOKEN


@pytest.fixture
def nonce_db(tmp_path) -> str:
    """A SQLite database with the request_nonces table (the one the channel shares with devices)."""
    url = f"sqlite:///{tmp_path / 'nonces.db'}"
    engine = create_engine(url)
    RequestNonce.__table__.create(engine)
    engine.dispose()
    return url


def _rows(url: str, namespace: str | None = None) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            query = select(func.count()).select_from(RequestNonce)
            if namespace is not None:
                query = query.where(RequestNonce.device_id == namespace)
            return c.execute(query).scalar()
    finally:
        engine.dispose()


def test_a_message_key_seen_before_a_restart_or_by_another_replica_is_refused(nonce_db):
    first = DurableSeenMessages(nonce_db, "#wechat", APP_ID)
    assert first.first_time("msg:77001") and not first.first_time("msg:77001")
    restarted, replica = (DurableSeenMessages(nonce_db, "#wechat", APP_ID) for _ in range(2))
    assert not restarted.first_time("msg:77001") and not replica.first_time("msg:77001")
    assert replica.first_time("msg:77002")
    # Another account on the same database, and the WeCom app, have MsgIds of their own.
    assert DurableSeenMessages(nonce_db, "#wechat", "wx0therAccount").first_time("msg:77001")
    assert DurableSeenMessages(nonce_db, "#wecom", APP_ID).first_time("msg:77001")
    assert _rows(nonce_db, "#wechat") == 3 and _rows(nonce_db, "#wecom") == 1


def test_message_keys_expire_and_only_the_channels_own_rows_are_swept(nonce_db):
    now = [dt.datetime(2026, 5, 1, 8, 0)]
    seen = DurableSeenMessages(nonce_db, "#wechat", APP_ID, ttl=600, sweep_every=0, clock=lambda: now[0])
    assert seen.first_time("msg:1")
    engine = create_engine(nonce_db)
    with engine.begin() as c:  # a voice device's nonce, as bot/security/devices.py stores it
        c.execute(RequestNonce.__table__.insert().values(device_id="voice-001", nonce="ab" * 16,
                                                         seen_at=dt.datetime(2026, 5, 1, 7, 0)))
    engine.dispose()
    now[0] += dt.timedelta(seconds=599)
    assert not seen.first_time("msg:1")
    now[0] += dt.timedelta(seconds=2)
    assert seen.first_time("msg:1")  # WeChat stopped retrying long ago: a new message
    assert _rows(nonce_db, "voice-001") == 1  # the device's nonces are the devices' business


def test_the_namespace_can_never_be_a_device_id():
    from bot.security.devices import DEVICE_ID

    assert not DEVICE_ID.match("#wechat")
    with pytest.raises(ValueError):
        DurableSeenMessages(None, "wechat")


def test_without_its_database_the_channel_keeps_message_keys_in_memory(tmp_path):
    seen = DurableSeenMessages(f"sqlite:///{tmp_path / 'no-such-table.db'}", "#wechat", APP_ID)
    assert seen.first_time("msg:5") and not seen.first_time("msg:5")


@pytest.mark.parametrize("typed, command", [
    ("/myqueue", "queue"), ("我的待办", "queue"), ("我的待办。", "queue"), (" 待办 ", "queue"),
    ("／ｍｙｑｕｅｕｅ", None), ("/MyQueue", "queue"),
    ("/voice", "voice"), ("语音回复", "voice"), ("打开语音回复", "voice_on"), ("关掉语音回复", "voice_off"),
    ("/points", "points"), ("查积分", "points"), ("/mygrievances", "grievances"), ("我反映的事", "grievances"),
    ("/help", "help"), ("帮助", "help"), ("/start", "help"),
    ("我家有多少积分", None), ("我的待办有几件", None), ("语音回复怎么用", None), ("", None),
])
def test_text_commands_in_slash_and_chinese_form(typed, command):
    assert command_of(typed) == command


@pytest.mark.parametrize("typed, code", [
    ("绑定 123456", "123456"), ("/link 123456", "123456"), ("绑定码：１２３４５６", "123456"), ("绑定", ""),
    ("我想绑定一下", None),
])
def test_link_commands(typed, code):
    assert link_code(typed) == code


@pytest.mark.parametrize("typed, phone", [
    ("绑定 13812345678", True), ("13812345678", True), ("138-1234-5678", True), ("+8613812345678", True),
    ("手机号绑定", True), ("/phone", True), ("绑定 123456", False), ("我家有多少积分", False), ("12345678901", False),
])
def test_a_phone_number_offered_for_linking_is_recognised(typed, phone):
    assert is_phone_link(typed) is phone


def test_the_help_and_linking_texts_say_how_to_link_and_that_phone_numbers_cannot_be_used():
    for text in (texts.HOW_TO_LINK, texts.PHONE_LINK_UNAVAILABLE):
        assert "绑定 123456" in text and "手机号" in text
    for command in ("我的待办", "语音回复", "查积分", "我反映的事", "绑定"):
        assert command in texts.HELP


def test_a_notice_in_a_template_is_one_line_cut_to_the_field_and_carries_village_time():
    template = Template("tmpl", "thing1", 20, "time2")
    long = "您反映的村口路灯坏了这件事已经办结，\n请回复满意、基本满意或不满意。"
    data = template.data(long, dt.datetime(2026, 5, 1, 6, 30))
    assert len(data["thing1"]) == 20 and data["thing1"].endswith(texts.TEMPLATE_CUT) and "\n" not in data["thing1"]
    assert data["time2"] == "2026-05-01 14:30"  # village time (UTC+8)
    assert Template("tmpl", "keyword1", 200).data("短通知") == {"keyword1": "短通知"}


def test_template_settings_come_from_the_environment(tmp_path):
    env = {"XIANGYIN_VAR_DIR": str(tmp_path), "XIANGYIN_WECHAT_APP_ID": APP_ID, "XIANGYIN_WECHAT_TOKEN": TOKEN,
           "XIANGYIN_WECHAT_TEMPLATE_ID": "Xy7Tmpl", "XIANGYIN_WECHAT_TEMPLATE_TEXT_FIELD": "keyword1",
           "XIANGYIN_WECHAT_TEMPLATE_TEXT_CHARS": "40", "XIANGYIN_WECHAT_TEMPLATE_TIME_FIELD": "keyword2"}
    config = WeChatConfig.from_settings(load_settings(env))
    assert (config.template_id, config.template_text_field, config.template_text_chars,
            config.template_time_field) == ("Xy7Tmpl", "keyword1", 40, "keyword2")
    unset = WeChatConfig.from_settings(load_settings({k: v for k, v in env.items() if "TEMPLATE" not in k}))
    assert (unset.template_id, unset.template_text_field, unset.template_time_field) == (None, "thing1", None)


@pytest.mark.parametrize("change", [{"template_text_field": "thing1.DATA"}, {"template_time_field": "{{time2}}"},
                                    {"template_text_chars": 1}])
def test_template_configuration_wechat_would_refuse_is_refused(change):
    with pytest.raises(ConfigError):
        WeChatConfig(app_id=APP_ID, token=TOKEN, rasa_url="http://127.0.0.1:9", aes_key=AES_KEY,
                     template_id="Xy7Tmpl", **change)
