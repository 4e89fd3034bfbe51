"""Staff in the field through the trained model, the real action server and the database:
household lists by colour and by 独居, a bare house number and a follow-up question, points
awarded by rule (booked on the yes, nothing on "算了"), emergencies queried (never raised)
and acknowledged. Without a model: tests/actions/test_staff.py."""
from __future__ import annotations

from sqlalchemy import func, select

from bot import emergency
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.models import CareColour, EmergencyEvent, Household, PointsEntry, utcnow

WORKER = "cli:wangxiulan"  # 第一网格: households 1-22


def _count(db: str, column) -> int:
    with session_scope(url=db) as s:
        return s.execute(select(func.count(column))).scalar_one()


def _heads(db: str, *where) -> list[str]:
    with session_scope(url=db) as s:
        rows = s.execute(select(Household).where(*where).order_by(Household.number)).scalars()
        return [next(r.name for r in h.residents if r.is_head) for h in rows]


def _raise(db: str, house: int) -> int:
    with session_scope(write=True, url=db) as s:
        return emergency.raise_alarm(s, resolve_actor(s, f"voice:device-{house:03d}"), "救命，我摔倒了").id


def test_a_grid_worker_lists_the_red_households_of_their_grid(talk, seeded_db):
    red = _heads(seeded_db, Household.care_colour == CareColour.red, Household.number <= 22)
    reply = talk(WORKER).say("我网格里的连心户有哪些")
    assert f"有{len(red)}户" in reply and all(f"{head}家" in reply for head in red[:3])
    others = _heads(seeded_db, Household.care_colour == CareColour.red, Household.number > 22)
    assert not any(f"{head}家" in reply for head in others)


def test_elderly_people_living_alone_in_a_group(talk, seeded_db):
    year = utcnow().year
    with session_scope(url=seeded_db) as s:
        alone = [next(r.name for r in h.residents if r.is_head)
                 for h in s.execute(select(Household).order_by(Household.number)).scalars()
                 if h.grid.name == "三组" and len(h.residents) == 1 and year - h.residents[0].birth_year >= 60]
    assert alone
    reply = talk("cli:chenzhiming").say("三组独居的老人都有谁")
    assert "独居老人" in reply and all(f"{head}家" in reply for head in alone[:3])


def test_a_bare_house_number_then_a_follow_up_question(talk, seeded_db):
    with session_scope(url=seeded_db) as s:
        members = len(s.execute(select(Household).where(Household.number == 8)).scalar_one().residents)
    chat = talk(WORKER)
    reply = chat.say("8号户")
    assert "赵丽华家" in reply and "口人" in reply and "编号" not in reply
    assert f"赵丽华家（8号）{members}口人" in chat.say("那他家几口人")


def test_an_award_is_booked_on_the_yes(talk, seeded_db):
    before = _count(seeded_db, PointsEntry.id)
    chat = talk(WORKER)
    reply = chat.say("给8号户加5分，义务清扫")
    assert "给赵丽华家（8号）记5分：义务清扫，对吗" in reply
    assert _count(seeded_db, PointsEntry.id) == before
    assert "记好了" in chat.say("对")
    assert _count(seeded_db, PointsEntry.id) == before + 1
    with session_scope(url=seeded_db) as s:
        entry = s.execute(select(PointsEntry).order_by(PointsEntry.id.desc())).scalars().first()
        assert entry.delta == 5 and entry.rule.code == "cleanup" and entry.actor_id == resolve_actor(s, WORKER).user_id


def test_an_award_dropped_with_never_mind_books_nothing(talk, seeded_db):
    before = _count(seeded_db, PointsEntry.id)
    chat = talk(WORKER)
    assert "对吗" in chat.say("给王建国家加2分 垃圾分类")
    assert "不记分" in chat.say("算了")
    chat.say("对")  # a late yes finds nothing pending
    assert _count(seeded_db, PointsEntry.id) == before


def test_villagers_cannot_award_points(talk, seeded_db):
    before = _count(seeded_db, PointsEntry.id)
    reply = talk("cli:wangjianguo").say("给8号户加5分，义务清扫")
    assert "对吗" not in reply and _count(seeded_db, PointsEntry.id) == before


def test_staff_asking_about_emergencies_never_raise_one(talk, seeded_db):
    chat = talk(WORKER)
    before = _count(seeded_db, EmergencyEvent.id)
    for question in ("今天有没有紧急求助", "有没有人喊救命"):
        reply = chat.say(question)
        assert "别着急" not in reply and "120" not in reply, question
    assert _count(seeded_db, EmergencyEvent.id) == before
    _raise(seeded_db, 8)
    reply = chat.say("今天有人喊救命吗")
    assert "赵丽华家（8号）" in reply and "等待响应" in reply
    assert _count(seeded_db, EmergencyEvent.id) == before + 1
    # The same words from a villager raise the alarm.
    assert "别着急" in talk("voice:device-009").say("有没有人喊救命")
    assert _count(seeded_db, EmergencyEvent.id) == before + 2


def test_received_acknowledges_the_open_alert(talk, seeded_db):
    event_id = _raise(seeded_db, 8)
    reply = talk(WORKER).say("收到，我这就过去")
    assert "已记下您去处理赵丽华家（8号）的求助" in reply
    with session_scope(url=seeded_db) as s:
        event = s.get(EmergencyEvent, event_id)
        assert event.acknowledged_at is not None and event.acknowledged_by == resolve_actor(s, WORKER).user_id
    assert talk(WORKER).say("收到") == "好的。"  # nothing open any more


def test_recyclables_delivered_are_an_award_read_back_and_booked_on_the_yes(talk, seeded_db):
    before = _count(seeded_db, PointsEntry.id)
    chat = talk(WORKER)
    reply = chat.say("8号赵丽华家送来塑料瓶三十个")
    assert "赵丽华家（8号）记3分" in reply and _count(seeded_db, PointsEntry.id) == before
    assert "记好了" in chat.say("中")
    assert _count(seeded_db, PointsEntry.id) == before + 1


def test_a_house_number_corrected_in_the_same_breath_is_the_one_awarded(talk):
    reply = talk(WORKER).say("给8号……哦不是，9号周长生家加5分，参加义务清扫了")
    assert "周长生家（9号）" in reply and "赵丽华" not in reply


def test_an_alert_taken_in_the_workers_own_words_is_acknowledged(talk, seeded_db):
    event_id = _raise(seeded_db, 9)
    reply = talk(WORKER).say("好的我知道了，这就去周长生家")
    assert "已记下您去处理" in reply
    with session_scope(url=seeded_db) as s:
        assert s.get(EmergencyEvent, event_id).acknowledged_at is not None
