"""What several subcommands share: the staff member a command runs as."""
from __future__ import annotations

from bot.config import Settings


def actor_for(login: str, settings: Settings):
    """The actor of a demo/staff login (``cli:<login>``); exits when the login is unknown."""
    from bot.db import session_scope
    from bot.identity import resolve_actor

    with session_scope(url=settings.database_url) as s:
        actor = resolve_actor(s, f"cli:{login}")
    if actor.user_id is None:
        raise SystemExit(f"unknown user {login!r}")
    return actor
