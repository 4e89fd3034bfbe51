"""Deterministic demo village: 青山镇 杏花村 (fictional).

Three second-level grids (第一/第二/第三网格) of 22 households each, split into two
third-level grids (组) of 11; all three care colours; residents; grid workers, group
leaders and an admin; a points rule table, a shop, six months of points history and
a few grievances in different states. Running it twice changes nothing.

The loops of issue 14 (:func:`seed_loops`; a village seeded before them is left as it is, call
``seed_loops`` explicitly to add the demo's share to it): the
township duty officer ``liujianhua`` (刘建华, 青山镇综治中心), the shop keeper ``xiaomaibu``
(孙玉梅, 村口小卖部 / 积分超市), a relative ``limingliang`` (李明亮, 李桂芳's son working in
杭州) linked to household 2, the care policy per colour, recyclables rules by quantity
(塑料瓶 10个 = 1分, 废纸 1公斤 = 2分) and recent care visits, so that "今天该去谁家" has answers.
"""
from __future__ import annotations

import datetime as dt
import functools
import random

from sqlalchemy import func, select

from bot.db import session_scope
from bot.security.passwords import hash_secret
from bot.models import (
    CareColour,
    CarePolicy,
    ChannelIdentity,
    Grid,
    GridAssignment,
    Household,
    HouseholdRelative,
    PointsBalance,
    PointsEntry,
    PointsRule,
    Resident,
    Role,
    ShopItem,
    User,
    Village,
    VisitLog,
    utcnow,
)

VILLAGE_CODE = "xinghua"
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN_MALE = ["建国", "国强", "志明", "德福", "长生", "春生", "金宝", "永贵", "满仓", "树林", "海涛", "明亮"]
GIVEN_FEMALE = ["桂芳", "秀兰", "丽华", "春梅", "玉珍", "凤英", "淑珍", "翠花", "桂英", "小红", "美玲", "金凤"]
GROUP_NAMES = ["一组", "二组", "三组", "四组", "五组", "六组"]
GRID_NAMES = ["第一网格", "第二网格", "第三网格"]
GRID_WORKERS = [("wangxiulan", "王秀兰"), ("liguoqiang", "李国强"), ("zhanglihua", "张丽华")]
GROUP_LEADERS = [
    ("zhaodefu", "赵德福"), ("zhouchunmei", "周春梅"), ("yangchangsheng", "杨长生"),
    ("wuyuzhen", "吴玉珍"), ("huangmancang", "黄满仓"), ("chenshulin", "陈树林"),
]
ADMIN = ("chenzhiming", "陈志明")
# Demo credentials, one per person (README "Demo logins"). A real village sets its own with
# `python -m bot staff set-pin LOGIN` / `set-password LOGIN`; hashes only are stored.
DEMO_PINS = {
    "chenzhiming": "8080", "wangxiulan": "1234", "liguoqiang": "2468", "zhanglihua": "1357",
    "zhaodefu": "2301", "zhouchunmei": "2302", "yangchangsheng": "2303", "wuyuzhen": "2304",
    "huangmancang": "2305", "chenshulin": "2306", "liujianhua": "3100", "xiaomaibu": "4100",
    "limingliang": "5100",
}
DEMO_PASSWORD_PREFIX = "xinghua-"  # console password of a demo login: xinghua-<login>  # nosec B105 - a prefix of documented demo passwords (README), not a secret


def demo_pin(login: str) -> str:
    return DEMO_PINS[login]


def demo_password(login: str) -> str:
    return DEMO_PASSWORD_PREFIX + login


@functools.lru_cache(maxsize=None)
def _hashed(login: str) -> tuple[str, str]:
    return hash_secret(demo_pin(login)), hash_secret(demo_password(login))


def _credentials(login: str) -> dict:
    """Hashed demo PIN and console password of a demo login. scrypt costs ~40 ms a hash, so one
    process hashes each login once (tests seed many scratch villages)."""
    pin, password = _hashed(login)
    return {"pin_hash": pin, "password_hash": password}

TOWNSHIP_DUTY = ("liujianhua", "刘建华", "13900000301")  # 青山镇综治中心值班员
SHOPKEEPER = ("xiaomaibu", "孙玉梅", "13900000401")  # 村口小卖部, the points shop's counter
RELATIVE = ("limingliang", "李明亮", "13900000501", 2, "儿子")  # 李桂芳's son, works in 杭州

# Rules by quantity (recyclables exchange): code, name, activity, points, description, unit, per quantity.
QUANTITY_RULES = [
    ("bottles", "回收塑料瓶", "塑料瓶", 1, "塑料瓶每10个兑换1分，送到村口小卖部称数", "个", 10),
    ("paper", "回收废纸", "废纸", 2, "废纸纸箱每公斤2分，送到村口小卖部过秤", "公斤", 1),
]

POINTS_RULES = [
    ("volunteer", "参加志愿服务", "志愿服务", 5, "每次参加村里组织的志愿服务，每半天加5分"),
    ("cleanup", "参加义务清扫", "义务清扫", 5, "参加村庄环境义务清扫，每次加5分"),
    ("sorting", "垃圾分类做得好", "垃圾分类", 2, "垃圾分类检查合格，每月加2分"),
    ("mediation", "帮助调解矛盾", "矛盾调解", 10, "协助调解邻里纠纷成功，每次加10分"),
    ("elder_care", "照顾孤寡老人", "照顾老人", 5, "照顾孤寡或独居老人，每次加5分"),
    ("brave", "见义勇为", "见义勇为", 50, "见义勇为经村委会认定，加50分"),
    ("customs", "移风易俗", "移风易俗", 20, "婚丧事简办，经红白理事会确认，加20分"),
    ("litter", "乱倒垃圾", "乱倒垃圾", -5, "乱倒垃圾、乱堆乱放，每次扣5分"),
    ("burning", "焚烧秸秆", "焚烧秸秆", -10, "违规焚烧秸秆或垃圾，每次扣10分"),
    ("quarrel", "聚众吵闹", "吵闹滋事", -10, "酗酒吵闹、滋事扰民，每次扣10分"),
]

SHOP_ITEMS = [
    ("大米", ["米", "一袋米", "稻米"], "袋", 50, 40),
    ("食用油", ["油", "花生油", "菜籽油", "一桶油"], "桶", 80, 25),
    ("洗衣粉", ["洗衣服的粉"], "袋", 20, 60),
    ("肥皂", ["香皂", "胰子"], "块", 5, 100),
    ("毛巾", ["手巾"], "条", 10, 80),
    ("酱油", ["生抽"], "瓶", 10, 50),
    ("食盐", ["盐"], "袋", 3, 100),
    ("挂面", ["面条"], "把", 8, 70),
    ("鸡蛋", ["蛋"], "盒", 30, 0),  # out of stock on purpose: exercises the shortfall answer
    ("牙膏", [], "支", 10, 40),
    ("卫生纸", ["手纸", "纸巾"], "提", 25, 30),
    ("洗洁精", ["洗碗的"], "瓶", 12, 45),
]

CARE_REASONS = {
    CareColour.green: ["家庭情况稳定"],
    CareColour.yellow: ["家中有独居老人", "家中有慢性病人", "家庭收入偏低"],
    CareColour.red: ["独居高龄老人", "重病或重度残疾", "家庭困难需重点帮扶"],
}
SENSITIVE_NOTES = ["家中有人患重病，正在治疗", "家庭成员刚刚刑满释放", "享受低保，每月领取救助金"]


def _colour_for(index: int) -> CareColour:
    # Roughly 60% green, 27% yellow, 13% red, spread over every grid.
    slot = index % 15
    if slot in (3, 11):
        return CareColour.red
    if slot in (1, 5, 8, 13):
        return CareColour.yellow
    return CareColour.green


def seed_demo_village(url: str | None = None, today: dt.date | None = None) -> bool:
    """Create the demo village. Returns False when it already exists."""
    today = today or utcnow().date()
    rng = random.Random(20241103)  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets
    with session_scope(write=True, url=url) as s:
        if s.execute(select(Village).where(Village.code == VILLAGE_CODE)).scalar_one_or_none():
            return False  # an existing village is never changed (upgrades keep every row as it was)
        village = Village(
            code=VILLAGE_CODE, name="杏花村", township="青山镇", county="平安县",
            office_phone="0571-0000000", points_per_person=False, publish_ranking=True,
        )
        s.add(village)
        s.flush()

        def add_user(login, name, role, resident=None, phone=None, staff=False):
            user = User(
                village_id=village.id, login=login, display_name=name, role=role,
                resident_id=resident.id if resident else None, phone=phone,
                **(_credentials(login) if staff else {}),
            )
            s.add(user)
            s.flush()
            s.add(ChannelIdentity(channel="cli", external_id=login, user_id=user.id))
            return user

        admin = add_user(ADMIN[0], ADMIN[1], Role.admin, phone="13900000001", staff=True)
        top = Grid(village_id=village.id, level=1, name="杏花村网格", leader_id=admin.id)
        s.add(top)
        s.flush()
        s.add(GridAssignment(user_id=admin.id, grid_id=top.id))

        rules = {}
        for code, name, activity, points, desc in POINTS_RULES:
            rule = PointsRule(village_id=village.id, code=code, name=name, activity=activity,
                              points=points, description=desc)
            s.add(rule)
            rules[code] = rule
        for name, aliases, unit, price, stock in SHOP_ITEMS:
            s.add(ShopItem(village_id=village.id, name=name, aliases=aliases, unit=unit, price=price, stock=stock))
        s.flush()

        household_index = 0
        group_index = 0
        used_names: set[str] = set()
        demo_heads = {0: ("王", "建国", "男"), 1: ("李", "桂芳", "女"), 12: ("王", "建军", "男"), 23: ("王", "建国", "男")}
        for grid_no, grid_name in enumerate(GRID_NAMES):
            login, name = GRID_WORKERS[grid_no]
            worker = add_user(login, name, Role.grid_worker, phone=f"1390000010{grid_no}", staff=True)
            grid2 = Grid(village_id=village.id, level=2, name=grid_name, parent_id=top.id, leader_id=worker.id)
            s.add(grid2)
            s.flush()
            s.add(GridAssignment(user_id=worker.id, grid_id=grid2.id))
            # The grid worker's own voice device: household data only after the spoken PIN.
            s.add(ChannelIdentity(channel="voice", external_id=f"staff-{login}", user_id=worker.id, key_version=1))
            for _ in range(2):
                leader_login, leader_name = GROUP_LEADERS[group_index]
                leader = add_user(leader_login, leader_name, Role.grid_worker,
                                  phone=f"1390000020{group_index}", staff=True)
                grid3 = Grid(village_id=village.id, level=3, name=GROUP_NAMES[group_index],
                             parent_id=grid2.id, leader_id=leader.id)
                s.add(grid3)
                s.flush()
                s.add(GridAssignment(user_id=leader.id, grid_id=grid3.id))
                for _ in range(11):
                    number = household_index + 1
                    colour = _colour_for(household_index)
                    household = Household(
                        village_id=village.id, grid_id=grid3.id, number=number,
                        address=f"杏花村{GROUP_NAMES[group_index]}{number}号",
                        care_colour=colour,
                        care_reason=rng.choice(CARE_REASONS[colour]),
                        care_since=today - dt.timedelta(days=30 + rng.randrange(600)),
                        contact_user_id=worker.id,
                        sensitive_note=rng.choice(SENSITIVE_NOTES) if colour != CareColour.green else "",
                    )
                    s.add(household)
                    s.flush()
                    if household_index in demo_heads:
                        surname, given, gender = demo_heads[household_index]
                    else:
                        while True:
                            surname = rng.choice(SURNAMES)
                            gender = rng.choice("男女")
                            given = rng.choice(GIVEN_MALE if gender == "男" else GIVEN_FEMALE)
                            if surname + given not in used_names and surname + given not in ("王建国", "李桂芳"):
                                break
                    used_names.add(surname + given)
                    head = Resident(household_id=household.id, name=surname + given, gender=gender,
                                    birth_year=1940 + rng.randrange(45), relation="户主",
                                    phone=f"1380000{number:04d}")
                    s.add(head)
                    for _ in range(rng.randrange(0, 4)):
                        mgender = rng.choice("男女")
                        mname = rng.choice(SURNAMES) + rng.choice(GIVEN_MALE if mgender == "男" else GIVEN_FEMALE)
                        s.add(Resident(household_id=household.id, name=mname, gender=mgender,
                                       birth_year=1950 + rng.randrange(60),
                                       relation=rng.choice(["配偶", "子女", "父母", "孙子女"])))
                    s.flush()
                    login_name = f"hh{number:03d}"
                    if household_index == 0:
                        login_name = "wangjianguo"
                    elif household_index == 1:
                        login_name = "liguifang"
                    add_user(login_name, head.name, Role.villager, resident=head, phone=head.phone)
                    # Demo devices come provisioned (key version 1); `python -m bot device keys`
                    # writes their keys for the device client (bot/security/devices.py).
                    s.add(ChannelIdentity(channel="voice", external_id=f"device-{number:03d}",
                                          household_id=household.id, key_version=1))
                    _seed_points(s, rng, village, household, rules, today, worker)
                    household_index += 1
                group_index += 1
        s.flush()
        seed_loops(s, village, today)
    from bot.grievances import seed_demo_grievances

    seed_demo_grievances(url=url)
    return True


def seed_loops(s, village: Village, today: dt.date) -> None:
    """The demo's part of the village loops; adds only what is missing (idempotent)."""
    from bot.care import DEFAULT_CRITERIA, DEFAULT_VISIT_DAYS

    def user(login, name, role, phone):
        found = s.execute(select(User).where(User.login == login)).scalar_one_or_none()
        if found is None:
            found = User(village_id=village.id, login=login, display_name=name, role=role, phone=phone,
                         **_credentials(login))
            s.add(found)
            s.flush()
            s.add(ChannelIdentity(channel="cli", external_id=login, user_id=found.id))
        return found

    user(TOWNSHIP_DUTY[0], TOWNSHIP_DUTY[1], Role.township, TOWNSHIP_DUTY[2])
    user(SHOPKEEPER[0], SHOPKEEPER[1], Role.shopkeeper, SHOPKEEPER[2])
    relative = user(RELATIVE[0], RELATIVE[1], Role.relative, RELATIVE[2])
    household = s.execute(select(Household).where(Household.village_id == village.id,
                                                  Household.number == RELATIVE[3])).scalar_one_or_none()
    if household is not None and not s.execute(select(HouseholdRelative.id).where(
            HouseholdRelative.household_id == household.id, HouseholdRelative.user_id == relative.id)).first():
        s.add(HouseholdRelative(household_id=household.id, user_id=relative.id, relation=RELATIVE[4]))

    codes = set(s.execute(select(PointsRule.code).where(PointsRule.village_id == village.id)).scalars())
    for code, name, activity, points, desc, unit, per in QUANTITY_RULES:
        if code not in codes:
            s.add(PointsRule(village_id=village.id, code=code, name=name, activity=activity, points=points,
                             description=desc, unit=unit, per_quantity=per))

    colours = set(s.execute(select(CarePolicy.colour).where(CarePolicy.village_id == village.id)).scalars())
    for colour in (CareColour.red, CareColour.yellow, CareColour.green):
        if colour not in colours:
            s.add(CarePolicy(village_id=village.id, colour=colour, visit_days=DEFAULT_VISIT_DAYS[colour],
                             criteria=DEFAULT_CRITERIA[colour]))
    s.flush()
    _seed_visits(s, village, today)


def _seed_visits(s, village: Village, today: dt.date) -> None:
    """Recent care visits by each household's contact worker: the last one between a day and a
    little more than the colour's interval ago, so that some households are due and a few overdue.
    Its own random generator: the rest of the demo village stays exactly as before."""
    households = list(s.execute(select(Household).where(Household.village_id == village.id)
                                .order_by(Household.number)).scalars())
    if not households or s.execute(select(VisitLog.id).join(Household, Household.id == VisitLog.household_id)
                                   .where(Household.village_id == village.id).limit(1)).first():
        return
    rng = random.Random(20261129)  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets
    interval = {CareColour.red: 7, CareColour.yellow: 14, CareColour.green: 30}
    for household in households:
        if household.contact_user_id is None:
            continue
        days = interval[household.care_colour]
        last = 1 + rng.randrange(days + 4)  # days ago; up to 3 days overdue
        for back in (last + days, last):
            day = today - dt.timedelta(days=back)
            s.add(VisitLog(household_id=household.id, worker_id=household.contact_user_id,
                           at=dt.datetime.combine(day, dt.time(2 + rng.randrange(6))),  # 10:00-15:00 local
                           note="例行走访，情况正常", channel="seed"))


def _seed_points(s, rng, village, household, rules, today, worker) -> None:
    balance = 0
    entries = []
    for month_back in range(6, -1, -1):
        for _ in range(rng.randrange(1, 4)):
            code = rng.choice(["volunteer", "cleanup", "sorting", "sorting", "elder_care", "mediation",
                               "litter", "customs", "burning"])
            rule = rules[code]
            day = today - dt.timedelta(days=month_back * 30 + rng.randrange(28))
            if day > today:
                day = today
            entries.append((dt.datetime.combine(day, dt.time(9 + rng.randrange(8))), rule))
    entries.sort(key=lambda pair: pair[0])
    for n, (at, rule) in enumerate(entries):
        if balance + rule.points < 0:
            continue
        balance += rule.points
        s.add(PointsEntry(
            village_id=village.id, household_id=household.id, rule_id=rule.id, delta=rule.points,
            reason=rule.name, actor_id=worker.id, at=at,
            idempotency_key=f"seed:{household.number}:{n}",
        ))
    s.add(PointsBalance(household_id=household.id, balance=balance))


def demo_summary(url: str | None = None) -> dict:
    with session_scope(url=url) as s:
        return {
            "households": s.execute(select(func.count(Household.id))).scalar_one(),
            "residents": s.execute(select(func.count(Resident.id))).scalar_one(),
            "users": s.execute(select(func.count(User.id))).scalar_one(),
        }
