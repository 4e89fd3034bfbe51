"""The fixed words of replies that are composed from data at run time.

Whole replies are ``domain.yml`` responses. What is left here are the pieces a response's
``{placeholder}`` is filled with when the piece itself depends on the data: one line of a
list, an optional clause, a word chosen by a value. Keep the wording here and in the
responses consistent; tests compare substrings of both.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Optional, Sequence

from bot import text as cn

# --- how lists are joined ------------------------------------------------------------------
LIST_SEPARATOR = "；"  # items read one after the other (history lines, tickets)
CLAUSE_SEPARATOR = "，"  # short items in one breath (rules, options)
NAME_SEPARATOR = "、"  # names of things (shop items)


def series(items: Iterable[str], separator: str = CLAUSE_SEPARATOR) -> str:
    return separator.join(items)


def ordinal(index: int) -> str:
    """0 → '一', 1 → '二' …: how options are numbered when read out."""
    return cn.number_to_chinese(index + 1)


# --- points -------------------------------------------------------------------------------

def signed_points(delta: int) -> str:
    """5 → '加5分', -5 → '扣5分'."""
    return f"加{delta}分" if delta >= 0 else f"扣{-delta}分"


def spoken_date(at: dt.date) -> str:
    """A date as said in a reply: '3月5日'."""
    return cn.month_day(at)


def points_owner(per_person: bool) -> str:
    """Whose points: a villager's own (per-person villages) or the household's."""
    return "您" if per_person else "您家"


def points_unit(per_person: bool) -> str:
    """What the village ranking counts: people or households."""
    return "人" if per_person else "户"


def month_change(earned: int, deducted: int = 0, spent: int = 0) -> str:
    """The optional clause of the balance: '这个月挣了25分，扣了5分，兑换花了20分。' — spending
    in the points shop is never called a deduction (扣分 means a penalty to villagers)."""
    parts = [f"{verb}{points}分" for verb, points in (("挣了", earned), ("扣了", deducted), ("兑换花了", spent))
             if points]
    return f"这个月{'，'.join(parts)}。" if parts else ""


def village_rank(rank: Optional[int], out_of: int, unit: str) -> str:
    """The optional clause of the balance: '今年挣的积分在全村66户里排第3名。' ('' without a rank)."""
    return f"今年挣的积分在全村{out_of}{unit}里排第{rank}名。" if rank is not None else ""


def head_age(head: str, birth_year: Optional[int], this_year: int) -> str:
    """'户主黄志明，1969年生，今年57岁' (by the calendar year, not the birthday)."""
    if birth_year is None:
        return "户主的年纪没有登记"
    return f"户主{head}，{birth_year}年生，今年{this_year - birth_year}岁"


def open_grievances(count: int, clause: bool = True) -> str:
    """'有2件诉求在办' (with '，' as a clause of the summary); none in progress is not said in a
    summary (''), and said as '没有在办的诉求' when asked."""
    if count:
        return f"有{count}件诉求在办" + ("，" if clause else "")
    return "" if clause else "没有在办的诉求"


def history_line(at: dt.date, reason: str, delta: int, spent: bool = False) -> str:
    """'11月3日，义务清扫，加5分'; points spent in the shop are '花了50分', never '扣' (a penalty)."""
    return f"{spoken_date(at)}，{reason}，{f'花了{-delta}分' if spent else signed_points(delta)}"


def rule_line(name: str, points: int) -> str:
    return f"{name}{signed_points(points)}"


def affordable_clause(items: Sequence[str]) -> str:
    """The optional clause when points run short: '您可以换食盐、挂面。'."""
    return f"您可以换{series(items, NAME_SEPARATOR)}。" if items else ""


def enough_clause(balance: int, cost: int) -> str:
    """Whether the household can afford it, said after a price: '够换' / '还差6分'."""
    return "够换" if balance >= cost else f"还差{cost - balance}分"


def alternatives_clause(items: Sequence[str]) -> str:
    """The optional clause when an item sold out: '可以看看毛巾、牙膏。'."""
    return f"可以看看{series(items, NAME_SEPARATOR)}。" if items else ""


def appeal_reason(question: str) -> str:
    """What the grid worker reads about an appeal filed by voice or chat."""
    return f"村民对这笔扣分有异议（原话：{question}）" if question else "村民对这笔扣分有异议"


# --- grievances ---------------------------------------------------------------------------

def urgency_read_back(urgency: Optional[str]) -> str:
    return "比较急" if urgency == "紧急" else "不算急"


def anonymity_read_back(anonymous: bool) -> str:
    return "对邻居保密" if anonymous else "不用保密"


NO_ASSIGNEE = "村委会"  # who answers a grievance nobody is assigned to


def assignee_clause(assignee: Optional[str]) -> str:
    """The optional clause of a status answer: '由李国强负责。'."""
    return f"由{assignee}负责。" if assignee else ""


def latest_note_clause(note: Optional[str]) -> str:
    """The optional clause of a status answer: '最新情况：已经联系电工。'."""
    return f"最新情况：{note}。" if note else ""


def status_line(ticket: str, description: str, state: str) -> str:
    return f"{ticket}号{description}，{state}"


def queue_line(ticket: str, place: str, description: str, state: str) -> str:
    return f"{ticket}号，{place}，{description}，{state}"


#: How a staff command is read back: "把260104号“噪音”办结".
STAFF_VERB_NAMES = {"accept": "开始办理", "note": "记一条进展", "resolve": "办结", "escalate": "上报",
                    "reject": "退回"}


def note_clause(note: str) -> str:
    """The optional note of a read-back: '，路灯换好了'."""
    return f"，{note}" if note else ""


# --- households ---------------------------------------------------------------------------

NO_CONTACT = "村委会"  # a household without a named 三线联系人
DEFAULT_VISIT_NOTE = "情况正常"


def last_visit(on: Optional[dt.date]) -> str:
    return f"上次走访是{spoken_date(on)}" if on else "还没有走访记录"


def household_option(index: int, grid: str, number: int) -> str:
    return f"{ordinal(index)}是{grid}{number}号"


# --- knowledge ----------------------------------------------------------------------------

def spoken_option(index: int, title: str) -> str:
    return f"{ordinal(index)}是{title}"


HUMAN_BUTTON = "找网格员"  # the button (and the words) that hand over to a person

# --- hand-off -----------------------------------------------------------------------------

SOMEONE = "一位村民"  # a caller the system cannot name


def callback_request(name: Optional[str]) -> str:
    """The notification a contact person gets when a villager asks for a human."""
    return f"{name or SOMEONE}想找人说话，请回个电话。"


def forwarded_question(name: Optional[str], question: str) -> str:
    """The notification the village office gets when a policy question could not be answered."""
    return f"{name or SOMEONE}问：“{question}”。系统答不准，请给回个话。"


# --- staff in the field: lists, awards, emergencies ---------------------------------------

def household_label(head: str, number: int) -> str:
    """How staff hear a household named: '赵丽华家（8号）'."""
    return f"{head}家（{number}号）" if head else f"{number}号户"


def household_line(head: str, number: int, detail: str) -> str:
    """One household of a list: '杨金凤家，5号，独居高龄老人'."""
    return f"{head}家，{number}号" + (f"，{detail}" if detail else "")


def award_points(delta: int) -> str:
    """How an award is read back: 5 → '记5分', -10 → '扣10分'."""
    return f"记{delta}分" if delta >= 0 else f"扣{-delta}分"


def visit_status(last_visit: Optional[dt.date], due_on: dt.date, today: dt.date) -> str:
    """Where a household stands in the visit schedule: '还没走访过' / '超期3天' / '今天到期' / '11月30日到期'."""
    if last_visit is None:
        return "还没走访过"
    if due_on < today:
        return f"超期{(today - due_on).days}天"
    if due_on == today:
        return "今天到期"
    return f"{spoken_date(due_on)}到期"


def clock_time(at: dt.datetime, today: dt.date) -> str:
    """When something happened (local time): '今天9点05分' / '11月28日21点30分'."""
    day = "今天" if at.date() == today else spoken_date(at.date())
    return f"{day}{at.hour}点{at.minute:02d}分"


UNLINKED_CALLER = "一位未绑定的用户"  # an emergency from a sender linked to no household


def guessed(label: str) -> str:
    """Said before an answer the knowledge base is not quite sure of, with one candidate only: the
    answer straight away, named so that a wrong guess is heard at once ("我猜您问的是临时救助。")."""
    return f"我猜您问的是{label}。"

