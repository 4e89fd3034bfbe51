"""村务公开 that reaches people: a published notice becomes one outbox message per linked user and
one offer per voice household in its scope, a knowledge entry the knowledge base answers at
once, and receipts that say who received and who heard it."""
from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter

import pytest
from sqlalchemy import select

from bot import notices, outbox as outbox_module
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.linking import bind
from bot.models import ChannelIdentity, Grid, Notice, NoticeReceipt, OutboxMessage, User
from bot.config import PROJECT_ROOT
from tests.support.loops import MONDAY

TITLE = "十二月三日全村停水通知"
BODY = "因为自来水主管道检修，12月3日上午8点到下午5点全村停水，请大家提前储水。"


@pytest.fixture()
def knowledge_dir(tmp_path):
    """A knowledge folder with the village's own entries (the national corpus is not needed here)."""
    root = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge" / "village", root / "village")
    return root


def _link_telegram(s, logins: dict[str, str]) -> None:
    for login, chat_id in logins.items():
        bind(s, "telegram", chat_id, s.execute(select(User).where(User.login == login)).scalar_one())


def _grid_id(s, name: str) -> int:
    return s.execute(select(Grid.id).where(Grid.name == name)).scalar_one()


def test_a_notice_reaches_every_linked_user_once_and_becomes_knowledge(fresh_db, knowledge_dir, tmp_path):
    from knowledge.retriever import KnowledgeBase, build_index, default_kb, load_entry

    var_dir = tmp_path / "var"
    build_index(knowledge_dir, var_dir=var_dir)
    assert all(e.topic != "村务公开" or not e.id.startswith("notice-") for e in default_kb(knowledge_dir, var_dir).entries)
    reindexed = []

    def reindex(path):
        reindexed.append(path)
        build_index(knowledge_dir, var_dir=var_dir)

    with session_scope(write=True, url=fresh_db) as s:
        _link_telegram(s, {"wangjianguo": "1001", "hh030": "1030", "wangxiulan": "2001", "limingliang": "3001"})
        admin = resolve_actor(s, "cli:chenzhiming")
        notice = notices.publish(s, admin, TITLE, BODY, deadline=dt.date(2026, 12, 3), now=MONDAY,
                                 knowledge_dir=knowledge_dir, tz="Asia/Shanghai", reindex=reindex)
        notice_id = notice.id
        path = notices.entry_path(notice_id, knowledge_dir)
        assert not path.exists()  # written when the transaction commits, not before

    assert path.exists() and reindexed == [path]
    entry = load_entry(path)
    assert (entry.id, entry.title, entry.topic, entry.region, entry.grid) == (
        f"notice-{notice_id}", TITLE, "村务公开", "青山镇杏花村", None)
    assert entry.paragraphs[0] == BODY and "截止时间：2026年12月3日" in entry.body
    # The knowledge base answers it at once: the long-running process's copy reloads by itself.
    hits = default_kb(knowledge_dir, var_dir).search("12月3日停水吗")
    assert hits[0].entry.id == f"notice-{notice_id}"
    assert KnowledgeBase.load(knowledge_dir, var_dir=var_dir).by_id[f"notice-{notice_id}"].title == TITLE

    with session_scope(url=fresh_db) as s:
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"notice:{notice_id}:%"))).scalars().all()
        users = Counter(s.get(User, m.user_id).login for m in rows if m.user_id is not None)
        # Linked users (Telegram, or a staff voice device) once each; terminal-only accounts and the
        # relative living elsewhere are not the village's audience.
        assert users == Counter({"wangjianguo": 1, "hh030": 1, "wangxiulan": 1, "liguoqiang": 1, "zhanglihua": 1})
        offers = [m for m in rows if m.user_id is None]
        devices = s.execute(select(ChannelIdentity.household_id).where(ChannelIdentity.channel == "voice",
                                                                       ChannelIdentity.user_id.is_(None))).scalars()
        assert sorted(m.household_id for m in offers) == sorted(devices) and len(offers) == 66
        assert offers[0].kind == "notice_offer" and offers[0].text == f"村里有一条新通知：{TITLE}。要听吗？"
        assert offers[0].payload["expects"] == "yes_no" and offers[0].payload["channels"] == ["voice"]
        receipts = s.execute(select(NoticeReceipt).where(NoticeReceipt.notice_id == notice_id)).scalars().all()
        assert len(receipts) == len(rows) == 71 and all(r.outbox_id is not None for r in receipts)


def test_receipts_show_who_received_and_who_heard(fresh_db, knowledge_dir):
    with session_scope(write=True, url=fresh_db) as s:
        _link_telegram(s, {"hh030": "1030", "wangjianguo": "1001"})
        worker = resolve_actor(s, "cli:liguoqiang")
        with pytest.raises(AccessDenied):
            notices.publish(s, worker, TITLE, BODY, knowledge_dir=knowledge_dir)  # a worker: not village-wide
        with pytest.raises(AccessDenied):
            notices.publish(s, worker, TITLE, BODY, grid_id=_grid_id(s, "第一网格"), knowledge_dir=knowledge_dir)
        notice = notices.publish(s, worker, "第二网格修路通知", "老街路面下周一开始翻修，车辆请绕行。",
                                 grid_id=_grid_id(s, "第二网格"), now=MONDAY, knowledge_dir=knowledge_dir)
        notice_id = notice.id
    assert notices.entry_path(notice_id, knowledge_dir).read_text(encoding="utf-8").count('grid: "第二网格"') == 1

    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:liguoqiang")
        views = notices.receipts(s, worker, notice_id)
        assert "王建国" not in {v.name for v in views}  # 第二网格 only
        assert len([v for v in views if v.household_id is not None]) == 22  # households 23-44
        user_rows = {s.get(User, v.user_id).login for v in views if v.user_id is not None}
        assert user_rows == {"hh030", "liguoqiang"}
        assert not any(v.received or v.heard for v in views)
        # The Telegram adapter delivers hh030's copy; the device of household 30 plays it and the family says yes.
        message = s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"notice:{notice_id}:user:%"),
                                                        OutboxMessage.user_id == resolve_actor(s, "cli:hh030").user_id)
                            ).scalar_one()
        outbox_module.delivered(s, message.id, now=MONDAY + dt.timedelta(minutes=1))
        device = resolve_actor(s, "voice:device-030")
        assert [n.id for n in notices.unheard_for(s, device)] == [notice_id]
        notices.mark_heard(s, device, notice_id, now=MONDAY + dt.timedelta(hours=2))
        notices.mark_heard(s, device, notice_id, now=MONDAY + dt.timedelta(hours=3))  # once
        assert notices.unheard_for(s, device) == []
        with pytest.raises(LookupError):  # household 5 is not in 第二网格
            notices.mark_heard(s, resolve_actor(s, "voice:device-005"), notice_id)
        views = {(v.user_id, v.household_id): v for v in notices.receipts(s, worker, notice_id)}
        hh030 = views[(resolve_actor(s, "cli:hh030").user_id, None)]
        assert hh030.received and not hh030.heard
        heard = views[(None, device.household_id)]
        assert heard.heard and heard.heard_at == MONDAY + dt.timedelta(hours=2) and heard.heard_channel == "voice"
        assert [n.id for n in notices.notices_for(s, resolve_actor(s, "cli:hh030"))] == [notice_id]
        assert notices.notices_for(s, resolve_actor(s, "cli:wangjianguo")) == []
        with pytest.raises(AccessDenied):
            notices.receipts(s, resolve_actor(s, "cli:hh030"), notice_id)


def test_a_notice_that_is_rolled_back_leaves_no_entry(fresh_db, knowledge_dir):
    with pytest.raises(RuntimeError):
        with session_scope(write=True, url=fresh_db) as s:
            notice = notices.publish(s, resolve_actor(s, "cli:chenzhiming"), TITLE, BODY, now=MONDAY,
                                     knowledge_dir=knowledge_dir)
            path = notices.entry_path(notice.id, knowledge_dir)
            raise RuntimeError("the caller failed after publishing")
    assert not path.exists()
    with session_scope(url=fresh_db) as s:
        assert s.execute(select(Notice.id)).first() is None
    # sync_entries repairs a missing file for a committed notice.
    with session_scope(write=True, url=fresh_db) as s:
        notice = notices.publish(s, resolve_actor(s, "cli:chenzhiming"), TITLE, BODY, now=MONDAY,
                                 knowledge_dir=knowledge_dir)
        notice_id = notice.id
    notices.entry_path(notice_id, knowledge_dir).unlink()
    with session_scope(url=fresh_db) as s:
        assert notices.sync_entries(s, knowledge_dir) == [notices.entry_path(notice_id, knowledge_dir)]
        assert notices.sync_entries(s, knowledge_dir) == []
