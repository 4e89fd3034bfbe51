"""Grievances through the running assistant: filing with correction, duplicates, status,
staff transitions, satisfaction after 办结, and durability of an acknowledged filing.
Every test starts from the freshly seeded village, so the seed's tickets are what each test
expects: 260101 路灯 and 260102 垃圾桶 (李桂芳's, open), 260103 水管 (hh003's, resolved), 260104
噪音 (二组's queue)."""
from __future__ import annotations

from sqlalchemy import func, select

from bot.db import session_scope
from bot.models import Grievance, GrievanceEvent, GrievanceState, OutboxMessage


def _file_until_readback(chat, first: str) -> str:
    reply = chat.say(first)
    for _ in range(4):
        if "对吗" in reply or "已经有人反映过" in reply:
            return reply
        if "保密" in reply:
            reply = chat.say("不用")
        elif "什么地方" in reply:
            reply = chat.say("村委会门口")
        elif "哪方面" in reply:
            reply = chat.say("其他")
        else:
            reply = chat.say("就是这个事")
    return reply


def test_correct_one_field_without_starting_over(talk, seeded_db):
    chat = talk("cli:hh015")
    reply = _file_until_readback(chat, "俺家门口的水管爆了 水流了一地")
    assert "对吗" in reply and "水电气" in reply
    reply = chat.say("不对")
    assert "哪里不对" in reply and "对吗" not in reply  # no read-back waits while the correction is asked
    reply = chat.say("地点是三组小卖部门口")
    assert "三组小卖部门口" in reply and "对吗" in reply
    assert "水管" in chat.slot("grievance_description")  # the rest is kept
    reply = chat.say("对")
    assert "编号是" in reply
    with session_scope(url=seeded_db) as s:
        g = s.execute(select(Grievance).where(Grievance.ticket_no == chat.slot("ticket"))).scalar_one()
        assert g.place == "三组小卖部门口" and g.category == "水电气"


def test_duplicate_is_offered_and_can_be_joined(talk, seeded_db):
    with session_scope(url=seeded_db) as s:
        before = s.execute(select(func.count(Grievance.id))).scalar_one()
    chat = talk("cli:hh016")
    reply = _file_until_readback(chat, "三组垃圾桶满了没人清")
    assert "已经有人反映过" in reply and "260102" in reply
    reply = chat.say("对")
    assert "260102" in reply and "一起办" in reply
    with session_scope(url=seeded_db) as s:
        assert s.execute(select(func.count(Grievance.id))).scalar_one() == before
        kinds = s.execute(select(GrievanceEvent.kind).join(Grievance).where(Grievance.ticket_no == "260102")
                          ).scalars().all()
        assert "joined" in kinds


def test_status_of_my_last_grievance_and_my_open_list(talk):
    chat = talk("cli:liguifang")  # reported 260101 (five days ago) and 260102 (three days ago)
    reply = chat.say("我上次反映的那件事咋样了")
    assert "260102" in reply  # the most recent one
    reply = chat.say("我反映的事都办得怎么样了")
    assert "260101" in reply and "260102" in reply


def test_staff_work_the_queue_by_voice(talk, seeded_db):
    staff = talk("cli:zhouchunmei")  # leader of 二组: 260104 (噪音) is hers
    assert "260104" in staff.say("我的待办")
    reply = staff.say("受理260104 我下午去看")
    assert "对吗" in reply
    assert "正在办理" in staff.say("对")
    reply = staff.say("260104办结了 已经跟跳舞的商量好 九点前结束")
    assert "对吗" in reply
    assert "已办结" in staff.say("对")
    with session_scope(url=seeded_db) as s:
        g = s.execute(select(Grievance).where(Grievance.ticket_no == "260104")).scalar_one()
        assert g.state == GrievanceState.resolved
        notes = s.execute(select(OutboxMessage.text).where(OutboxMessage.user_id == g.reporter_id)).scalars().all()
        assert any("已经办结" in n for n in notes)


def test_villager_cannot_resolve_by_voice(talk):
    chat = talk("cli:hh020")
    assert "只有网格员" in chat.say("260101办结了 路灯好了")


def test_unsatisfied_reporter_reopens_the_case(talk, seeded_db):
    chat = talk("cli:hh003")  # 260103 was resolved in the seed
    reply = chat.say("你好")
    assert "260103" in reply and "满意吗" in reply
    reply = chat.say("不满意 还在漏")
    assert "重新" in reply
    with session_scope(url=seeded_db) as s:
        g = s.execute(select(Grievance).where(Grievance.ticket_no == "260103")).scalar_one()
        assert g.state == GrievanceState.in_progress and g.satisfaction == "不满意"
