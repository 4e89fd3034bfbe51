"""`python -m bot bench --only loops`: how fast the village loops' messages reach people.

On a scratch copy of the demo village behind a real stack (action server + Rasa server with the
voice inbox, bot.ops.runtime.embedded_stack):

- **alert-to-delivery latency per channel** (p50/p99): emergency alerts raised one after the
  other (the domain's ``raise_alarm``, as the emergency action calls it) until they reach
  - the grid worker on Telegram: our bot (python-telegram-bot, its outbox job every
    ``TELEGRAM_INTERVAL`` s) against a local Bot API stand-in that stamps each sendMessage;
  - the grid worker's own voice device, polling the voice inbox every ``POLL_INTERVAL`` s
    (signed GET, then ack), as speech/device.py does between presses;
  and "王秀兰已经收到，正在赶过去" (the caller update after the acknowledgement) to the caller's
  household device, polling the same way. The latency is from the commit of the message to
  its arrival: on average half a polling interval plus the work.
- **outbox throughput**: a backlog of messages for linked Telegram accounts drained by the
  Telegram adapter (claim, send, mark delivered; messages/s), and a backlog for device
  households drained through the voice inbox over HTTP (poll + ack; messages/s).
"""
from __future__ import annotations

import asyncio
import threading
import time
import uuid

from aiohttp import web
from sqlalchemy import select

from bench.stats import ms, pct
from bot.config import Settings, load_settings

ALARMS = 20  # per channel
TELEGRAM_INTERVAL = 2.0  # seconds between the bot's outbox runs (production: 10)
POLL_INTERVAL = 2.0  # seconds between a device's inbox checks (speech.device --poll, default 10)
BACKLOG_TELEGRAM = 1000
BACKLOG_DEVICES, BACKLOG_PER_DEVICE = 40, 10
WORKER, WORKER_DEVICE = "wangxiulan", "staff-wangxiulan"
TOKEN = "1:bench-token"  # nosec B105 - the token of the in-memory Bot API stand-in, not a secret


class BotApi:
    """The part of the Telegram Bot API our bot uses, in memory: every sendMessage is stamped."""

    def __init__(self):
        self.sent: list[tuple[float, int, str]] = []  # (time.time(), chat id, text)
        self.url, self._runner = "", None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = dict(await request.post()) if request.can_read_body else {}
        if method == "getMe":
            result = {"id": 1, "is_bot": True, "first_name": "乡音", "username": "bench_bot"}
        elif method == "getUpdates":
            await asyncio.sleep(min(float(params.get("timeout") or 0), 1.0))
            result = []
        elif method == "sendMessage":
            chat_id = int(params["chat_id"])
            self.sent.append((time.time(), chat_id, params["text"]))
            result = {"message_id": len(self.sent), "date": int(time.time()), "text": params["text"],
                      "chat": {"id": chat_id, "type": "private"}}
        else:  # deleteWebhook, answerCallbackQuery, ...
            result = True
        return web.json_response({"ok": True, "result": result})


def _link_telegram(url: str, login: str, chat_id: int) -> int:
    from bot.db import session_scope
    from bot.linking import bind
    from bot.models import User

    with session_scope(write=True, url=url) as s:
        user = s.execute(select(User).where(User.login == login)).scalar_one()
        bind(s, "telegram", str(chat_id), user)
        return user.id


def _device_client(base_url: str, device_id: str, settings: Settings):
    from bot.security.devices import device_key
    from speech.device import VoiceClient

    return VoiceClient(f"{base_url}/webhooks/voice/webhook", device_id, queue_dir=settings.var_dir / "bench-queue",
                       timeout=60, key=device_key(settings, device_id, 1).hex())


class Poller(threading.Thread):
    """A device between presses: every ``interval`` s it fetches, "plays" (stamps) and confirms."""

    def __init__(self, client, interval: float):
        super().__init__(daemon=True)
        self.client, self.interval = client, interval
        self.arrived: dict[int, float] = {}  # outbox id → time.time() it reached the device
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            waiting = self.client.poll()
            now = time.time()
            for message in waiting:
                self.arrived.setdefault(message.id, now)
            if waiting:
                self.client.ack([m.id for m in waiting])


def _created(url: str, outbox_ids: list[int]) -> dict[int, float]:
    """When each message was committed (Unix time; the database stores naive UTC)."""
    import datetime as dt

    from bot.db import session_scope
    from bot.models import OutboxMessage

    with session_scope(url=url) as s:
        rows = s.execute(select(OutboxMessage.id, OutboxMessage.created_at).where(OutboxMessage.id.in_(outbox_ids)))
        return {i: at.replace(tzinfo=dt.timezone.utc).timestamp() for i, at in rows}


def _callers(url: str, login: str = WORKER, count: int = 4) -> list[str]:
    """Devices of households whose alarms go first to ``login``."""
    from bot.db import session_scope
    from bot.identity import responsible_worker_id
    from bot.models import ChannelIdentity, Household, User

    with session_scope(url=url) as s:
        worker = s.execute(select(User.id).where(User.login == login)).scalar_one()
        found = []
        for ident in s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "voice",
                                                             ChannelIdentity.household_id.is_not(None))
                               .order_by(ChannelIdentity.external_id)).scalars():
            if responsible_worker_id(s.get(Household, ident.household_id)) == worker:
                found.append(ident.external_id)
        return found[:count]


def _alarms(url: str, devices: list[str], count: int, pause: float) -> list[int]:
    """Raises ``count`` alarms from these devices in turn; their event ids."""
    from bot import emergency
    from bot.db import session_scope
    from bot.identity import resolve_actor

    ids = []
    for n in range(count):
        with session_scope(write=True, url=url) as s:
            ids.append(emergency.raise_alarm(s, resolve_actor(s, f"voice:{devices[n % len(devices)]}"),
                                             "救命 我摔倒了").id)
        time.sleep(pause)
    return ids


def _keys(url: str, like: str) -> dict[str, int]:
    from bot.db import session_scope
    from bot.models import OutboxMessage

    with session_scope(url=url) as s:
        return dict(s.execute(select(OutboxMessage.dedupe_key, OutboxMessage.id)
                              .where(OutboxMessage.dedupe_key.like(like))).all())


def _report(label: str, latencies: list[float], expected: int, interval: float) -> None:
    print(f"loops    {label:<44} {len(latencies)}/{expected} delivered, p50 {ms(pct(latencies, 50))}, "
          f"p99 {ms(pct(latencies, 99))} (polling every {interval:g} s)")


async def _telegram_latency(url: str, rasa_url: str) -> None:
    from bot.channels.telegram.app import TelegramChannel
    from bot.channels.telegram.config import TelegramConfig

    api = BotApi()
    await api.start()
    chat_id = 910001
    _link_telegram(url, WORKER, chat_id)
    config = TelegramConfig(token=TOKEN, rasa_url=rasa_url, api_url=api.url, poll_timeout=1,
                            outbox_interval=TELEGRAM_INTERVAL, db_url=url)
    try:
        async with TelegramChannel(config).running():
            events = await asyncio.to_thread(_alarms, url, _callers(url), ALARMS, 0.37)
            keys = {f"emergency:{e}:worker" for e in events}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if sum(1 for _, chat, text in api.sent if chat == chat_id and "紧急求助" in text) >= ALARMS:
                    break
                await asyncio.sleep(0.2)
    finally:
        await api.stop()
    ids = {key: outbox_id for key, outbox_id in _keys(url, "emergency:%:worker").items() if key in keys}
    created = _created(url, list(ids.values()))
    arrivals = sorted(at for at, chat, text in api.sent if chat == chat_id and "紧急求助" in text)
    latencies = [arrival - start for arrival, start in zip(arrivals, sorted(created.values()))]
    _report("alert → grid worker on Telegram", latencies, ALARMS, TELEGRAM_INTERVAL)
    _unlink_telegram(url, chat_id)


def _unlink_telegram(url: str, chat_id: int) -> None:
    from bot.db import session_scope
    from bot.models import ChannelIdentity

    with session_scope(write=True, url=url) as s:
        for ident in s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "telegram",
                                                             ChannelIdentity.external_id == str(chat_id))).scalars():
            s.delete(ident)


def _voice_latency(url: str, base_url: str, settings: Settings) -> None:
    from bot import emergency
    from bot.db import session_scope
    from bot.identity import resolve_actor

    devices = _callers(url)
    staff = Poller(_device_client(base_url, WORKER_DEVICE, settings), POLL_INTERVAL)
    callers = {d: Poller(_device_client(base_url, d, settings), POLL_INTERVAL) for d in devices}
    for poller in (staff, *callers.values()):
        poller.start()
    try:
        events = _alarms(url, devices, ALARMS, 0.37)
        for event_id in events:
            with session_scope(write=True, url=url) as s:
                emergency.acknowledge(s, resolve_actor(s, f"cli:{WORKER}"), event_id)
            time.sleep(0.29)
        deadline = time.monotonic() + 3 * POLL_INTERVAL + 30
        wanted_alerts = {_keys(url, f"emergency:{e}:worker")[f"emergency:{e}:worker"] for e in events}
        wanted_updates = {_keys(url, f"emergency:{e}:caller_update")[f"emergency:{e}:caller_update"] for e in events}
        arrived = lambda: set(staff.arrived) | {i for p in callers.values() for i in p.arrived}  # noqa: E731
        while time.monotonic() < deadline and not (wanted_alerts | wanted_updates) <= arrived():
            time.sleep(0.2)
    finally:
        for poller in (staff, *callers.values()):
            poller.stop.set()
        for poller in (staff, *callers.values()):
            poller.join(timeout=30)
    created = _created(url, list(wanted_alerts | wanted_updates))
    alerts = [staff.arrived[i] - created[i] for i in wanted_alerts if i in staff.arrived]
    reached = {i: at for p in callers.values() for i, at in p.arrived.items()}
    updates = [reached[i] - created[i] for i in wanted_updates if i in reached]
    _report("alert → grid worker's voice device", alerts, ALARMS, POLL_INTERVAL)
    _report("who is coming → caller's voice device", updates, ALARMS, POLL_INTERVAL)


def _telegram_throughput(url: str, rasa_url: str) -> None:
    from bot.channels.telegram.delivery import TelegramDelivery
    from bot.db import session_scope
    from bot.outbox import Deliverer, notify
    from telegram import Bot

    logins = [f"hh{n:03d}" for n in range(10, 30)]
    users = [_link_telegram(url, login, 920000 + n) for n, login in enumerate(logins)]
    with session_scope(write=True, url=url) as s:
        for n in range(BACKLOG_TELEGRAM):
            notify(s, users[n % len(users)], "bench", f"第{n}条通知", f"bench:{uuid.uuid4().hex}")

    async def drain() -> tuple[int, float]:
        api = BotApi()
        await api.start()
        try:
            async with Bot(TOKEN, base_url=f"{api.url}/bot") as bot:
                deliverer = Deliverer(TelegramDelivery(bot), url)
                started, total = time.perf_counter(), 0
                while total < BACKLOG_TELEGRAM:
                    sent = await deliverer.deliver_once()
                    if not sent:
                        break
                    total += sent
                return total, time.perf_counter() - started
        finally:
            await api.stop()

    total, seconds = asyncio.run(drain())
    print(f"loops    outbox throughput, Telegram adapter: {total} messages to {len(users)} accounts in "
          f"{seconds:.1f} s = {total / seconds:.0f} messages/s (claim, send, mark delivered; SQLite)")


def _voice_throughput(url: str, base_url: str, settings: Settings) -> None:
    from bot.db import session_scope
    from bot.identity import resolve_actor
    from bot.outbox import notify

    devices = [f"device-{n:03d}" for n in range(10, 10 + BACKLOG_DEVICES)]
    with session_scope(write=True, url=url) as s:
        for device_id in devices:
            household_id = resolve_actor(s, f"voice:{device_id}").household_id
            for n in range(BACKLOG_PER_DEVICE):
                notify(s, None, "bench", f"第{n}条", f"bench:{uuid.uuid4().hex}", household_id=household_id)
    clients = [_device_client(base_url, device_id, settings) for device_id in devices]
    started, total = time.perf_counter(), 0
    for client in clients:
        while True:
            waiting = client.poll()
            if not waiting:
                break
            client.ack([m.id for m in waiting])
            total += len(waiting)
    seconds = time.perf_counter() - started
    print(f"loops    outbox throughput, voice inbox over HTTP: {total} messages to {len(clients)} devices in "
          f"{seconds:.1f} s = {total / seconds:.0f} messages/s (signed poll + ack, one device at a time)")


def main(settings: Settings | None = None) -> None:
    from bot.ops.runtime import embedded_stack, train_if_needed

    settings = settings or load_settings()
    train_if_needed(quiet=True)
    pids: dict = {}
    with embedded_stack(None, pids) as base_url:
        url = pids["database_url"]
        asyncio.run(_telegram_latency(url, base_url))
        _voice_latency(url, base_url, settings)
        _telegram_throughput(url, base_url)
        _voice_throughput(url, base_url, settings)


if __name__ == "__main__":
    main()
