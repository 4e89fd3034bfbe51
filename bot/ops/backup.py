"""Backups that restore: ``python -m bot backup`` / ``restore`` and the nightly job.

**Backup** (:func:`backup`) takes a consistent copy while the servers keep writing:

* SQLite: SQLite's online backup API copies every page in one step inside one read
  transaction (WAL mode: writers carry on, the copy is the database as of one commit), into a
  temporary file in the backup folder; the copy is checked (``PRAGMA integrity_check``),
  described (schema revision, rows per table, the village) and gzip-compressed.
* PostgreSQL: a REPEATABLE READ transaction exports its snapshot
  (``pg_export_snapshot()``), counts the rows in it, and ``pg_dump --format=custom
  --snapshot=…`` dumps exactly that snapshot (already compressed). pg_dump comes from
  ``XIANGYIN_BACKUP_PG_DUMP`` or PATH; the password goes through ``PGPASSWORD``, never the
  command line.

Names: ``xiangyin-<village code>-<YYYYmmdd-HHMMSS local time>[-tag].sqlite.gz`` (``.pgdump``),
beside ``<name>.json`` (the manifest) and ``<name>.sha256`` (``sha256sum -c`` format). Every
file is written under a temporary name, fsync'ed and renamed, data file first: a data file
without a manifest is an unfinished backup (refused by restore, pruned later).

Manifest (``format: xiangyin-backup/1``): ``file``, ``bytes``, ``sha256`` (of the data file),
``engine`` (sqlite | postgresql), ``compression`` (gzip | pg_dump-custom), ``database_bytes``,
``schema_revision`` (``alembic_version``), ``created_at`` (UTC), ``local_time``, ``timezone``,
``village`` ({code, name, township} or null), ``villages``, ``row_counts`` ({table: rows}),
``total_rows``, ``source`` (URL without password), ``host``, ``app_version``, ``tag``, ``seconds``.

**Retention** (:func:`plan_retention`): per village series, the newest backup of each of the
last ``keep_daily`` days, ``keep_weekly`` ISO weeks and ``keep_monthly`` months that have
backups (restic/borg semantics), and always the newest; the rest is deleted with its manifest.
**Second copy**: to ``XIANGYIN_BACKUP_COPY_TO`` when that folder exists (it is never created:
an unplugged USB stick is a warning, not a copy on the main disk), verified by checksum, with
the same retention. **Disk space**: a warning when a backup folder has less free space than
``free_factor`` × the backup, or the database's disk less than ``free_factor`` × the database.

**Restore** (:func:`restore`): verifies the checksum and the schema revision (a revision this
code does not know is a newer release: refused), refuses a target holding data unless
``force`` (then the current data is first saved as a ``-pre-restore`` backup), writes the copy
(SQLite: the backup API into the target file; PostgreSQL: ``pg_restore --single-transaction``),
runs the migrations forward when the backup is older, and checks every balance against its
ledger, every grievance state against its last event and every table's rows against the
manifest.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from bot.config import Settings, child_environment, load_settings
from bot.ops.integrity import (
    IntegrityReport,
    check_integrity,
    head_revision,
    insert_order,
    known_revisions,
    row_counts,
    schema_revision,
    sqlite_file_check,
)

logger = logging.getLogger(__name__)

FORMAT = "xiangyin-backup/1"
NAME = re.compile(r"^xiangyin-(?P<slug>[a-z0-9_]+)-(?P<stamp>\d{8}-\d{6})(?:-(?P<tag>[a-z0-9]+(?:-[a-z0-9]+)*))?"
                  r"\.(?P<ext>sqlite\.gz|pgdump)$")
STAMP = "%Y%m%d-%H%M%S"
TEMP_PREFIX = ".tmp-backup-"
INCOMPLETE_GRACE = dt.timedelta(hours=1)
RETRY_AFTER_FAILURE = 3600.0  # seconds before the nightly job tries again after a failure
BOOKKEEPING_TABLES = ("datamove_map", "datamove_runs")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message is for the village clerk."""


class RestoreRefused(BackupError):
    pass


# --- small helpers ------------------------------------------------------------------------

def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(now: dt.datetime | None) -> dt.datetime:
    now = now or _utcnow()
    return now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)


def local_time(now: dt.datetime | None, timezone: str) -> dt.datetime:
    return _aware(now).astimezone(zoneinfo.ZoneInfo(timezone))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename), to the disk; a file system that cannot
    sync a folder (some USB sticks) is let off."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not Path(path).is_dir():
            raise
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    part = path.with_name(f".{path.name}.part")
    with open(part, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, path)


def disk_free(path: Path) -> int:
    """Free bytes on the disk holding ``path`` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def find_tool(name: str, settings: Settings, path: str | None = None,
              versioned: Path = Path("/usr/lib/postgresql")) -> str:
    """pg_dump or pg_restore: XIANGYIN_BACKUP_PG_DUMP (pg_restore beside it), PATH, then the
    Debian/Ubuntu versioned folders (newest first)."""
    configured = settings.backup.pg_dump
    candidates = []
    if configured:
        candidates.append(configured if name == "pg_dump" else str(Path(configured).with_name(name)))
    found = shutil.which(name, path=path)
    if found:
        candidates.append(found)
    candidates += sorted((str(p) for p in versioned.glob(f"*/bin/{name}")), reverse=True)
    for candidate in candidates:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端（sudo apt-get install postgresql-client），"
                      f"或用 XIANGYIN_BACKUP_PG_DUMP 指定 pg_dump 的路径。 / {name} not found: install the "
                      f"PostgreSQL client tools or set XIANGYIN_BACKUP_PG_DUMP.")


def _libpq(url: str) -> tuple[str, dict]:
    """A libpq connection URI without the password, and the environment carrying it."""
    parsed = make_url(url)
    password = parsed.password
    plain = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, ({"PGPASSWORD": str(password)} if password else {})


def _plain_engine(url: str):
    """An engine of its own (no pool, no pragmas): for snapshots, staged files and checks."""
    return create_engine(url, future=True, poolclass=NullPool)


def _slug(value: str | None) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", (value or "").lower()).strip("_") or "xiangyin"


def _app_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("xiangyin")
    except Exception:  # noqa: BLE001 - not installed as a package: no version to report
        return None


def describe(conn: Connection) -> dict:
    """What a manifest says about a database: revision, rows per table, its village(s)."""
    facts = {"schema_revision": schema_revision(conn), "row_counts": row_counts(conn)}
    villages = []
    if "villages" in inspect(conn).get_table_names():
        villages = [dict(row._mapping) for row in
                    conn.execute(text("SELECT code, name, township FROM villages ORDER BY id"))]
    facts["villages"] = len(villages)
    facts["village"] = villages[0] if len(villages) == 1 else None
    facts["total_rows"] = sum(facts["row_counts"].values())
    return facts


# --- listing and retention ----------------------------------------------------------------

@dataclass(frozen=True)
class BackupFile:
    path: Path
    slug: str
    stamp: dt.datetime  # local time of the backup, naive
    tag: str

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    @property
    def checksum_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256")

    @property
    def complete(self) -> bool:
        return self.manifest_path.exists()

    def files(self) -> list[Path]:
        return [p for p in (self.path, self.manifest_path, self.checksum_path) if p.exists()]

    @property
    def series(self) -> tuple[str, str]:
        """Retention applies per village and kind: ``pre-restore`` copies never push out the
        regular backups (nor the other way round)."""
        return self.slug, re.sub(r"(?:^|-)\d+$", "", self.tag)

    @property
    def order(self) -> tuple:
        """Newest last: by time, then by the counter of same-second backups (``-2``, ``-3``)."""
        counter = re.search(r"(?:^|-)(\d+)$", self.tag)
        return (self.stamp, int(counter.group(1)) if counter else 1, self.path.name)


def parse_name(path: Path) -> BackupFile | None:
    match = NAME.match(Path(path).name)
    if not match:
        return None
    return BackupFile(Path(path), match["slug"], dt.datetime.strptime(match["stamp"], STAMP), match["tag"] or "")


def list_backups(folder: Path) -> list[BackupFile]:
    """Backups in ``folder`` (ours by name only), newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [b for b in (parse_name(p) for p in folder.iterdir() if p.is_file()) if b is not None]
    return sorted(found, key=lambda b: b.order, reverse=True)


def plan_retention(backups: list[BackupFile], daily: int, weekly: int, monthly: int
                   ) -> tuple[list[BackupFile], list[BackupFile]]:
    """(keep, prune) for one series: the newest backup of each of the last ``daily`` days,
    ``weekly`` ISO weeks and ``monthly`` months that have one, and always the newest."""
    ordered = sorted(backups, key=lambda b: b.order, reverse=True)
    keep: set[Path] = set()
    buckets: list[tuple[int, Callable[[dt.datetime], tuple]]] = [
        (daily, lambda t: (t.year, t.month, t.day)),
        (weekly, lambda t: tuple(t.isocalendar())[:2]),
        (monthly, lambda t: (t.year, t.month)),
    ]
    for count, period in buckets:
        seen: list[tuple] = []
        for b in ordered:
            if len(seen) >= count:
                break
            key = period(b.stamp)
            if key not in seen:
                seen.append(key)
                keep.add(b.path)
    if ordered:
        keep.add(ordered[0].path)
    return ([b for b in ordered if b.path in keep], [b for b in ordered if b.path not in keep])


def prune(folder: Path, settings: Settings, now: dt.datetime | None = None, protect: str | None = None) -> list[Path]:
    """Apply the retention policy to every series in ``folder``; returns the deleted data files.
    Unfinished backups (no manifest) older than an hour are deleted too; ``protect`` (a file
    name: the backup just made) never is."""
    b = settings.backup
    local_now = local_time(now, settings.timezone).replace(tzinfo=None)
    all_backups = list_backups(folder)
    deleted = []
    for backup_file in all_backups:
        if not backup_file.complete and local_now - backup_file.stamp > INCOMPLETE_GRACE:
            for path in backup_file.files():
                path.unlink(missing_ok=True)
            deleted.append(backup_file.path)
    complete = [x for x in all_backups if x.complete]
    for series in sorted({x.series for x in complete}):
        _, drop = plan_retention([x for x in complete if x.series == series], b.keep_daily, b.keep_weekly,
                                 b.keep_monthly)
        for backup_file in drop:
            if backup_file.path.name == protect:
                continue
            for path in backup_file.files():
                path.unlink(missing_ok=True)
            deleted.append(backup_file.path)
    return deleted


def _clean_stale_temp(folder: Path) -> None:
    """Temporary folders of backups that were killed half-way (older than an hour)."""
    for stale in Path(folder).glob(f"{TEMP_PREFIX}*"):
        try:
            if time.time() - stale.stat().st_mtime > INCOMPLETE_GRACE.total_seconds():
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RestoreRefused(f"清单文件读不了 / cannot read the manifest {path}: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise RestoreRefused(f"不认识的清单格式 / unknown manifest format in {path}: {manifest.get('format')!r}")
    return manifest


# --- disk space ---------------------------------------------------------------------------

def space_warnings(settings: Settings, backup_bytes: int | None = None, url: str | None = None) -> list[str]:
    """Warnings when a backup folder or the database's disk runs low (see ``free_factor``)."""
    factor = settings.backup.free_factor
    warnings = []
    if backup_bytes is None:
        newest = next((x for x in list_backups(settings.backup.dir) if x.complete), None)
        backup_bytes = newest.path.stat().st_size if newest else None
    folders = [("备份盘 / backup folder", settings.backup.dir)]
    if settings.backup.copy_to and settings.backup.copy_to.is_dir():
        folders.append(("第二份备份 / second copy", settings.backup.copy_to))
    if backup_bytes:
        for label, folder in folders:
            free = disk_free(folder)
            if free < factor * backup_bytes:
                warnings.append(f"{label} {folder}: 剩余空间 {human(free)}，不到上次备份 {human(backup_bytes)} 的 "
                                f"{factor:g} 倍，请清理或换大盘 / low disk space")
    url = url or settings.database.url
    if url.startswith("sqlite"):
        db_path = Path(make_url(url).database or "")
        if db_path.is_file():
            size = db_path.stat().st_size
            free = disk_free(db_path.parent)
            if free < factor * size:
                warnings.append(f"数据库所在磁盘 / database disk {db_path.parent}: 剩余空间 {human(free)}，"
                                f"不到数据库 {human(size)} 的 {factor:g} 倍 / low disk space")
    return warnings


# --- backup -------------------------------------------------------------------------------

@dataclass
class BackupResult:
    path: Path
    manifest: dict
    copies: list[Path] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.manifest["seconds"]


def _snapshot_sqlite(db_path: Path, staging: Path) -> tuple[Path, dict]:
    if not db_path.is_file():
        raise BackupError(f"数据库文件不存在 / database file not found: {db_path}")
    snapshot = staging / "snapshot.db"
    source = sqlite3.connect(str(db_path), timeout=60)
    target = sqlite3.connect(str(snapshot))
    try:
        source.backup(target)  # pages=-1: all pages in one step, one read transaction
        target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file
    finally:
        target.close()
        source.close()
    verdict = sqlite_file_check(snapshot)
    if verdict != "ok":
        raise BackupError(f"数据库自检失败，备份没有做 / the database failed its integrity check: {verdict}")
    engine = _plain_engine(f"sqlite:///{snapshot}")
    try:
        with engine.connect() as conn:
            facts = describe(conn)
    finally:
        engine.dispose()
    facts["database_bytes"] = snapshot.stat().st_size
    return snapshot, facts


def _compress(snapshot: Path, part: Path, inner_name: str) -> None:
    with open(snapshot, "rb") as source, open(part, "wb") as raw:
        with gzip.GzipFile(filename=inner_name, mode="wb", fileobj=raw, compresslevel=6) as packed:
            shutil.copyfileobj(source, packed, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())


def _dump_postgres(url: str, part: Path, settings: Settings) -> dict:
    pg_dump = find_tool("pg_dump", settings)
    libpq, secret_env = _libpq(url)
    engine = _plain_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                facts = describe(conn)
                facts["database_bytes"] = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
                cmd = [pg_dump, "--format=custom", f"--snapshot={snapshot}", "--no-password",
                       "--file", str(part), "--dbname", libpq]
                done = subprocess.run(cmd, env=child_environment(secret_env, settings), capture_output=True,  # nosec B603 - pg_dump from the settings with a fixed argument list, no shell
                                      text=True)
    finally:
        engine.dispose()
    if done.returncode != 0:
        raise BackupError(f"pg_dump 失败 / pg_dump failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    with open(part, "rb+") as handle:
        os.fsync(handle.fileno())
    return facts


def _backup_name(folder: Path, slug: str, stamp: dt.datetime, tag: str | None, ext: str) -> str:
    base = f"xiangyin-{slug}-{stamp:{STAMP}}"
    tags = [tag] if tag else []
    for n in range(2, 100):
        name = "-".join([base, *tags]) + f".{ext}"
        if not (folder / name).exists():
            return name
        tags = ([tag] if tag else []) + [str(n)]
    raise BackupError(f"too many backups named {base} in {folder}")


def backup(settings: Settings, to: Path | str | None = None, url: str | None = None, tag: str | None = None,
           now: dt.datetime | None = None, prune_old: bool = True, copy: bool = True) -> BackupResult:
    """One backup of the database at ``url`` (default: the settings' database) into ``to``
    (default ``settings.backup.dir``), its second copy, retention and disk-space warnings.
    Raises :class:`BackupError` (nothing half-written is left behind)."""
    try:
        return _backup(settings, to, url, tag, now, prune_old, copy)
    except (OSError, sqlite3.Error) as exc:
        folder = Path(to or settings.backup.dir)
        raise BackupError(f"备份没有写成（磁盘满了？U盘拔了？）/ the backup could not be written to {folder}: {exc} "
                          f"(free: {human(disk_free(folder))})") from exc


def _backup(settings: Settings, to, url, tag, now, prune_old, copy) -> BackupResult:
    started = time.monotonic()
    url = url or settings.database.url
    folder = Path(to or settings.backup.dir)
    if to is not None and not folder.parent.is_dir():  # --to /media/usb/x with the stick not mounted
        raise BackupError(f"{folder.parent} 不存在（U盘没插？）/ {folder.parent} does not exist (USB stick not mounted?)")
    folder.mkdir(parents=True, exist_ok=True)
    _clean_stale_temp(folder)
    created = _aware(now)
    local = local_time(created, settings.timezone)
    backend = make_url(url).get_backend_name()
    with tempfile.TemporaryDirectory(dir=folder, prefix=TEMP_PREFIX) as staging_name:
        staging = Path(staging_name)
        if backend == "sqlite":
            snapshot, facts = _snapshot_sqlite(Path(make_url(url).database or ""), staging)
            ext, compression = "sqlite.gz", "gzip"
        elif backend == "postgresql":
            snapshot, ext, compression = staging / "dump.pgdump", "pgdump", "pg_dump-custom"
            facts = _dump_postgres(url, snapshot, settings)
        else:
            raise BackupError(f"不支持的数据库 / unsupported database: {backend}")
        village = facts["village"]
        slug = _slug(village["code"] if village else make_url(url).database and Path(make_url(url).database).stem)
        name = _backup_name(folder, slug, local.replace(tzinfo=None), tag, ext)
        final = folder / name
        if backend == "sqlite":
            part = staging / (name + ".part")
            _compress(snapshot, part, name[: -len(".gz")])
        else:
            part = snapshot
        digest = sha256_file(part)
        size = part.stat().st_size
        os.replace(part, final)
    _fsync(folder)
    manifest = {
        "format": FORMAT, "file": name, "bytes": size, "sha256": digest, "engine": backend,
        "compression": compression, "database_bytes": facts["database_bytes"],
        "schema_revision": facts["schema_revision"],
        "created_at": created.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "local_time": local.isoformat(timespec="seconds"), "timezone": settings.timezone,
        "village": village, "villages": facts["villages"], "row_counts": facts["row_counts"],
        "total_rows": facts["total_rows"], "source": redact(url), "host": socket.gethostname(),
        "app_version": _app_version(), "tag": tag or "", "seconds": round(time.monotonic() - started, 3),
    }
    _write_atomically(final.with_name(name + ".json"),
                      (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    _write_atomically(final.with_name(name + ".sha256"), f"{digest}  {name}\n".encode())
    _fsync(folder)
    result = BackupResult(final, manifest)
    if copy and settings.backup.copy_to:
        _second_copy(result, Path(settings.backup.copy_to), settings, created, prune_old)
    if prune_old:
        result.pruned += prune(folder, settings, created, protect=name)
    result.warnings += space_warnings(settings, size, url)
    manifest["seconds"] = round(time.monotonic() - started, 3)
    return result


def _second_copy(result: BackupResult, target: Path, settings: Settings, now: dt.datetime, prune_old: bool) -> None:
    if not target.is_dir():
        result.warnings.append(f"第二份备份的位置 {target} 不存在（U盘没插？），这次只有一份 / second copy skipped: "
                               f"{target} does not exist (USB stick not plugged in?)")
        return
    source = result.path
    try:
        for path in (source, source.with_name(source.name + ".json"), source.with_name(source.name + ".sha256")):
            part = target / f".{path.name}.part"
            shutil.copyfile(path, part)
            _fsync(part)
            if path == source and sha256_file(part) != result.manifest["sha256"]:
                part.unlink(missing_ok=True)
                raise OSError("the copy does not match its checksum")
            os.replace(part, target / path.name)
        _fsync(target)
        result.copies.append(target / source.name)
        if prune_old:
            result.pruned += prune(target, settings, now, protect=source.name)
    except OSError as exc:
        result.warnings.append(f"第二份备份没有写成 / second copy to {target} failed: {exc}")


# --- restore ------------------------------------------------------------------------------

@dataclass
class RestoreResult:
    target: str
    manifest: dict
    revision_before: str | None
    revision_after: str | None
    integrity: IntegrityReport
    count_problems: list[str]
    replaced: Path | None
    seconds: float
    row_counts: dict

    @property
    def migrated(self) -> bool:
        return self.revision_before != self.revision_after

    @property
    def problems(self) -> list[str]:
        return self.integrity.problems() + self.count_problems

    @property
    def ok(self) -> bool:
        return not self.problems


def locate(file: Path | str) -> tuple[Path, dict]:
    """The data file and its manifest, given either of them (or the .sha256 file)."""
    path = Path(file)
    if path.name.endswith(".json"):
        manifest = read_manifest(path)
        return path.with_name(manifest["file"]), manifest
    if path.name.endswith(".sha256"):
        path = path.with_name(path.name[: -len(".sha256")])
    manifest_path = path.with_name(path.name + ".json")
    if not manifest_path.exists():
        raise RestoreRefused(f"没有清单文件，无法核对 / no manifest beside the backup: {manifest_path} is missing "
                             f"(an unfinished backup?)")
    return path, read_manifest(manifest_path)


def verify_checksum(data: Path, manifest: dict) -> None:
    if not data.is_file():
        raise RestoreRefused(f"备份文件不存在 / backup file not found: {data}")
    actual = sha256_file(data)
    if actual != manifest.get("sha256"):
        raise RestoreRefused(f"校验和不符，备份文件已损坏或被改动，拒绝恢复 / checksum mismatch: {data.name} has sha256 "
                             f"{actual[:16]}…, the manifest says {str(manifest.get('sha256'))[:16]}…")
    sidecar = data.with_name(data.name + ".sha256")
    if sidecar.exists() and sidecar.read_text(encoding="utf-8").split()[:1] != [actual]:
        raise RestoreRefused(f"校验和文件与备份不符 / {sidecar.name} does not match {data.name}")


def check_revision(revision: str | None) -> None:
    known = known_revisions()
    if revision is None:
        return
    for part in revision.split(","):
        if part not in known:
            raise RestoreRefused(f"备份的数据库结构版本 {revision} 比这个程序新，请先升级程序再恢复 / the backup's schema "
                                 f"revision {revision} is unknown to this code (newer release?); known: {', '.join(known)}")


def has_data(url: str) -> bool:
    """Whether the database at ``url`` holds any row (the version table aside)."""
    if make_url(url).get_backend_name() == "sqlite":
        path = Path(make_url(url).database or "")
        if not path.is_file() or path.stat().st_size == 0:
            return False
    engine = _plain_engine(url)
    try:
        with engine.connect() as conn:
            return any(n for table, n in row_counts(conn).items() if table not in BOOKKEEPING_TABLES)
    finally:
        engine.dispose()


def _stage_sqlite(data: Path, staged: Path, manifest: dict) -> None:
    try:
        with gzip.open(data, "rb") as packed, open(staged, "wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise RestoreRefused(f"备份文件解压失败 / cannot decompress {data.name}: {exc}") from None
    verdict = sqlite_file_check(staged)
    if verdict != "ok":
        raise RestoreRefused(f"备份里的数据库自检失败 / the backed-up database fails its integrity check: {verdict}")
    engine = _plain_engine(f"sqlite:///{staged}")
    try:
        with engine.connect() as c:
            revision = schema_revision(c)
    finally:
        engine.dispose()
    if revision != manifest.get("schema_revision"):
        raise RestoreRefused(f"备份里的结构版本 {revision} 与清单 {manifest.get('schema_revision')} 不符 / "
                             f"schema revision in the file differs from the manifest")


def _drop_known_tables(url: str) -> None:
    """Empty the target schema of our tables (PostgreSQL, before pg_restore)."""
    engine = _plain_engine(url)
    ordered, _ = insert_order()
    try:
        with engine.begin() as conn:
            present = set(inspect(conn).get_table_names())
            quote = conn.dialect.identifier_preparer.quote
            for name in [t.name for t in reversed(ordered)] + ["alembic_version", *BOOKKEEPING_TABLES]:
                if name in present:
                    conn.execute(text(f"DROP TABLE IF EXISTS {quote(name)} CASCADE"))
    finally:
        engine.dispose()


def restore(settings: Settings, file: Path | str, url: str | None = None, force: bool = False,
            log: Callable[[str], None] = lambda line: None) -> RestoreResult:
    """Restore a backup into ``url`` (default: the settings' database). Raises
    :class:`RestoreRefused` before touching anything when the file or the target is not fit,
    :class:`BackupError` when writing fails; returns the verification (``result.ok``) otherwise."""
    try:
        return _restore(settings, file, url, force, log)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"恢复失败 / restore failed: {exc}") from exc


def _restore(settings: Settings, file: Path | str, url: str | None, force: bool,
             log: Callable[[str], None]) -> RestoreResult:
    from bot.db import get_engine, migrate

    started = time.monotonic()
    url = url or settings.database.url
    data, manifest = locate(file)
    verify_checksum(data, manifest)
    log(f"校验和正确 / checksum ok: {data.name} (sha256 {manifest['sha256'][:16]}…)")
    check_revision(manifest.get("schema_revision"))
    backend = make_url(url).get_backend_name()
    if backend != manifest.get("engine"):
        hint = " 从 SQLite 搬到 PostgreSQL 请用 / to move SQLite data into PostgreSQL use `python -m bot migrate-data`." \
            if manifest.get("engine") == "sqlite" else ""
        raise RestoreRefused(f"备份是 {manifest.get('engine')} 的，目标是 {backend} / the backup is a {manifest.get('engine')} "
                             f"backup, the target a {backend} database.{hint}")
    replaced = None
    if backend == "sqlite":
        target = Path(make_url(url).database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".restore-") as staging:
            staged = Path(staging) / "restored.db"
            _stage_sqlite(data, staged, manifest)
            if has_data(url):
                if not force:
                    raise RestoreRefused(f"目标数据库 {target} 里有数据，不会覆盖；确实要覆盖请加 --force（会先把现有数据另存一份备份）"
                                         f" / the target holds live data: refusing to overwrite it without --force")
                replaced = backup(settings, url=url, tag="pre-restore", prune_old=False, copy=False).path
                log(f"现有数据已另存 / current data saved first as {replaced}")
            get_engine(url).dispose()
            source = sqlite3.connect(str(staged))
            dest = sqlite3.connect(str(target), timeout=60)
            try:
                source.backup(dest)
            finally:
                dest.close()
                source.close()
    elif backend == "postgresql":
        pg_restore = find_tool("pg_restore", settings)
        if has_data(url):
            if not force:
                raise RestoreRefused(f"目标数据库 {redact(url)} 里有数据，不会覆盖；确实要覆盖请加 --force / the target "
                                     f"holds live data: refusing to overwrite it without --force")
            replaced = backup(settings, url=url, tag="pre-restore", prune_old=False, copy=False).path
            log(f"现有数据已另存 / current data saved first as {replaced}")
        get_engine(url).dispose()
        _drop_known_tables(url)
        libpq, secret_env = _libpq(url)
        done = subprocess.run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",  # nosec B603 - pg_restore from the settings with a fixed argument list, no shell
                               "--no-password", "--dbname", libpq, str(data)],
                              env=child_environment(secret_env, settings), capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupError(f"pg_restore 失败 / pg_restore failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    else:
        raise RestoreRefused(f"不支持的数据库 / unsupported database: {backend}")
    log(f"已写入 / written to {redact(url)}")
    before = manifest.get("schema_revision")
    head = head_revision()
    if before != head:
        log(f"升级数据库结构 / migrating the schema {before} → {head}")
        migrate(url)
        get_engine(url).dispose()
    engine = _plain_engine(url)
    try:
        with engine.connect() as conn:
            after = schema_revision(conn)
            counts = row_counts(conn)
            integrity = check_integrity(conn)
    finally:
        engine.dispose()
    count_problems = [f"{table}: {counts.get(table)} rows, the backup had {n}"
                      for table, n in manifest.get("row_counts", {}).items() if counts.get(table) != n]
    return RestoreResult(redact(url), manifest, before, after, integrity, count_problems, replaced,
                         round(time.monotonic() - started, 3), counts)


# --- the nightly job ----------------------------------------------------------------------

_last_failure: float | None = None


def backup_due(settings: Settings, now: dt.datetime | None = None) -> bool:
    """After ``backup.at`` local time, when the backup folder has no backup of today from after it."""
    if settings.backup.at is None:
        return False
    local = local_time(now, settings.timezone).replace(tzinfo=None)
    hour, minute = (int(x) for x in settings.backup.at.split(":"))
    due_from = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if local < due_from:
        return False
    return not any(b.complete and b.series[1] == "" and b.stamp >= due_from for b in list_backups(settings.backup.dir))


def nightly_job(now: dt.datetime | None = None, settings: Settings | None = None) -> dict:
    """The scheduler's nightly work (called every loop, cheap when nothing is due): the day's
    backup after ``XIANGYIN_BACKUP_AT``, then log rotation (copytruncate: the servers keep
    their files open). Several schedulers (cluster mode) back up once: a PostgreSQL advisory
    lock, then a second look. Never raises; a failure is logged and retried an hour later."""
    global _last_failure
    settings = settings or load_settings()
    if _last_failure is not None and time.monotonic() - _last_failure < RETRY_AFTER_FAILURE:
        return {}
    try:
        if not backup_due(settings, now):
            return {}
        lock = None
        url = settings.database.url
        if make_url(url).get_backend_name() == "postgresql":
            lock = _plain_engine(url).connect()
            if not lock.execute(text("SELECT pg_try_advisory_lock(7312002)")).scalar_one():
                lock.close()
                return {}
            lock.commit()
        try:
            if not backup_due(settings, now):
                return {}
            result = backup(settings, now=now)
        finally:
            if lock is not None:
                lock.close()  # ends the session: the advisory lock goes with it
        from bot.ops.logs import rotate_logs

        rotate_logs(settings.paths.var_dir / "logs", settings.backup.log_max_bytes, settings.backup.log_keep,
                    copytruncate=True)
        for warning in result.warnings:
            logger.warning("backup: %s", warning)
        _last_failure = None
        return {"backup": str(result.path), "backup_warnings": result.warnings}
    except Exception as exc:  # noqa: BLE001 - the scheduler must keep running
        _last_failure = time.monotonic()
        logger.exception("nightly backup failed")
        return {"backup_failed": str(exc)}
