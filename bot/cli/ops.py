"""Operations: backup, restore, migrate-data, migrate, verify, health (bot/ops/)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.config import Settings


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def backup_location(settings: Settings) -> str:
    """One line for `make run`: where backups go, when, and the second copy."""
    b = settings.backup
    when = f"每晚 {b.at} / nightly at {b.at}" if b.at else "夜间备份已关闭 / nightly backup off"
    second = ""
    if b.copy_to:
        second = f"，另存一份到 {b.copy_to}" + ("" if b.copy_to.is_dir() else "（目录不在：U盘没插？）")
    return f"备份 / backups: {b.dir}（{when}{second}；手动：python -m bot backup）"


def cmd_backup(args, settings: Settings) -> int:
    from bot.ops.backup import BackupError, backup, human, list_backups, plan_retention

    folder = Path(args.to) if args.to else settings.backup.dir
    if args.list:
        backups = list_backups(folder)
        b = settings.backup
        keep = set()
        for series in {x.series for x in backups if x.complete}:
            kept, _ = plan_retention([x for x in backups if x.complete and x.series == series],
                                     b.keep_daily, b.keep_weekly, b.keep_monthly)
            keep |= {x.path for x in kept}
        for x in backups:
            state = "keep" if x.path in keep else ("prune" if x.complete else "unfinished")
            print(f"{x.path.name}  {human(x.path.stat().st_size):>9}  {state}")
        print(f"{len(backups)} backup(s) in {folder}")
        return 0
    try:
        result = backup(settings, to=args.to, prune_old=not args.no_prune, copy=not args.no_copy)
    except BackupError as exc:
        _err(f"备份失败 / backup failed: {exc}")
        return 1
    m = result.manifest
    village = m["village"]
    print(f"==> 备份完成 / backup written: {result.path}")
    print(f"    {village['township'] + village['name'] if village else m['villages']} · {m['engine']} · "
          f"结构 {m['schema_revision']} · {m['total_rows']} 行 / rows · {human(m['bytes'])} · {m['seconds']:.1f} s · "
          f"sha256 {m['sha256'][:16]}…")
    for copy in result.copies:
        print(f"==> 第二份 / second copy: {copy}")
    if result.pruned:
        print(f"==> 按保留规则删除 / pruned {len(result.pruned)}: {', '.join(p.name for p in result.pruned)}")
    for warning in result.warnings:
        _err(f"注意 / warning: {warning}")
    return 0


def cmd_restore(args, settings: Settings) -> int:
    from bot.ops.backup import BackupError, restore

    try:
        result = restore(settings, args.file, url=args.to, force=args.force, log=lambda line: print(f"==> {line}"))
    except BackupError as exc:
        _err(f"没有恢复 / not restored: {exc}")
        return 1
    m = result.manifest
    print(f"==> 备份时间 / taken {m['local_time']}, 结构 / schema {result.revision_before}"
          + (f" → {result.revision_after}（已升级 / migrated）" if result.migrated else ""))
    integrity = result.integrity
    print(f"==> 核对 / checks: {integrity.households} 户积分余额 = 明细账 / balances = ledgers "
          f"{'✓' if not integrity.balance_mismatches else '✗'}; {integrity.grievances} 件诉求状态 = 最后记录 / "
          f"grievance states = last events {'✓' if not integrity.state_mismatches else '✗'}; "
          f"{len(m.get('row_counts', {}))} 张表行数 / tables' rows {'✓' if not result.count_problems else '✗'}")
    for problem in result.problems:
        _err(f"    ✗ {problem}")
    if not result.ok:
        _err("恢复后核对不通过 / restore verification FAILED")
        return 1
    print(f"==> 恢复完成 / restore complete: {result.target} ({result.seconds:.1f} s)")
    return 0


def cmd_migrate_data(args, settings: Settings) -> int:
    from bot.ops.datamove import MoveError, migrate_data

    try:
        report = migrate_data(args.source, args.target, settings, dry_run=args.dry_run, batch=args.batch_size,
                              pause=args.pause, log=lambda line: print(f"==> {line}", flush=True))
    except MoveError as exc:
        _err(f"没有搬迁 / not moved: {exc}")
        return 1
    data = report.as_dict()
    if args.report:
        Path(args.report).write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n",
                                     encoding="utf-8")
    village = report.village or {}
    title = "试运行（已回滚，什么都没改）/ DRY RUN (rolled back)" if report.dry_run else "搬迁 / move"
    print(f"==> {title}: {village.get('township', '')}{village.get('name', '')} → {report.target}")
    print(f"    {'table':<20}{'source':>8}{'before':>8}{'inserted':>10}{'adopted':>9}{'updated':>9}")
    for name, t in report.tables.items():
        print(f"    {name:<20}{t.source:>8}{t.already:>8}{t.inserted:>10}{t.adopted:>9}{t.refreshed:>9}")
    if report.renamed:
        print(f"==> {len(report.renamed)} 个值与县里其他村重复，已改名 / values renamed (taken by another village):")
        by_kind: dict[tuple, list] = {}
        for r in report.renamed:
            by_kind.setdefault((r["table"], r["column"]), []).append(r)
        for (table, column), items in by_kind.items():
            shown = ", ".join(f"{r['old']} → {r['new']}" for r in items[:5])
            print(f"    {table}.{column} ({len(items)}): {shown}{' …' if len(items) > 5 else ''}")
        if any(r["table"] == "grievances" for r in report.renamed):
            print("    请把新的诉求编号告诉反映人 / tell the reporters their new ticket numbers")
        if any(r["table"] == "users" for r in report.renamed):
            print("    改了名的工作人员要重新设置口令 PIN / renamed staff logins need their PIN set again")
    if report.unlinked:
        print(f"==> {len(report.unlinked)} 条审计记录指向源库里已不存在的对象，object_id 置空 / audit rows whose object "
              f"no longer exists: object_id cleared")
    v = report.verification
    figures = v.get("figures", {}).get("target", {})
    print(f"==> 核对 / verification: {'通过 ✓ / passed' if report.ok else '不通过 ✗ / FAILED'} — "
          f"{v.get('balances_checked', 0)} 户余额=明细账, {v.get('grievances_checked', 0)} 件诉求状态=最后记录, "
          f"未办结 open grievances {figures.get('open_grievances')}, 待领取 pickups waiting "
          f"{figures.get('pickups_waiting')}, 待发通知 outbox pending {figures.get('outbox_pending')}")
    for problem in v.get("problems", []):
        _err(f"    ✗ {problem}")
    print(f"    {report.rows_moved} rows in {report.batches} batches, {report.seconds:.1f} s"
          + (f"; report: {args.report}" if args.report else ""))
    return 0 if report.ok else 1


def cmd_migrate(args, settings: Settings) -> int:
    from bot.db import get_engine, migrate
    from bot.ops.backup import redact
    from bot.ops.integrity import head_revision, schema_revision

    url = args.url or settings.database_url
    with get_engine(url).connect() as conn:
        before = schema_revision(conn)
    migrate(url)
    print(f"==> {redact(url)}: schema {before or '(empty)'} → {head_revision()}")
    return 0


def cmd_verify(args, settings: Settings) -> int:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from bot.ops.backup import redact
    from bot.ops.integrity import check_integrity, row_counts, schema_revision

    url = args.url or settings.database_url
    engine = create_engine(url, future=True, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            revision, counts, report = schema_revision(conn), row_counts(conn), check_integrity(conn)
    finally:
        engine.dispose()
    print(f"==> {redact(url)}: schema {revision}, {sum(counts.values())} rows in {len(counts)} tables")
    print(f"==> {report.households} 户积分余额 = 明细账 / balances = ledgers "
          f"{'✓' if not report.balance_mismatches else '✗'}; {report.grievances} 件诉求状态 = 最后记录 / grievance "
          f"states = last events {'✓' if not report.state_mismatches else '✗'}")
    for problem in report.problems():
        _err(f"    ✗ {problem}")
    return 0 if report.ok else 1


def cmd_health(args, settings: Settings) -> int:
    from bot.ops.health import health

    report = health(settings, probe_servers=not args.no_servers)
    print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    return 1 if report["status"] == "fail" else 0
