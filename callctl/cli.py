"""The ``callctl`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import entry_points

from callctl.errors import SettingError
from callctl.settings import Settings

COMMANDS_GROUP = "callctl.commands"
"""Entry points adding subcommands (the lab registers ``callctl lab`` this way)."""


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.db import resolve_database_url, run_migrations

    url = resolve_database_url(settings)
    run_migrations(url, args.revision)
    print(f"migrated to {args.revision}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.service import serve

    return serve(settings)


def _since(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {value!r}") from exc


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.ingest.reconcile import run_reconcile_cli

    return asyncio.run(run_reconcile_cli(settings, args.since))


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.ingest.verify import run_verify_cli

    return asyncio.run(run_verify_cli(settings, args.since))


def _user(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.auth.cli import run_user_add, run_user_token

    if args.user_command == "token":
        return asyncio.run(run_user_token(settings, args.username))
    return asyncio.run(
        run_user_add(
            settings,
            args.username,
            args.role,
            agent_id=args.agent_id,
            can_see_numbers=args.can_see_numbers,
            display_name=args.display_name,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callctl", description="12345 hotline control plane")
    sub = parser.add_subparsers(dest="command", required=True)
    migrate = sub.add_parser("migrate", help="apply database migrations (alembic)")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(handler=_migrate)
    serve = sub.add_parser("serve", help="run callctl against the configured Asterisk")
    serve.set_defaults(handler=_serve)
    user = sub.add_parser("user", help="users of the API")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user and print its first API token")
    add.add_argument("username")
    add.add_argument(
        "--role", default="admin", choices=["agent", "supervisor", "ops", "admin", "auditor"]
    )
    add.add_argument("--agent-id", default=None, help="the agent's number (role agent)")
    add.add_argument("--display-name", default="")
    add.add_argument(
        "--can-see-numbers", action="store_true", help="may see callers' numbers unmasked"
    )
    add.set_defaults(handler=_user)
    token = user_sub.add_parser("token", help="print a new API token for an existing user")
    token.add_argument("username")
    token.set_defaults(handler=_user)
    for name, handler, text in (
        ("reconcile", _reconcile, "fill in facts from Asterisk's queue_log"),
        (
            "verify",
            _verify,
            "compare the stored queue entries with queue_log (0 differences expected)",
        ),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "--since",
            type=_since,
            default=None,
            help="ISO date/time (Asia/Shanghai when no zone is given)",
        )
        cmd.set_defaults(handler=handler)
    for plugin in entry_points(group=COMMANDS_GROUP):
        plugin.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError: a CALLCTL_ variable is wrong
        first = str(exc).splitlines()
        print(f"callctl: settings: {' '.join(first[:3])}", file=sys.stderr)
        return 2
    try:
        code: int = args.handler(args, settings)
    except SettingError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
