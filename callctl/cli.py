"""The ``callctl`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from callctl import config_cli
from callctl.errors import SettingError
from callctl.settings import Settings
from recording import cli as recording_cli

if TYPE_CHECKING:
    from callctl.ingest.queue_log.shipped import Shipped

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


def _node_id(value: str) -> str:
    from callctl.ingest.queue_log.shipped import InvalidNodeIdError, check_node_id

    try:
        return check_node_id(value)
    except InvalidNodeIdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _queue_log_source(args: argparse.Namespace) -> Path | Shipped | None:
    from callctl.ingest.queue_log.shipped import Shipped

    if args.shipped:
        return Shipped()
    path: Path | None = args.queue_log
    return path


def _node_and_source(args: argparse.Namespace, settings: Settings) -> tuple[str, Path | Shipped]:
    """The node and its queue_log: from ``CALLCTL_NODES_FILE`` when it is set."""
    from callctl.ingest.queue_log.node_source import node_and_source
    from callctl.nodes import load_nodes

    nodes = None if settings.nodes_file is None else load_nodes(settings.nodes_file)
    return node_and_source(
        nodes,
        args.node,
        _queue_log_source(args),
        fallback_node=settings.node_id,
        fallback_path=settings.queue_log_file,
    )


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.ingest.reconcile import run_reconcile_cli

    node, source = _node_and_source(args, settings)
    return asyncio.run(run_reconcile_cli(settings, args.since, node=node, source=source))


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.ingest.verify import run_verify_cli

    node, source = _node_and_source(args, settings)
    return asyncio.run(run_verify_cli(settings, args.since, node=node, source=source))


def _ship_queue_log(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from callctl.db import DatabaseNotConfiguredError, resolve_database_url
    from callctl.ingest.queue_log.ship import StateFileError, run_shipper_cli

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        url = resolve_database_url(settings)
        return asyncio.run(
            run_shipper_cli(
                url, args.node, args.path, args.state_file, poll_interval_s=args.poll_interval
            )
        )
    except (DatabaseNotConfiguredError, StateFileError) as exc:
        print(f"callctl ship-queue-log: {exc}", file=sys.stderr)
        return 2


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
    config_cli.add_parser(sub)
    recording_cli.add_parser(sub)
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
        cmd.add_argument(
            "--node",
            type=_node_id,
            default=None,
            help="a node of CALLCTL_NODES_FILE (may be left out when it lists one node)",
        )
        source = cmd.add_mutually_exclusive_group()
        source.add_argument(
            "--queue-log",
            type=Path,
            default=None,
            help="the node's queue_log file (default: as the nodes file says)",
        )
        source.add_argument(
            "--shipped", action="store_true", help="read the node's shipped lines, not a file"
        )
        cmd.set_defaults(handler=handler)
    ship = sub.add_parser(
        "ship-queue-log",
        help="ship a node's queue_log into PostgreSQL, at least once (runs beside Asterisk)",
    )
    ship.add_argument("--node", type=_node_id, required=True, help="the Asterisk node's id")
    ship.add_argument("--path", type=Path, required=True, help="its queue_log file")
    ship.add_argument(
        "--state-file",
        type=Path,
        required=True,
        help="where the shipper keeps its position (local disk, survives restarts)",
    )
    ship.add_argument("--poll-interval", type=float, default=0.2, help="seconds between polls")
    ship.set_defaults(handler=_ship_queue_log)
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
