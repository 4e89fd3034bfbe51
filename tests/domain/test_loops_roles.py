"""The roles the loops add: township staff, relatives living elsewhere (子女在外), the shop keeper."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import identity
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import Household, HouseholdRelative, Role, User


def test_the_demo_seed_has_the_new_accounts(fresh_db):
    with session_scope(url=fresh_db) as s:
        roles = {u.login: u.role for u in s.execute(select(User).where(
            User.login.in_(["liujianhua", "xiaomaibu", "limingliang"]))).scalars()}
        assert roles == {"liujianhua": Role.township, "xiaomaibu": Role.shopkeeper, "limingliang": Role.relative}
        village_id = resolve_actor(s, "cli:chenzhiming").village_id
        assert identity.township_duty(s, village_id).login == "liujianhua"
        household_2 = s.execute(select(Household.id).where(Household.number == 2)).scalar_one()
        assert [u.login for u in identity.relatives_of(s, household_2)] == ["limingliang"]
        son = resolve_actor(s, "cli:limingliang")
        assert son.is_relative and not son.is_staff and son.household_id is None  # not the household itself
        assert identity.relative_household_ids(s, son.user_id) == [household_2]
        township = resolve_actor(s, "cli:liujianhua")
        assert township.is_township and not township.is_staff
        assert identity.serves_township_of(s, township, village_id)
        assert resolve_actor(s, "cli:xiaomaibu").is_shopkeeper


def test_staff_link_a_relative_to_a_household_once(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        village_id = resolve_actor(s, "cli:chenzhiming").village_id
        s.add(User(village_id=village_id, login="wangxiaojun", display_name="王小军", role=Role.relative))
        s.flush()
        household_1 = s.execute(select(Household.id).where(Household.number == 1)).scalar_one()
        worker = resolve_actor(s, "cli:wangxiulan")
        link = identity.link_relative(s, worker, "wangxiaojun", household_1, "儿子")
        assert identity.link_relative(s, worker, "wangxiaojun", household_1).id == link.id
        assert s.execute(select(HouseholdRelative).where(HouseholdRelative.household_id == household_1)
                         ).scalars().all() == [link]
        with pytest.raises(AccessDenied):  # household 40 is not in her grids
            identity.link_relative(s, worker, "wangxiaojun",
                                   s.execute(select(Household.id).where(Household.number == 40)).scalar_one())
        with pytest.raises(AccessDenied):  # only accounts with the relative role
            identity.link_relative(s, worker, "wangjianguo", household_1)
        with pytest.raises(AccessDenied):
            identity.link_relative(s, resolve_actor(s, "cli:wangjianguo"), "wangxiaojun", household_1)
        with pytest.raises(AccessDenied):
            identity.require_role(resolve_actor(s, "cli:wangxiulan"), Role.shopkeeper, "hand out goods")
        identity.require_role(resolve_actor(s, "cli:xiaomaibu"), (Role.shopkeeper, Role.admin), "hand out goods")
