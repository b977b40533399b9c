"""``callctl lab up|down|status``: registered into the ``callctl`` command through the
``callctl.commands`` entry point, so that the CLI itself does not import the lab."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from callctl.lab.errors import LabError
from callctl.settings import Settings


def _lab(args: argparse.Namespace, settings: Settings) -> int:
    from callctl.lab import lab

    try:
        return _run(args, settings, lab)
    except LabError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings, lab: Any) -> int:
    if args.lab_command == "up":
        report = lab.up(settings)
        print(
            f"lab up in {report.seconds:.1f} s "
            f"(rootfs {'built' if report.rootfs_built else 'cached'}, "
            f"asterisk {'started' if report.asterisk_started else 'already running'})"
        )
        print(f"  postgres: {report.postgres}")
        print(
            f"  AMI: {settings.ami_host}:{settings.ami_port}  SIP: {settings.sip_host}:"
            f"{settings.sip_port}  trunk from {settings.trunk_ip}, agents at {settings.agents_ip}"
        )
        print(f"  queue_log: {settings.queue_log_file}")
        print(f"  settings for callctl (also in {settings.lab_dir / 'callctl.env'}):")
        for name, value in report.env.items():
            print(f"    export {name}={shlex.quote(value)}")
        return 0
    if args.lab_command == "env":
        env_file = settings.lab_dir / "callctl.env"
        if not env_file.is_file():
            print(f"callctl: {env_file}: not found: run `callctl lab up` first", file=sys.stderr)
            return 1
        print(env_file.read_text(encoding="utf-8"), end="")
        return 0
    if args.lab_command == "down":
        stopped = lab.down(settings)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    for key, value in lab.status(settings).items():
        print(f"{key:10} {value}")
    return 0


def add_parser(sub: Any) -> None:
    """Add ``lab`` to the ``callctl`` subcommands (``sub`` from add_subparsers)."""
    parser = sub.add_parser("lab", help="the local lab: Asterisk rootfs, PostgreSQL, SIPp")
    parser.add_argument(
        "lab_command",
        choices=["up", "down", "status", "env"],
        help="env: print the lab's settings for callctl as shell exports",
    )
    parser.set_defaults(handler=_lab)
