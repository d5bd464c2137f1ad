"""`claimflow users`: manage the back office's users from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from claimflow.embedded import EmbeddedPostgres
from claimflow.settings import Settings
from domain.vocabulary import Role
from store import users
from store.db import create_pool


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("users", help="manage users: add, list, disable, enable")
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create or replace a user (asks for the password)")
    add.add_argument("user_id")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--city")
    add.add_argument("--password", help="default: asked on the terminal, or read from stdin")
    actions.add_parser("list", help="list users")
    for verb in ("disable", "enable"):
        a = actions.add_parser(verb, help=f"{verb} sign-in for a user")
        a.add_argument("user_id")


def _dsn(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    uri = EmbeddedPostgres.running_uri(Path(settings.data_dir) / "postgres")
    if uri is None:
        raise SystemExit("set DATABASE_URL, or start the system with `make up` first")
    return uri


def _password(given: str | None) -> str:
    if given:
        return given
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


async def run(settings: Settings, args: argparse.Namespace) -> None:
    pool = await create_pool(_dsn(settings), max_size=2)
    try:
        if args.action == "add":
            password = _password(args.password)
            if len(password) < 10:
                raise SystemExit("a password has at least 10 characters")
            await users.upsert(pool, args.user_id, name=args.name, role=Role(args.role),
                               city=args.city, password=password)
            sys.stdout.write(f"{args.user_id} ({args.role}) saved\n")
        elif args.action == "list":
            for u in await users.list_users(pool):
                state = "" if u.active else "  (disabled)"
                sys.stdout.write(f"{u.user_id:<20} {u.role.value:<12} {u.city or '-':<10} "
                                 f"{u.name}{state}\n")
        else:
            if not await users.set_active(pool, args.user_id, args.action == "enable"):
                raise SystemExit(f"no user {args.user_id}")
            sys.stdout.write(f"{args.user_id} {args.action}d\n")
    finally:
        await pool.close()
