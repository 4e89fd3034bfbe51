"""Taking charge of an emergency from a messaging channel (Telegram's button, WeCom's card, a
typed 收到): one reply for every outcome, the same on every channel. The rule itself — who may
take it, the first one wins, the caller and the relatives are told — is bot/emergency.py's."""
from __future__ import annotations

from sqlalchemy.orm import Session

from bot import emergency
from bot.identity import AccessDenied, Actor
from bot.models import EmergencyEvent

ACK_BUTTON = "收到，我去处理"
ACK_DONE = "好的，已经告诉{caller}您正在赶过去。请尽快联系。"
ACK_ALREADY_YOURS = "这次求助您已经接手了，请尽快赶过去。"
ACK_TAKEN = "这次求助{name}已经接手了。"
ACK_CLOSED = "这次求助已经处理好了。"
ACK_NOT_YOURS = "这条求助不归您处理。有疑问请联系村委会。"
ACK_UNKNOWN = "没有找到这条求助，请直接联系村委会。"


def caller(event: EmergencyEvent) -> str:
    """Who asked for help, as the responder knows them: "2号李桂芳家"."""
    household = event.household
    if household is None:
        return "求助的人"
    head = next((r.name for r in household.residents if r.is_head),
                household.residents[0].name if household.residents else "")
    return f"{household.number}号{head}家"


def take_charge(s: Session, actor: Actor, emergency_id: int) -> str:
    """The linked staff ``actor`` takes charge of an alert (inside ``s``'s transaction, so a
    refusal stays in the audit log); returns what to tell them."""
    prior = s.get(EmergencyEvent, emergency_id)
    had = prior.acknowledged_by if prior is not None else None
    try:
        event = emergency.acknowledge(s, actor, emergency_id)
    except AccessDenied:
        return ACK_NOT_YOURS
    except LookupError:
        return ACK_UNKNOWN
    if event.closed_at is not None:
        return ACK_CLOSED
    if had == actor.user_id:
        return ACK_ALREADY_YOURS
    if event.acknowledged_by == actor.user_id:
        return ACK_DONE.format(caller=caller(event))
    return ACK_TAKEN.format(name=event.acknowledger.display_name if event.acknowledger else "别人")
