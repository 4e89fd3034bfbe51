"""Health: what ``python -m bot health`` prints (JSON, exit code 0/1) and what an HTTP health
route returns (200 when ``status`` is not ``fail``, 503 otherwise).

:func:`health` reports

* ``model``: the model file the servers load (``XIANGYIN_MODEL`` or the newest matching the
  training fingerprint), its version (the fingerprint), size and time; a missing model is a
  failure (the servers cannot start), an older model present a warning;
* ``database``: reachable (``SELECT 1`` with a short timeout), engine, schema revision and this
  code's head; unreachable or behind is a failure;
* ``outbox``: messages not delivered yet (``backlog``), the oldest one's age, and those given up
  (after ``MAX_ATTEMPTS``);
* ``disk``: free space for ``var/`` and the backup folder(s), the newest backup and its age;
  warnings when a disk runs low (``XIANGYIN_BACKUP_FREE_FACTOR``) or the newest backup is more
  than 36 hours old while the nightly backup is on; a failure below 64 MB free;
* ``servers`` (``probe_servers=True``, the CLI): whether the Rasa and action servers answer;
* ``recogniser``: when voice is recognised in a process of its own (``XIANGYIN_ASR_SERVER``, or
  with ``probe_servers`` the one a run starts): whether it answers, its state (``loading``,
  ``ready``, ``no-model``) and model; anything but ready is a warning (text still works, voice
  turns do not).

``status`` is ``ok``, ``warn`` (warnings only) or ``fail`` (problems). Never raises.
"""
from __future__ import annotations

import datetime as dt
import time
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.config import Settings

CRITICAL_FREE_BYTES = 64 * 1024 * 1024
STALE_BACKUP_HOURS = 36


def _model(settings: Settings, report: dict) -> dict:
    from bot.ops.runtime import model_path

    try:
        path = Path(model_path(settings))
    except Exception as exc:  # noqa: BLE001 - training inputs unreadable: say so
        report["problems"].append(f"model: {exc}")
        return {"error": str(exc)}
    info = {"file": str(path), "exists": path.is_file(),
            "version": path.name[len("xiangyin-"):-len(".tar.gz")] if path.name.endswith(".tar.gz") else path.name}
    if path.is_file():
        stat = path.stat()
        info.update(bytes=stat.st_size,
                    trained_at=dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc).isoformat(timespec="seconds"))
        return info
    others = sorted(settings.models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True) \
        if settings.models_dir.is_dir() else []
    if others:
        info["newest_present"] = others[0].name
        report["warnings"].append(f"model {path.name} not trained yet (training data changed); newest present: "
                                  f"{others[0].name} (run `python -m bot train`)")
    else:
        report["problems"].append(f"no trained model in {settings.models_dir} (run `python -m bot train`)")
    return info


def _database(settings: Settings, report: dict) -> dict:
    from bot.ops.backup import redact
    from bot.ops.integrity import head_revision, schema_revision
    from bot.outbox import MAX_ATTEMPTS
    from bot.models import OutboxMessage, utcnow

    url = settings.database.url
    info = {"url": redact(url), "engine": make_url(url).get_backend_name(), "reachable": False}
    if info["engine"] == "sqlite" and not Path(make_url(url).database or "").is_file():
        report["problems"].append(f"database file {make_url(url).database} does not exist (run `python -m bot seed`)")
        return info
    args = {"timeout": 5} if info["engine"] == "sqlite" else {"connect_timeout": 5}
    engine = create_engine(url, future=True, poolclass=NullPool, connect_args=args)
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            info["reachable"] = True
            info["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
            info["schema_revision"] = schema_revision(conn)
            info["head_revision"] = head_revision()
            info["up_to_date"] = info["schema_revision"] == info["head_revision"]
            if not info["up_to_date"]:
                report["problems"].append(f"database schema {info['schema_revision']} is not this code's "
                                          f"{info['head_revision']} (run `python -m bot migrate`)")
            try:
                pending = (OutboxMessage.delivered_at.is_(None)) & (OutboxMessage.attempts < MAX_ATTEMPTS)
                backlog = conn.execute(select(func.count()).select_from(OutboxMessage).where(pending)).scalar_one()
                oldest = conn.execute(select(func.min(OutboxMessage.created_at)).where(pending)).scalar()
                failed = conn.execute(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts >= MAX_ATTEMPTS)).scalar_one()
                report["outbox"] = {
                    "backlog": backlog, "given_up": failed,
                    "oldest_pending_minutes": round((utcnow() - oldest).total_seconds() / 60, 1) if oldest else None,
                }
            except Exception as exc:  # noqa: BLE001 - an old schema without the outbox
                report["outbox"] = {"error": str(exc).splitlines()[0]}
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        info["error"] = str(exc).splitlines()[0][:300]
        report["problems"].append(f"database unreachable: {info['error']}")
    finally:
        engine.dispose()
    return info


def _disk(settings: Settings, report: dict) -> dict:
    from bot.ops.backup import disk_free, list_backups, local_time, space_warnings

    info = {"var_dir": str(settings.var_dir), "var_free_bytes": disk_free(settings.var_dir),
            "backup_dir": str(settings.backup.dir), "backup_free_bytes": disk_free(settings.backup.dir)}
    if settings.backup.copy_to:
        present = settings.backup.copy_to.is_dir()
        info["copy_to"] = str(settings.backup.copy_to)
        info["copy_to_present"] = present
        if present:
            info["copy_to_free_bytes"] = disk_free(settings.backup.copy_to)
        else:
            report["warnings"].append(f"second backup folder {settings.backup.copy_to} is missing (USB stick?)")
    newest = next((b for b in list_backups(settings.backup.dir) if b.complete), None)
    if newest is not None:
        local_now = local_time(None, settings.timezone).replace(tzinfo=None)
        age = (local_now - newest.stamp).total_seconds() / 3600
        info["last_backup"] = {"file": newest.path.name, "bytes": newest.path.stat().st_size,
                               "age_hours": round(age, 1)}
        if settings.backup.at is not None and age > STALE_BACKUP_HOURS:
            report["warnings"].append(f"the newest backup is {age:.0f} hours old")
    else:
        info["last_backup"] = None
        report["warnings"].append(f"no backup in {settings.backup.dir} yet (run `python -m bot backup`)")
    report["warnings"].extend(space_warnings(settings))
    for name in ("var_free_bytes", "backup_free_bytes"):
        if info[name] < CRITICAL_FREE_BYTES:
            report["problems"].append(f"{name.split('_')[0]} disk almost full: {info[name] // (1024 * 1024)} MB free")
    return info


def _probe(url: str, timeout: float) -> dict:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310 - an http(s) URL from our settings or the caller, never a user's
            return {"url": url, "up": response.status < 500, "status": response.status,
                    "ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001 - down, refused, timed out: all "not up"
        return {"url": url, "up": False, "error": str(getattr(exc, "reason", exc))[:200]}


def _recogniser(settings: Settings, report: dict, probe: bool, timeout: float) -> dict | None:
    """The recogniser process: None when this process recognises in itself (no process named),
    and, without ``probe``, when none is configured here."""
    from bot.ops.runtime import asr_process_address

    address = settings.speech.asr_server or (asr_process_address(settings) if probe else None)
    if not address:
        return None
    from speech.remote import RecognizerUnavailable, RemoteRecognizer

    try:
        info = RemoteRecognizer(address, timeout=timeout).describe()
    except (RecognizerUnavailable, OSError, ValueError) as exc:
        report["warnings"].append(f"recogniser not answering at {address}: voice turns fail")
        return {"address": address, "up": False, "error": str(exc)[:200]}
    state = str(info.get("state") or "loading")
    models = [m for asr in info.get("asr") or [] for m in asr.get("models") or []]
    if state != "ready":
        report["warnings"].append(f"recogniser {state}" + (f": {info['problem']}" if info.get("problem") else ""))
    return {"address": address, "up": True, "state": state, "model": models[0].get("name") if models else None,
            "problem": info.get("problem") or None}


def health(settings: Settings, probe_servers: bool = False, timeout: float = 2.0) -> dict:
    """The health report (see the module docstring). Safe to call from a web handler (in a
    thread: it blocks on the database for up to a few seconds)."""
    report: dict = {"status": "ok", "checked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "mode": settings.mode, "problems": [], "warnings": [],
                    "model": None, "database": None, "outbox": None, "disk": None}
    for name, check in (("model", _model), ("database", _database), ("disk", _disk)):
        try:
            report[name] = check(settings, report)
        except Exception as exc:  # noqa: BLE001 - a health check never raises
            report["problems"].append(f"{name}: {exc}")
    if probe_servers:
        report["servers"] = {
            # Open routes only: Rasa's /status needs the API token, and the cluster's balancer
            # forwards nothing but the channel webhooks (bot/ops/cluster.py).
            "rasa": _probe(f"{settings.rasa_url}/" if not settings.is_cluster else
                           f"http://127.0.0.1:{settings.cluster.port}/webhooks/rest/", timeout),
            "actions": _probe(settings.action_url.rsplit("/", 1)[0] + "/health", timeout),
        }
        for name, state in report["servers"].items():
            if not state["up"]:
                report["warnings"].append(f"{name} server not answering at {state['url']}")
    try:
        recogniser = _recogniser(settings, report, probe_servers, timeout)
        if recogniser is not None:
            report["recogniser"] = recogniser
    except Exception as exc:  # noqa: BLE001 - a health check never raises
        report["warnings"].append(f"recogniser: {exc}")
    report["status"] = "fail" if report["problems"] else ("warn" if report["warnings"] else "ok")
    return report
