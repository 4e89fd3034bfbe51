"""The WeChat channel's pure parts: the callback protocol (signatures, 安全模式, passive replies)
checked against the fake platform's own implementation of WeChat's documentation
(tests/support/fake_wechat.py, written without wechatpy), message keys, limits, rendering,
link commands and configuration. Through the real servers: tests/e2e/test_wechat.py."""
from __future__ import annotations

import dataclasses
import time

import pytest

from bot.channels.wechat import texts
from bot.channels.wechat.accounts import link_code, sender_id
from bot.channels.wechat.api import split_text
from bot.channels.wechat.config import ConfigError, WeChatConfig
from bot.channels.wechat.limits import RateLimiter, SeenMessages
from bot.channels.wechat.protocol import (
    SUCCESS,
    Keys,
    Rejected,
    dedupe_key,
    open_callback,
    reply_body,
    verify_url,
)
from bot.channels.wechat.render import Choices, reply_text
from bot.channels.wechat.server import plan
from bot.config import load_settings
from tests.support.fake_wechat import (
    AES_KEY,
    APP_ID,
    TOKEN,
    Signed,
    decrypt,
    fields,
    message_xml,
    new_openid,
    sign,
    signed,
)

KEYS = Keys.of(TOKEN, APP_ID, AES_KEY)
WINDOW = 300.0


def _open(request: Signed, keys: Keys = KEYS, now: float | None = None):
    return open_callback(keys, request.params, request.body, now or time.time(), WINDOW)


def _text(openid: str, content: str = "你好", msg_id: int = 1234567890123456) -> str:
    return message_xml(openid, "text", msg_id, Content=content)


# --------------------------------------------------------------------------- URL verification


def test_url_verification_echoes_only_a_signed_check():
    stamp, nonce = str(int(time.time())), "n0nce"
    good = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce, "echostr": "4711echo"}
    assert verify_url(TOKEN, good) == "4711echo"
    with pytest.raises(Rejected) as refused:
        verify_url(TOKEN, {**good, "signature": sign("another-token", stamp, nonce)})
    assert refused.value.status == 403
    with pytest.raises(Rejected):
        verify_url(TOKEN, {"echostr": "x"})


# --------------------------------------------------------------------------- callbacks


@pytest.mark.parametrize("encrypted", [False, True])
def test_a_signed_callback_opens_to_its_message(encrypted):
    openid = new_openid()
    callback = _open(signed(_text(openid, "村口路灯坏了"), openid, encrypted=encrypted))
    assert callback.encrypted is encrypted
    assert callback.openid == openid and callback.message.type == "text"
    assert callback.message.content == "村口路灯坏了"


@pytest.mark.parametrize("encrypted", [False, True])
def test_callbacks_not_signed_with_our_token_are_refused(encrypted):
    openid = new_openid()
    forged = signed(_text(openid), openid, encrypted=encrypted, token="NotOurToken1")
    with pytest.raises(Rejected) as refused:
        _open(forged)
    assert refused.value.status == 403


def test_an_encrypted_body_with_a_wrong_msg_signature_is_refused():
    openid = new_openid()
    request = signed(_text(openid), openid, encrypted=True)
    tampered = Signed({**request.params, "msg_signature": sign(TOKEN, "1", "2", "3")}, request.body)
    with pytest.raises(Rejected) as refused:
        _open(tampered)
    assert refused.value.status == 403


def test_a_replayed_callback_outside_the_window_is_refused():
    openid = new_openid()
    old = signed(_text(openid), openid, timestamp=int(time.time()) - 3600)
    with pytest.raises(Rejected) as refused:
        _open(old)
    assert refused.value.status == 403


def test_encrypted_callbacks_need_the_aes_key_and_garbage_is_a_bad_request():
    openid = new_openid()
    with pytest.raises(Rejected) as no_key:
        _open(signed(_text(openid), openid, encrypted=True), keys=Keys.of(TOKEN, APP_ID, None))
    assert no_key.value.status == 400
    for body in (b"<xml><MsgType>text", b"not xml", b"<xml><Content>x</Content></xml>", b"\xff\xfe"):
        good = signed("<xml/>", openid)
        with pytest.raises(Rejected) as bad:
            _open(Signed(good.params, body))
        assert bad.value.status == 400


def test_a_sender_that_is_no_openid_is_refused():
    request = signed(_text("wechat:../../etc"), "x")
    with pytest.raises(Rejected):
        _open(request)


@pytest.mark.parametrize("encrypted", [False, True])
def test_the_passive_reply_goes_back_to_the_sender_encrypted_when_the_callback_was(encrypted):
    openid = new_openid()
    callback = _open(signed(_text(openid), openid, encrypted=encrypted))
    body = reply_body(KEYS, callback, "您好]]>，有事请说", time.time())
    reply = fields(body)
    if encrypted:
        assert reply["MsgSignature"] == sign(TOKEN, reply["TimeStamp"], reply["Nonce"], reply["Encrypt"])
        plaintext, app_id = decrypt(reply["Encrypt"])
        assert app_id == APP_ID
        reply = fields(plaintext)
    assert reply["ToUserName"] == openid and reply["MsgType"] == "text"
    assert reply["Content"].startswith("您好]]") and reply["Content"].endswith("，有事请说")
    assert reply_body(KEYS, callback, "", time.time()) == SUCCESS


def test_message_keys_survive_retries_and_tell_events_apart():
    openid = new_openid()
    first = _open(signed(_text(openid, msg_id=42), openid)).message
    retry = _open(signed(_text(openid, msg_id=42), openid, encrypted=True)).message
    other = _open(signed(_text(openid, msg_id=43), openid)).message
    assert dedupe_key(first) == dedupe_key(retry) != dedupe_key(other)
    subscribe = message_xml(openid, "event", create_time=1700000000, Event="subscribe")
    event = _open(signed(subscribe, openid)).message
    assert dedupe_key(event) == dedupe_key(_open(signed(subscribe, openid)).message)
    later = message_xml(openid, "event", create_time=1700000001, Event="subscribe")
    assert dedupe_key(event) != dedupe_key(_open(signed(later, openid)).message)


# --------------------------------------------------------------------------- limits


def test_seen_messages_are_remembered_for_the_retry_window_only():
    now = [1000.0]
    seen = SeenMessages(ttl=60, clock=lambda: now[0])
    assert seen.first_time("msg:1") and not seen.first_time("msg:1") and seen.first_time("msg:2")
    now[0] += 61
    assert seen.first_time("msg:1")


def test_seen_messages_keep_at_most_their_limit():
    seen = SeenMessages(limit=3, clock=lambda: 0.0)
    for key in "abcd":
        assert seen.first_time(key)
    assert seen.first_time("a")  # the oldest went first


def test_rate_limit_and_one_warning_per_window():
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.allow("u") and limiter.allow("u") and not limiter.allow("u")
    assert limiter.should_warn("u") and not limiter.should_warn("u")
    now[0] += 60
    assert limiter.allow("u")


# --------------------------------------------------------------------------- texts


def test_long_answers_are_split_under_the_byte_limit_at_line_ends():
    lines = [f"第{i}条：" + "村" * 40 for i in range(60)]
    pieces = split_text("\n".join(lines), limit=600)
    assert len(pieces) > 1 and all(len(p.encode("utf-8")) <= 600 for p in pieces)
    assert "\n".join(pieces) == "\n".join(lines)
    one_line = "啊" * 1000
    assert "".join(split_text(one_line, limit=600)) == one_line
    assert all(len(p.encode("utf-8")) <= 600 for p in split_text(one_line, limit=600))


def test_the_passive_reply_carries_the_whole_answer_when_it_fits():
    assert plan(["您家有80分。", "还要听别的吗？"]) == ("您家有80分。\n\n还要听别的吗？", [])
    assert plan([]) == ("", [])
    passive, rest = plan(["村" * 700, "镇" * 700])  # 4200 bytes: more than one message holds
    assert passive == "村" * 666 and all(len(p.encode("utf-8")) <= 2000 for p in rest)  # cut by characters
    assert "".join([passive, *rest]).replace("\n", "") == "村" * 700 + "镇" * 700


def test_buttons_become_a_line_of_choices_and_a_typed_title_sends_its_payload():
    replies = [{"text": "您要反映哪类问题？", "buttons": [{"title": "道路", "payload": '/choose{"n":"1"}'},
                                                   {"title": "路灯", "payload": '/choose{"n":"2"}'}]}]
    assert reply_text(replies[0]) == "您要反映哪类问题？\n" + texts.CHOICES.format(options="道路、路灯")
    choices = Choices()
    user = sender_id(new_openid())
    choices.remember(user, replies)
    assert choices.message_for(user, " 路灯 ") == '/choose{"n":"2"}'
    assert choices.message_for(user, "别的") == "别的"
    assert choices.message_for(sender_id(new_openid()), "路灯") == "路灯"  # offered to somebody else
    assert choices.message_for(user, '/choose{"n":"9"}') == 'choose{"n":"9"}'  # never a forged command
    choices.remember(user, [{"text": "好的"}])
    assert choices.message_for(user, "路灯") == "路灯"  # the last answer offered nothing


@pytest.mark.parametrize("text, code", [
    ("绑定 123456", "123456"), ("绑定码：１２３４５６", "123456"), ("/link 654321", "654321"),
    ("绑定", ""), ("绑定身份", ""), ("我想绑定一下", None), ("123456", None), ("你好", None),
])
def test_link_commands(text, code):
    assert link_code(text) == code


# --------------------------------------------------------------------------- configuration


def test_configuration_from_settings_masks_its_secrets(tmp_path):
    secret_file = tmp_path / "app-secret"
    secret_file.write_text("s3cr3t-app-secret\n")
    settings = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path), "XIANGYIN_WECHAT_APP_ID": APP_ID,
                              "XIANGYIN_WECHAT_TOKEN": TOKEN, "XIANGYIN_WECHAT_AES_KEY": AES_KEY,
                              "XIANGYIN_WECHAT_APP_SECRET_FILE": str(secret_file), "XIANGYIN_BIND": "10.0.0.5",
                              "XIANGYIN_WECHAT_PORT": "5999"})
    config = WeChatConfig.from_settings(settings)
    assert (config.app_secret, config.listen, config.port) == ("s3cr3t-app-secret", "10.0.0.5", 5999)
    for shown in (repr(settings), repr(settings.wechat), repr(config)):
        assert TOKEN not in shown and AES_KEY not in shown and "s3cr3t" not in shown
    assert WeChatConfig.from_settings(load_settings({"XIANGYIN_VAR_DIR": str(tmp_path)})) is None


@pytest.mark.parametrize("change, problem", [
    ({"token": "no spaces allowed"}, "TOKEN"), ({"aes_key": "short"}, "AES_KEY"), ({"max_chars": 10 ** 6}, "max_chars"),
])
def test_configuration_refuses_values_wechat_would_not_accept(change, problem):
    good = WeChatConfig(app_id=APP_ID, token=TOKEN, rasa_url="http://127.0.0.1:9", aes_key=AES_KEY)
    with pytest.raises(ConfigError, match=problem):
        dataclasses.replace(good, **change)


# --------------------------------------------------------------------------- delivery


def test_only_openids_are_delivery_addresses():
    from bot.channels.wechat.delivery import is_openid

    assert is_openid(new_openid()) and not is_openid("4711 ") and not is_openid("") and not is_openid("a/b")


# --------------------------------------------------------------------------- WeCom


def _work(xml: str, **kwargs):
    from bot.channels.wechat.wecom import WorkApp
    from tests.support.fake_wechat import CORP_ID, WORK_AES_KEY, WORK_TOKEN, work_signed

    request = work_signed(xml, **kwargs)
    return WorkApp.of(WORK_TOKEN, WORK_AES_KEY, CORP_ID).open(request.params, request.body, time.time(), WINDOW)


def _card_press(userid: str) -> str:
    return message_xml(userid, "event", Event="template_card_event", EventKey="ack-emergency:12", TaskId="t1",
                       CardType="button_interaction")


def test_wecom_callbacks_decrypt_only_with_our_token_and_corp_id():
    from bot.channels.wechat.handlers import event_of, message_type

    callback = _work(_card_press("wangxiulan"))
    assert callback.openid == "wangxiulan" and callback.encrypted
    assert message_type(callback.message) == "event"
    assert event_of(callback.message) == ("template_card_event", "ack-emergency:12")
    for forged in ({"token": "NotOurs99"}, {"corp_id": "wwanothercorp"}):
        with pytest.raises(Rejected) as refused:
            _work(_card_press("wangxiulan"), **forged)
        assert refused.value.status == 403


def test_wecom_url_verification_answers_the_decrypted_echostr():
    from bot.channels.wechat.wecom import WorkApp
    from tests.support.fake_wechat import CORP_ID, WORK_AES_KEY, WORK_TOKEN, encrypt

    app = WorkApp.of(WORK_TOKEN, WORK_AES_KEY, CORP_ID)
    echo = encrypt("5150515", CORP_ID, WORK_AES_KEY)
    params = {"timestamp": "1700000000", "nonce": "n", "echostr": echo}
    assert app.verify({**params, "msg_signature": sign(WORK_TOKEN, "1700000000", "n", echo)}) == "5150515"
    with pytest.raises(Rejected):
        app.verify({**params, "msg_signature": sign("NotOurs99", "1700000000", "n", echo)})


def test_an_alert_waiting_for_a_responder_becomes_a_card_with_the_take_charge_button():
    from bot.channels.wechat.handlers import ACK_KEY
    from bot.channels.wechat.wecom import alert_card, wants_acknowledgement
    from bot.outbox import Claim

    alert = Claim(7, "紧急求助：41号黄桂芳家说“救命”，请马上联系！", ("wangxiulan",), 1, kind="emergency",
                  payload={"emergency_id": 12, "expects": "acknowledge"})
    card = alert_card(alert, 1000002, "wangxiulan")
    assert wants_acknowledgement(alert) and card["agentid"] == 1000002 and card["touser"] == "wangxiulan"
    (button,) = card["template_card"]["button_list"]
    assert button["text"] == texts.ACK_BUTTON and ACK_KEY.match(button["key"]).group(1) == "12"
    assert card["template_card"]["sub_title_text"] == alert.text
    taken = dataclasses.replace(alert, kind="emergency_taken", payload={"emergency_id": 12})
    assert not wants_acknowledgement(taken)


def test_the_wecom_app_needs_its_key_and_secret(tmp_path):
    from bot.channels.wechat.wecom import WeComConfig

    base = {"XIANGYIN_VAR_DIR": str(tmp_path), "XIANGYIN_WECHAT_WORK_CORP_ID": "ww1",
            "XIANGYIN_WECHAT_WORK_TOKEN": TOKEN, "XIANGYIN_WECHAT_WORK_AGENT_ID": "1000002"}
    assert WeComConfig.from_settings(load_settings({"XIANGYIN_VAR_DIR": str(tmp_path)})) is None
    with pytest.raises(ConfigError, match="AES_KEY"):
        WeComConfig.from_settings(load_settings(base))
    with pytest.raises(ConfigError, match="SECRET"):
        WeComConfig.from_settings(load_settings({**base, "XIANGYIN_WECHAT_WORK_AES_KEY": AES_KEY}))
    config = WeComConfig.from_settings(load_settings({**base, "XIANGYIN_WECHAT_WORK_AES_KEY": AES_KEY,
                                                      "XIANGYIN_WECHAT_WORK_SECRET": "s3cr3t"}))
    assert (config.agent_id, config.path, config.passive_seconds) == (1000002, "/wecom", 0.0)
    assert "s3cr3t" not in repr(config) and AES_KEY not in repr(config)
