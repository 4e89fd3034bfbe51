"""The WeChat Official Account channel end to end: a local fake of the WeChat platform
(tests/support/fake_wechat.py) sends signed — and in 安全模式 encrypted — XML callbacks to our
callback server on 127.0.0.1 and serves the API it calls back (access token, 客服消息); the
channel talks to the real Rasa server, action server and the tier's seeded database (restored
before every test)."""
from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from bot import outbox, points
from bot.channels import turn
from bot.channels.wechat import texts as wx_texts
from bot.channels.wechat.accounts import sender_id
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.channels.wechat.app import WeChatChannel
from bot.linking import link_with_code
from bot.config import load_settings
from bot.models import ChannelIdentity, EmergencyEvent, Grievance, Household, OutboxMessage, RequestNonce, User
from tests.support.amr import AMRUnavailable, espeak_amr
from tests.support.conversation import api_params
from tests.support.fake_telegram import ScriptedRecognizer, add_notification
from tests.support.fake_wechat import (
    AES_KEY,
    CORP_ID,
    TEMPLATE_ID,
    TEMPLATE_THING_CHARS,
    TOKEN,
    WORK_AES_KEY,
    WORK_TOKEN,
    FakeWeChat,
    WorkUser,
    WxUser,
    code_for,
    config_for,
    contains,
    encrypt,
    espeak_speex,
    message_xml,
    new_openid,
    run,
    sign,
    signed,
    texts,
    wechat,
    wecom,
    work_signed,
)



def user_turns(rasa_url: str, openid: str, channel: str = "wechat") -> list[str]:
    """What Rasa heard from this WeChat user (its tracker's user events)."""
    url = f"{rasa_url}/conversations/{quote(sender_id(openid, channel), safe=':')}/tracker"
    tracker = httpx.get(url, params={**api_params(), "include_events": "ALL"}, timeout=60).json()
    return [e.get("text") for e in tracker.get("events") or [] if e.get("event") == "user"]


def display_name(login: str) -> str:
    with session_scope() as s:
        return resolve_actor(s, f"cli:{login}").display_name


def balance_of(login: str) -> int:
    with session_scope() as s:
        return points.balance_of(s, resolve_actor(s, f"cli:{login}").household_id)


# --------------------------------------------------------------------------- who may call us


def test_url_verification_and_forged_callbacks_never_reach_rasa(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            stamp = ("1700000000", "abc")
            check = {"timestamp": stamp[0], "nonce": stamp[1], "echostr": "7281930456"}
            async with httpx.AsyncClient(timeout=60) as http:
                good = await http.get(channel.url, params={**check, "signature": sign(TOKEN, *stamp)})
                bad = await http.get(channel.url, params={**check, "signature": sign("WrongToken9", *stamp)})
            assert (good.status_code, good.text) == (200, "7281930456")
            assert bad.status_code == 403 and "7281930456" not in bad.text

            openid = new_openid()
            plain, encrypted = WxUser(fake, channel.url, openid), WxUser(fake, channel.url, openid, encrypted=True)
            xml = message_xml(openid, "text", 99001, Content="我家有多少积分")
            for encrypt_it in (False, True):
                request = signed(xml, openid, encrypted=encrypt_it, token="WrongToken9")
                assert (await plain.post(request)).status_code == 403
            genuine = encrypted.text("我家有多少积分")  # signed right, then the ciphertext swapped
            swapped = signed(xml, openid, encrypted=True)
            genuine.params["msg_signature"] = swapped.params["msg_signature"]
            assert (await plain.post(genuine)).status_code == 403
            assert fake.to(openid) == []
            return openid

    openid = run(scenario())
    assert user_turns(rasa_server, openid) == []


# --------------------------------------------------------------------------- conversations


def test_subscribe_link_with_a_code_then_check_points(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url)
            hello = texts(await me.event("subscribe"))
            assert wx_texts.WELCOME in hello and "绑定" in hello
            assert "不对" in texts(await me.say("绑定 000000"))
            assert "绑定好了" in texts(await me.say(f"绑定 {code_for('hh041')}"))
            answer = await me.say("我家有多少积分")
            assert str(balance_of("hh041")) in texts(answer)
            clicked = await me.event("CLICK", EventKey="POINTS")
            assert str(balance_of("hh041")) in texts(clicked)
            again = await me.event("subscribe", create_time=int(time.time()) + 1)  # no MsgId: a later CreateTime
            assert texts(again).startswith(f"{display_name('hh041')}，您好")  # a linked follower, by name
            return fake, me.openid

    fake, openid = run(scenario())
    assert {m["via"] for m in fake.to(openid)} == {"passive"}  # every turn was quick enough
    with session_scope() as s:
        ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "wechat",
                                                        ChannelIdentity.external_id == openid)).scalar_one()
        assert ident.user.login == "hh041"


def test_encrypted_mode_round_trip(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url, encrypted=True)
            assert "绑定好了" in texts(await me.say(f"绑定 {code_for('hh041')}"))
            answer = await me.say("我家有多少积分")
            assert str(balance_of("hh041")) in texts(answer) and answer[0]["via"] == "passive"
            return me.openid

    openid = run(scenario())
    assert user_turns(rasa_server, openid) == ["我家有多少积分"]


def test_a_message_retried_with_the_same_msg_id_is_answered_once(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url)
            xml = message_xml(me.openid, "text", 77001, Content="我家有多少积分")
            first, retry = await asyncio.gather(me.post(signed(xml, me.openid)), me.post(signed(xml, me.openid)))
            late = await me.post(signed(xml, me.openid, encrypted=True))  # after the answer, in the other mode
            assert sorted([first.text == "success", retry.text == "success"]) == [False, True]
            assert late.text == "success"
            return fake, me.openid

    fake, openid = run(scenario())
    assert len(fake.to(openid)) == 1
    assert user_turns(rasa_server, openid) == ["我家有多少积分"]


def test_a_retry_after_a_restart_is_answered_once(rasa_server):
    """MsgIds are kept in the database: a retry that reaches a new process on the same database
    (a restart, or another replica) is answered ``success`` and runs no second turn."""
    async def scenario():
        fake = FakeWeChat()
        await fake.start()
        try:
            openid = new_openid()
            xml = message_xml(openid, "text", next(WxUser.msg_ids), Content="我家有多少积分")
            async with wechat(rasa_server, fake=fake) as (_, channel):
                first = await WxUser(fake, channel.url, openid).post(signed(xml, openid))
            async with wechat(rasa_server, fake=fake) as (_, channel):  # a new channel instance, the same database
                retry = await WxUser(fake, channel.url, openid, encrypted=True).post(
                    signed(xml, openid, encrypted=True))
            return first, retry, fake.to(openid), openid
        finally:
            await fake.stop()

    first, retry, received, openid = run(scenario())
    assert first.status_code == retry.status_code == 200
    assert first.text != "success" and retry.text == "success"
    assert len(received) == 1 and received[0]["via"] == "passive"  # answered once, by the first process
    assert user_turns(rasa_server, openid) == ["我家有多少积分"]
    with session_scope() as s:
        assert s.execute(select(RequestNonce).where(RequestNonce.device_id == "#wechat")).scalars().all()


def test_a_slow_turn_is_answered_by_customer_service_message(rasa_server):
    """passive_seconds=0: no turn is ever done in time, so every answer goes as 客服消息."""
    async def scenario():
        async with wechat(rasa_server, passive_seconds=0) as (fake, channel):
            me = WxUser(fake, channel.url, encrypted=True)
            response = await me.post(me.text(f"绑定 {code_for('hh041')}"))
            assert response.text == "success"
            linked = await me.send(me.text("我家有多少积分"), until=contains(str(balance_of("hh041"))))
            assert fake.to(me.openid)[0]["text"].startswith("绑定好了")
            assert {m["via"] for m in fake.to(me.openid)} == {"custom"} and linked
            fake.expire_tokens()  # the access token goes stale: the channel fetches a new one and resends
            again = await me.say("我家有多少积分")
            assert str(balance_of("hh041")) in texts(again)
            return fake

    fake = run(scenario())
    assert fake.calls.count("token") == 2 and "custom_send:stale" in fake.calls


def test_file_a_grievance_with_a_photo(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url)
            await me.say(f"绑定 {code_for('hh043')}")
            asked = await me.say("村东头的垃圾堆了好几天没人收", until=contains("保密"))
            assert "不要" in texts(asked)
            photo = fake.add_media(b"\xff\xd8\xff\xe0fake-jpeg-bytes", "image/jpeg")
            sent = await me.send(me.callback("image", 6601, PicUrl="http://127.0.0.1:9/p.jpg", MediaId=photo))
            assert texts(sent) == wx_texts.PHOTO_SAVED
            reply = await me.say("不要", until=lambda m: "对吗" in texts(m) or "已经有人反映过" in texts(m))
            assert "已经有人反映过" not in texts(reply)
            return texts(await me.say("对", until=contains("编号是", "照片已经加到")))

    answer = run(scenario())
    with session_scope() as s:
        g = s.execute(select(Grievance).join(User, Grievance.reporter_id == User.id)
                      .where(User.login == "hh043").order_by(Grievance.id.desc())).scalars().first()
        assert g.ticket_no in answer and g.category == "环境卫生"
        photos = [e for e in g.events if e.kind == "photo"]
        assert len(photos) == 1 and photos[0].note.startswith("uploads/")
        assert (load_settings().var_dir / photos[0].note).read_bytes().startswith(b"\xff\xd8")


def test_emergency_word_reaches_the_emergency_action(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url)
            await me.say(f"绑定 {code_for('hh041')}")
            return texts(await me.say("救命")), me.openid

    answer, openid = run(scenario())
    assert "网格员" in answer
    with session_scope() as s:
        event = s.execute(select(EmergencyEvent).where(EmergencyEvent.channel == "wechat")
                          .order_by(EmergencyEvent.id.desc())).scalars().first()
        assert event is not None and "救命" in (event.text or "")


def test_an_alert_reaches_the_grid_worker_on_wechat_and_a_typed_shou_dao_takes_charge(rasa_server):
    """A resident cries for help over WeChat; the outbox pushes the alert to their grid worker's
    WeChat as a customer-service message, and the worker's "收到" takes charge through Rasa."""
    from bot.identity import responsible_worker_id

    with session_scope() as s:
        household = s.get(Household, resolve_actor(s, "cli:hh041").household_id)
        worker = s.get(User, responsible_worker_id(household))
        worker_id, worker_login = worker.id, worker.login
    codes = code_for("hh041"), code_for(worker_login)

    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            resident, responder = WxUser(fake, channel.url), WxUser(fake, channel.url, encrypted=True)
            await resident.say(f"绑定 {codes[0]}")
            await responder.say(f"绑定 {codes[1]}")
            assert "网格员" in texts(await resident.say("救命，我摔倒了"))
            assert await channel.deliver_outbox_once() >= 1
            (alert,) = [m for m in fake.to(responder.openid) if "紧急求助" in m["text"]]
            assert alert["via"] == "custom" and "收到" in alert["text"]
            return texts(await responder.say("收到"))

    taken = run(scenario())
    assert "去处理" in taken and "41号" in taken
    with session_scope() as s:
        event = s.execute(select(EmergencyEvent).where(EmergencyEvent.channel == "wechat")
                          .order_by(EmergencyEvent.id.desc())).scalars().first()
        assert event.acknowledged_by == worker_id


# --------------------------------------------------------------------------- what is not a turn


def test_images_locations_stickers_and_other_media_get_polite_answers(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url)
            said = {}
            said["image"] = await me.send(me.callback("image", 5501, PicUrl="http://127.0.0.1:9/p.jpg", MediaId="m1"))
            said["location"] = await me.send(me.callback("location", 5502, Location_X="30.1", Location_Y="120.2",
                                                         Scale="15", Label="村口"))
            said["sticker"] = await me.say("【收到不支持的消息类型，暂无法显示】")
            said["video"] = await me.send(me.callback("video", 5503, MediaId="m2", ThumbMediaId="m3"))
            said["voice"] = await me.send(me.callback("voice", 5504, MediaId="m4", Format="amr"))
            said["long"] = await me.say("路" * 501)
            return said, me.openid

    said, openid = run(scenario())
    assert texts(said["image"]) == wx_texts.PHOTO_NOT_NEEDED  # no grievance being filed
    assert texts(said["location"]) == wx_texts.LOCATION_NOT_KEPT
    assert texts(said["sticker"]) == texts(said["video"]) == wx_texts.NOT_SUPPORTED
    assert texts(said["voice"]) == wx_texts.VOICE_UNAVAILABLE
    assert texts(said["long"]) == turn.TOO_LONG.format(limit=500)
    assert user_turns(rasa_server, openid) == []


def test_a_voice_message_with_wechat_recognition_is_answered(rasa_server):
    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url)
            await me.say(f"绑定 {code_for('hh041')}")
            return texts(await me.send(me.callback("voice", 5601, MediaId="m5", Format="amr",
                                                   Recognition="我家有多少积分。"))), me.openid

    answer, openid = run(scenario())
    assert answer.startswith(wx_texts.HEARD.format(text="我家有多少积分"))
    assert str(balance_of("hh041")) in answer
    assert user_turns(rasa_server, openid) == ["我家有多少积分"]


def test_a_voice_message_is_downloaded_and_recognised_here(rasa_server, tmp_path):
    """No Recognition from WeChat: the channel fetches the Speex recording from /cgi-bin/media/get,
    ffmpeg decodes it and the recogniser (a double at the ASR boundary only) hears it."""
    speech = espeak_speex("我家有多少积分", tmp_path)
    recognizer = ScriptedRecognizer("我家有多少积分")

    async def scenario():
        async with wechat(rasa_server, recognizer=recognizer) as (fake, channel):
            me = WxUser(fake, channel.url)
            await me.say(f"绑定 {code_for('hh041')}")
            heard = await me.send(me.callback("voice", 5701, MediaId=fake.add_media(speech, "audio/speex"),
                                              Format="speex"))
            garbled = await me.send(me.callback("voice", 5702, MediaId=fake.add_media(b"#!AMR\n not audio"),
                                                Format="amr"))
            missing = await me.send(me.callback("voice", 5703, MediaId="media-gone", Format="amr"))
            return texts(heard), texts(garbled), texts(missing), fake, me.openid

    heard, garbled, missing, fake, openid = run(scenario())
    assert heard.startswith(wx_texts.HEARD.format(text="我家有多少积分")) and str(balance_of("hh041")) in heard
    assert garbled == missing == wx_texts.VOICE_UNREADABLE
    assert recognizer.pcm_lengths and "media_get" in fake.calls
    assert user_turns(rasa_server, openid) == ["我家有多少积分"]


def test_notifications_are_delivered_once_across_restarts(seeded_db):
    openid, away = new_openid(), new_openid()
    codes = code_for("hh046"), code_for("hh047")
    with session_scope(write=True) as s:
        user_id = link_with_code(s, "wechat", openid, codes[0]).id
        away_id = link_with_code(s, "wechat", away, codes[1]).id
    first = [add_notification(user_id, f"您反映的事有新进展（{n}）") for n in range(2)]
    unreachable = add_notification(away_id, "您反映的事已经办结")

    async def scenario():
        fake = FakeWeChat()
        await fake.start()
        fake.outside_window.add(away)  # hh047 has not written for more than 48 hours
        try:
            # Run 1: the delivery loop sends both; WeChat refuses the one outside the 48 hours.
            async with wechat(fake=fake, outbox_interval=0.05):
                await fake.wait_for(lambda: len(fake.to(openid)) >= 2 and "custom_send:45015" in fake.calls,
                                    "two notifications and a refusal")
            # A crash right after claiming: attempts went up, nothing was sent.
            late = add_notification(user_id, "您反映的事已经办结（3）")
            crashed = WeChatChannel(config_for(fake))
            assert late in [c.outbox_id for c in crashed.deliverer.claim_due()]
            # Run 2 (restart): only the claimed-but-unsent one goes out, once; the first two never again.
            async with wechat(fake=fake, outbox_interval=0.05):
                await fake.wait_for(lambda: len(fake.to(openid)) >= 3, "the third notification")
            async with wechat(fake=fake) as (_, channel):
                await channel.deliver_outbox_once()  # nothing is due any more
            return late, fake.to(openid), fake.calls.count("custom_send:45015")

        finally:
            await fake.stop()

    late, messages, refusals = run(scenario())
    sent = [m["text"] for m in messages]
    assert len(sent) == len(set(sent)) == 3 and {m["via"] for m in messages} == {"custom"}
    assert refusals == 1  # refused for good: not retried
    with session_scope() as s:
        rows = {r.id: r for r in s.execute(select(OutboxMessage).where(
            OutboxMessage.id.in_(first + [late, unreachable]))).scalars()}
        assert all(rows[i].delivered_at is not None for i in first + [late])
        assert [rows[i].attempts for i in first] == [1, 1] and rows[late].attempts == 2
        assert rows[unreachable].delivered_at is None and rows[unreachable].attempts == outbox.MAX_ATTEMPTS  # given up


def test_a_real_amr_voice_message_is_decoded_and_recognised(rasa_server, tmp_path):
    """WeChat's usual voice format: a real AMR-NB file (espeak-ng, encoded with libopencore-amrnb
    by tests/support/amr.py) served by /cgi-bin/media/get, decoded by ffmpeg, heard by the
    recogniser (a double at the ASR boundary only, as for Speex above)."""
    try:
        speech = espeak_amr("我家有多少积分", tmp_path)
    except AMRUnavailable as exc:
        pytest.skip(str(exc))
    assert speech.startswith(b"#!AMR\n")
    recognizer = ScriptedRecognizer("我家有多少积分")

    async def scenario():
        async with wechat(rasa_server, recognizer=recognizer) as (fake, channel):
            me = WxUser(fake, channel.url, encrypted=True)
            await me.say(f"绑定 {code_for('hh041')}")
            heard = await me.send(me.callback("voice", next(WxUser.msg_ids), MediaId=fake.add_media(speech),
                                              Format="amr"))
            return texts(heard), fake, me.openid

    heard, fake, openid = run(scenario())
    assert heard.startswith(wx_texts.HEARD.format(text="我家有多少积分")) and str(balance_of("hh041")) in heard
    assert "media_get" in fake.calls
    assert recognizer.pcm_lengths[0] > 2 * 16000 * 2  # over two seconds of 16 kHz speech decoded from AMR
    assert user_turns(rasa_server, openid) == ["我家有多少积分"]


def test_spoken_replies_follow_the_text_as_a_voice_message(rasa_server):
    """语音回复 (Telegram's /voice): the answer also comes as a voice message — synthesised,
    MP3, uploaded as temporary media, sent as a 客服消息 of type voice — after the text."""
    from speech.audio import normalise

    async def scenario():
        async with wechat(rasa_server) as (fake, channel):
            me = WxUser(fake, channel.url)
            await me.say(f"绑定 {code_for('hh041')}")
            assert texts(await me.say("语音回复")) == wx_texts.VOICE_ON
            spoken = await me.say("我家有多少积分", until=lambda m: any(x.get("voice") for x in m))
            assert texts(await me.say("/voice")) == wx_texts.VOICE_OFF
            quiet = await me.say("我家有多少积分")
        return spoken, quiet, fake, me.openid  # the channel stopped: everything it was sending went out

    spoken, quiet, fake, openid = run(scenario())
    text, voice = spoken
    assert str(balance_of("hh041")) in text["text"] and text["via"] == "passive"
    assert voice["via"] == "custom" and voice["voice"]["type"] == "voice"
    assert len(normalise(voice["voice"]["data"])) > 16000 * 2  # over a second of speech in the MP3
    assert fake.calls.index("media_upload") < fake.calls.index("custom_send:voice")
    assert len(quiet) == 1 and len(fake.uploads) == 1  # switched off: no voice any more
    with session_scope() as s:
        ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "wechat",
                                                        ChannelIdentity.external_id == openid)).scalar_one()
        assert ident.settings["voice_reply"] is False


def test_text_commands_for_residents_and_staff_on_both_accounts():
    """The words that stand in for Telegram's slash commands, on the Official Account and on
    WeCom (no Rasa behind these: the channel answers them itself)."""
    from bot.grievances import open_queue

    with session_scope() as s:
        views = open_queue(s, resolve_actor(s, "cli:zhaodefu"))
    assert views, "the seed leaves open grievances in 一组's queue"
    codes = {login: code_for(login) for login in ("zhaodefu", "liujianhua", "hh041")}

    async def scenario():
        said = {}
        async with wechat() as (fake, channel):
            worker = WxUser(fake, channel.url)
            said["queue, not linked"] = texts(await worker.say("我的待办"))
            said["voice, not linked"] = texts(await worker.say("语音回复"))
            said["phone"] = texts(await worker.say("绑定 13812345678"))
            said["linked"] = texts(await worker.say(f"绑定 {codes['zhaodefu']}"))
            said["queue"] = texts(await worker.say("/myqueue"))
            said["queue, menu"] = texts(await worker.event("CLICK", EventKey="QUEUE"))
            said["voice on"] = texts(await worker.say("打开语音回复"))
            said["voice on again"] = texts(await worker.say("打开语音回复"))
            said["help"] = texts(await worker.say("帮助"))
            resident = WxUser(fake, channel.url)
            await resident.say(f"绑定 {codes['hh041']}")
            said["queue, resident"] = texts(await resident.say("我的待办"))
        async with wecom() as (fake, channel):
            duty = WorkUser(fake, channel.url)
            await duty.say(f"绑定 {codes['liujianhua']}")
            said["township queue"] = texts(await duty.say("我的待办"))
            said["voice, wecom"] = texts(await duty.say("语音回复"))
        return said

    said = run(scenario())
    assert said["queue, not linked"] == said["queue, resident"] == wx_texts.STAFF_ONLY
    assert said["voice, not linked"] == wx_texts.NEED_LINK
    assert said["phone"] == wx_texts.PHONE_LINK_UNAVAILABLE
    assert said["linked"].startswith("绑定好了")
    assert said["queue"] == said["queue, menu"] and all(v.ticket_no in said["queue"] for v in views[:10])
    assert said["voice on"] == said["voice on again"] == wx_texts.VOICE_ON
    assert wx_texts.HELP in said["help"]
    assert said["township queue"] == wx_texts.TOWNSHIP_QUEUE_EMPTY or said["township queue"].startswith("镇里有")
    assert said["voice, wecom"] == wx_texts.VOICE_NOT_HERE


def test_a_notice_outside_the_48_hours_goes_as_a_template_message_when_one_is_configured(seeded_db):
    """45015 for the 客服消息: with a template configured the notice goes as that template message
    (its text cut to the field's 20 characters, the village time in its time field); with a
    template id WeChat does not know it is refused for good, as without a template."""
    near, away = new_openid(), new_openid()
    codes = code_for("hh046"), code_for("hh047")
    with session_scope(write=True) as s:
        near_id = link_with_code(s, "wechat", near, codes[0]).id
        away_id = link_with_code(s, "wechat", away, codes[1]).id
    long_notice = "您反映的村口路灯坏了这件事已经办结了，请回复满意、基本满意或不满意。"
    to_near, to_away = add_notification(near_id, "您反映的事有新进展"), add_notification(away_id, long_notice)

    async def scenario():
        fake = FakeWeChat()
        await fake.start()
        fake.outside_window.add(away)
        try:
            async with wechat(fake=fake, template_id=TEMPLATE_ID, template_time_field="time2") as (_, channel):
                assert await channel.deliver_outbox_once() == 2
            misconfigured = add_notification(away_id, "您反映的事有新进展")
            async with wechat(fake=fake, template_id="NoSuchTemplate") as (_, channel):
                assert await channel.deliver_outbox_once() == 0
            return fake, misconfigured
        finally:
            await fake.stop()

    fake, misconfigured = run(scenario())
    assert [m["via"] for m in fake.to(near)] == ["custom"]
    (template,) = fake.to(away)
    assert template["via"] == "template" and template["template_id"] == TEMPLATE_ID
    thing = template["data"]["thing1"]
    assert len(thing) == TEMPLATE_THING_CHARS and thing.endswith(wx_texts.TEMPLATE_CUT)
    assert long_notice.startswith(thing[:-1]) and len(template["data"]["time2"]) == len("2026-05-01 14:30")
    assert fake.calls.count("custom_send:45015") == 2 and fake.calls.count("template_send:40037") == 1
    with session_scope() as s:
        rows = {r.id: r for r in s.execute(select(OutboxMessage).where(
            OutboxMessage.id.in_([to_near, to_away, misconfigured]))).scalars()}
        assert rows[to_near].delivered_at is not None and rows[to_away].delivered_at is not None
        assert rows[misconfigured].delivered_at is None and rows[misconfigured].attempts == outbox.MAX_ATTEMPTS


# --------------------------------------------------------------------------- WeCom for staff


def test_wecom_verifies_its_url_and_refuses_what_it_did_not_encrypt(rasa_server):
    async def scenario():
        async with wecom(rasa_server) as (fake, channel):
            echo = encrypt("1616161616", CORP_ID, WORK_AES_KEY)
            check = {"timestamp": "1700000000", "nonce": "xyz", "echostr": echo}
            async with httpx.AsyncClient(timeout=60) as http:
                good = await http.get(channel.url, params={**check, "msg_signature": sign(WORK_TOKEN, "1700000000",
                                                                                          "xyz", echo)})
                bad = await http.get(channel.url, params={**check, "msg_signature": sign("Wrong77", "1700000000",
                                                                                         "xyz", echo)})
            assert (good.status_code, good.text) == (200, "1616161616") and bad.status_code == 403
            staff = WorkUser(fake, channel.url)
            xml = message_xml(staff.openid, "text", 88001, Content="你好")
            for forged in (work_signed(xml, token="Wrong77"), work_signed(xml, corp_id="wwsomeoneelse")):
                assert (await staff.post(forged)).status_code == 403
            return staff.openid

    userid = run(scenario())
    assert user_turns(rasa_server, userid, "wecom") == []


def test_an_emergency_alert_reaches_the_grid_worker_on_wecom_and_the_button_takes_charge(rasa_server):
    from bot import emergency
    from bot.identity import responsible_worker_id

    with session_scope() as s:
        household = s.get(Household, resolve_actor(s, "cli:hh041").household_id)
        worker = s.get(User, responsible_worker_id(household))
        worker_id = worker.id
        code = code_for(worker.login)

    async def scenario():
        async with wecom(rasa_server) as (fake, channel):
            staff = WorkUser(fake, channel.url)
            assert "绑定好了" in texts(await staff.say(f"绑定 {code}"))
            assert texts(await staff.say("你好"))  # staff talk to Rasa like anyone else
            with session_scope(write=True) as s:
                event_id = emergency.raise_alarm(s, resolve_actor(s, "cli:hh041"), "救命，我摔倒了").id
            assert await channel.deliver_outbox_once() == 1
            (alert,) = [m for m in fake.to(staff.openid) if m.get("card")]
            (button,) = alert["card"]["button_list"]
            assert button["text"] == wx_texts.ACK_BUTTON and "救命" in alert["text"]
            now = int(time.time())
            taken = texts(await staff.press(button["key"], at=now))
            again = texts(await staff.press(button["key"], at=now + 1))  # pressed again a second later
            assert await channel.deliver_outbox_once() == 0  # nothing is sent twice
            updates = fake.card_updates
            assert updates and updates[0]["userids"] == [staff.openid]
            assert updates[0]["button"]["replace_name"] == wx_texts.ACK_PRESSED  # the button became a label
            return taken, again, event_id, staff.openid, fake

    taken, again, event_id, userid, fake = run(scenario())
    assert taken.startswith("好的，已经告诉41号") and again == wx_texts.ACK_ALREADY_YOURS
    assert {m["via"] for m in fake.to(userid)} == {"app"} and fake.calls.count("gettoken") == 1
    assert user_turns(rasa_server, userid, "wecom") == ["你好"]
    with session_scope() as s:
        assert s.get(EmergencyEvent, event_id).acknowledged_by == worker_id
        ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "wecom",
                                                        ChannelIdentity.external_id == userid)).scalar_one()
        assert ident.user_id == worker_id


def test_rate_limit_answers_politely_once():
    async def scenario():
        async with wechat(rate_limit=2, clock=lambda: 1000.0) as (fake, channel):
            me = WxUser(fake, channel.url)
            for _ in range(2):
                assert texts(await me.say("你好")) == turn.BUSY  # no Rasa behind this one
            assert texts(await me.say("你好")) == wx_texts.RATE_LIMITED
            quiet = await me.post(me.text("你好"))
            assert quiet.text == "success" and len(fake.to(me.openid)) == 3

    run(scenario())


def test_without_configuration_the_command_explains_how_to_enable_it(tmp_path):
    import subprocess
    import sys

    from bot.config import PROJECT_ROOT, child_environment

    env = child_environment({"XIANGYIN_VAR_DIR": str(tmp_path)})
    for name in [n for n in env if n.startswith("XIANGYIN_WECHAT_")]:
        env.pop(name)
    done = subprocess.run([sys.executable, "-m", "bot.channels.wechat"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "XIANGYIN_WECHAT_TOKEN" in done.stdout and AES_KEY not in done.stdout
