"""Credentials a county operator provisions on the server (README "Devices, PINs and secrets"):

    python -m bot device add voice-012 --household 12 [--key-file PATH]   new key (old one dies)
    python -m bot device add staff-wangxiulan --user wangxiulan            a staff member's device
    python -m bot device revoke voice-012                                  refused from now on
    python -m bot device export device-001 --key-file var/device.key       current key, unchanged
    python -m bot device list
    python -m bot staff set-pin wangxiulan        (asks twice, never echoed)
    python -m bot staff set-password wangxiulan   (the web console's password)
    python -m bot staff unlock wangxiulan

These run on the server with access to its database and secret, i.e. as its operator; every
change is audited."""
from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from bot.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("device", help="provision, revoke and list voice devices")
    p.add_argument("action", choices=["add", "revoke", "export", "list"])
    p.add_argument("device_id", nargs="?")
    p.add_argument("--household", type=int, help="household id the device speaks for")
    p.add_argument("--user", help="staff login the device belongs to")
    p.add_argument("--key-file", type=Path, help="write the device key here (mode 0600)")
    p.set_defaults(func=cmd_device)
    p = sub.add_parser("staff", help="set a staff member's PIN or console password, or unlock a login")
    p.add_argument("action", choices=["set-pin", "set-password", "unlock"])
    p.add_argument("login")
    p.add_argument("--value", help="the new PIN/password (default: asked twice, not echoed)")
    p.set_defaults(func=cmd_staff)


def cmd_device(args, settings: Settings) -> int:
    from bot.db import session_scope
    from bot.security import devices

    if args.action == "list":
        with session_scope(url=settings.database_url) as s:
            for ident in devices.devices(s):
                state = "revoked" if ident.revoked_at else (f"key v{ident.key_version}" if ident.key_version
                                                            else "not provisioned")
                owner = f"household {ident.household_id}" if ident.household_id else f"user {ident.user_id}"
                print(f"{ident.external_id:24} {owner:16} {state}")
        return 0
    if not args.device_id:
        raise SystemExit("device_id is required")
    with session_scope(write=True, url=settings.database_url) as s:
        if args.action == "revoke":
            if not devices.revoke(s, args.device_id):
                raise SystemExit(f"no device {args.device_id!r}")
            print(f"{args.device_id}: revoked; its requests are refused from now on.")
            return 0
        if args.action == "export":
            key = devices.current_key(s, settings, args.device_id)
            if key is None:
                raise SystemExit(f"{args.device_id!r} is not a provisioned, active device")
        else:
            try:
                key = devices.provision(s, settings, args.device_id, household_id=args.household, login=args.user)
            except ValueError as exc:
                raise SystemExit(str(exc)) from None
    target = args.key_file or settings.var_dir / "devices" / f"{args.device_id}.key"
    devices.write_key_file(target, key)
    print(f"{args.device_id}: key written to {target} (mode 0600). Copy it to the device and start it with\n"
          f"  python -m speech.device --device-id {args.device_id} --key-file <path on the device>")
    return 0


def _ask(label: str) -> str:
    first = getpass.getpass(f"{label}: ")
    if getpass.getpass(f"{label}（再输一遍）: ") != first:
        raise SystemExit("两次输入不一样，没有修改。")
    return first


def cmd_staff(args, settings: Settings) -> int:
    from sqlalchemy import select

    from bot.db import session_scope
    from bot.models import AuditLog, User
    from bot.security import logins

    with session_scope(write=True, url=settings.database_url) as s:
        user = s.execute(select(User).where(User.login == args.login)).scalar_one_or_none()
        if user is None:
            raise SystemExit(f"unknown user {args.login!r}")
        if args.action == "unlock":
            user.login_failures, user.locked_until = 0, None
            change = "unlocked"
        else:
            kind = logins.Kind.pin if args.action == "set-pin" else logins.Kind.password
            value = args.value if args.value is not None else _ask("新PIN" if kind is logins.Kind.pin else "新密码")
            try:
                logins.set_secret(s, user, value, kind=kind)
            except ValueError as exc:
                raise SystemExit(str(exc)) from None
            change = f"{kind.value} set"
        s.add(AuditLog(actor_id=None, action="credential_changed", object_type="user", object_id=user.id,
                       channel="cli", detail=f"{args.login}: {change}"))
    print(f"{args.login}: {change}.")
    return 0
