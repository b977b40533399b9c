"""``callctl config render|kamailio``: write a node's Asterisk config, or Kamailio's.

The I/O edge of the pure renderers (``routing.render``, ``routing.kamailio``): read the
routing config (a document file, or the version in force in the database), the AMI
secret (from a file, never printed), and write the files for compose or by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
from pathlib import Path

import asyncpg
from pydantic import ValidationError

from callctl.db import asyncpg_dsn
from callctl.routing_config import repository
from callctl.routing_config.convert import Deployment, InvalidConfigError, to_model
from callctl.routing_config.schemas import RoutingDoc
from callctl.settings import PACKAGE_DIR, Settings
from routing.kamailio import KamailioConfig, SipNode, render_kamailio
from routing.model import AmiTlsListener, AmiUser, ConfigValueError, Network, PbxModel, Trunk
from routing.node import NodeLayout
from routing.render import TemplateError, render

KAMAILIO_TEMPLATES = PACKAGE_DIR / "kamailio"
TRUNK_NAME = "trunk"


class ConfigRenderError(Exception):
    """A bad input to ``config render``: one line naming it."""

    error_id = "config.render"


def read_secret(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigRenderError(f"--ami-secret-file {path}: {exc.strerror}") from exc
    # One trailing newline is how secret files are usually written; nothing else is cut.
    return text.removesuffix("\n")


def read_model_file(path: Path) -> RoutingDoc:
    try:
        return RoutingDoc.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigRenderError(f"--model {path}: {exc.strerror}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ConfigRenderError(f"--model {path}: {where}: {first['msg']}") from exc


async def routing_in_force(database_url: str) -> RoutingDoc:
    try:
        conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
        try:
            found = await repository.current(conn)
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        # The URL holds the password: name the failure, never the URL.
        raise ConfigRenderError(f"database: {type(exc).__name__}: {exc}") from exc
    if found is None:
        raise ConfigRenderError("no routing config applied in the database yet; give --model FILE")
    return found[1]


def ami_tls_listener(args: argparse.Namespace) -> AmiTlsListener | None:
    """``--ami-tls-port`` with ``--ami-tls-cert`` and ``--ami-tls-key``, or none of them."""
    given = {
        "--ami-tls-port": args.ami_tls_port,
        "--ami-tls-cert": args.ami_tls_cert,
        "--ami-tls-key": args.ami_tls_key,
    }
    if all(value is None for value in given.values()):
        return None
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise ConfigRenderError(
            f"{missing[0]} is missing: AMI over TLS needs all three of "
            "--ami-tls-port, --ami-tls-cert and --ami-tls-key"
        )
    return AmiTlsListener(
        port=args.ami_tls_port, cert_file=args.ami_tls_cert, key_file=args.ami_tls_key
    )


def node_model(doc: RoutingDoc, args: argparse.Namespace, secret: str) -> PbxModel:
    deployment = Deployment(
        ami=AmiUser(username=args.ami_user, secret=secret, permit_ip=args.ami_permit),
        network=Network(
            ami_bind=args.ami_bind,
            ami_port=args.ami_port,
            sip_bind=args.sip_bind,
            sip_port=args.sip_port,
            ami_tls=ami_tls_listener(args),
        ),
        trunks=(Trunk(name=TRUNK_NAME, match_ip=args.trunk_ip),),
    )
    return to_model(doc, deployment)


def node_layout(args: argparse.Namespace) -> NodeLayout:
    if args.per_node_dirs:
        return NodeLayout.for_node(args.node, args.rtp_start, args.rtp_end)
    return NodeLayout(
        etc_dir=args.etc_dir,
        rtp_start=args.rtp_start,
        rtp_end=args.rtp_end,
        system_name=args.node,
    )


def write_files(out: Path, files: dict[str, str]) -> None:
    """Each file atomically, readable by owner and group only (manager.conf holds the
    AMI secret, pjsip.conf the agents' digests)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        target = out / name
        tmp = target.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)


def run_render(args: argparse.Namespace, settings: Settings) -> int:
    secret = read_secret(args.ami_secret_file)
    if args.model is not None:
        doc = read_model_file(args.model)
        source = f"model {args.model}"
    elif settings.database_url:
        doc = asyncio.run(routing_in_force(settings.database_url))
        source = "the routing config in force (database)"
    else:
        raise ConfigRenderError("no routing model: give --model FILE or set CALLCTL_DATABASE_URL")
    layout = node_layout(args)
    model = node_model(doc, args, secret)
    files = render(model, settings.asterisk_config_dir, layout=layout)
    write_files(args.out, files)
    print(
        f"node {args.node}: {len(files)} files from {source} in {args.out} "
        f"(Asterisk reads them as {layout.etc_dir}; queue_log {layout.queue_log})"
    )
    return 0


def run_kamailio(args: argparse.Namespace, settings: Settings) -> int:
    config = KamailioConfig(
        listen_ip=args.listen,
        listen_port=args.listen_port,
        nodes=tuple(args.node),
        config_dir=args.config_dir or str(args.out.resolve()),
        run_dir=args.run_dir,
        ping_interval_s=args.ping_interval,
        fr_timer_ms=args.fr_timer_ms,
        fr_inv_timer_ms=args.fr_inv_timer_ms,
    )
    write_files(args.out, render_kamailio(config, KAMAILIO_TEMPLATES))
    print(f"kamailio: kamailio.cfg and dispatcher.list in {args.out}")
    return 0


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {value!r}") from exc


def _sip_node(value: str) -> SipNode:
    host, _, port = value.partition(":")
    try:
        return SipNode(_ipv4(host), int(port) if port else 5060)
    except (ValueError, ConfigValueError) as exc:
        raise argparse.ArgumentTypeError(f"not IP[:PORT]: {value!r}") from exc


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="write Asterisk's or Kamailio's config files")
    config_sub = config.add_subparsers(dest="config_command", required=True)

    node = config_sub.add_parser(
        "render", help="a node's complete Asterisk config (for compose or by hand)"
    )
    node.add_argument("--out", type=Path, required=True, help="directory to write to")
    node.add_argument(
        "--node", required=True, help="node id: Asterisk's systemname, so UNIQUEIDs differ"
    )
    node.add_argument(
        "--model",
        type=Path,
        default=None,
        help="routing document (JSON, as GET /api/v1/routing/config); "
        "default: the config in force in CALLCTL_DATABASE_URL",
    )
    node.add_argument("--ami-secret-file", type=Path, required=True)
    node.add_argument("--ami-user", default="callctl")
    node.add_argument("--ami-permit", type=_ipv4, default="127.0.0.1", help="callctl's address")
    node.add_argument("--ami-bind", type=_ipv4, default="127.0.0.1")
    node.add_argument("--ami-port", type=int, default=5038)
    node.add_argument(
        "--ami-tls-port",
        type=int,
        default=None,
        help="AMI over TLS on --ami-bind at this port (manager.conf tlsenable), beside plain AMI",
    )
    node.add_argument("--ami-tls-cert", default=None, help="certificate file, as Asterisk reads it")
    node.add_argument("--ami-tls-key", default=None, help="its private key, as Asterisk reads it")
    node.add_argument("--sip-bind", type=_ipv4, default="127.0.0.1")
    node.add_argument("--sip-port", type=int, default=5060)
    node.add_argument(
        "--trunk-ip",
        type=_ipv4,
        default="127.0.0.2",
        help="where trunk calls come from (Kamailio's address when it is in front)",
    )
    node.add_argument("--rtp-start", type=int, default=10000)
    node.add_argument("--rtp-end", type=int, default=19999)
    node.add_argument("--etc-dir", default="/etc/asterisk", help="where Asterisk reads them")
    node.add_argument(
        "--per-node-dirs",
        action="store_true",
        help="own /etc, /var/lib, /var/spool, /var/run, /var/log dirs suffixed by the node id "
        "(several nodes on one host)",
    )
    node.set_defaults(handler=run_config)

    kam = config_sub.add_parser("kamailio", help="Kamailio in front of the nodes")
    kam.add_argument("--out", type=Path, required=True)
    kam.add_argument("--listen", type=_ipv4, default="127.0.0.9")
    kam.add_argument("--listen-port", type=int, default=5060)
    kam.add_argument(
        "--node", type=_sip_node, action="append", required=True, help="a node's IP[:PORT]"
    )
    kam.add_argument("--config-dir", default=None, help="where Kamailio will read the files")
    kam.add_argument("--run-dir", default="/run/kamailio", help="kamcmd's control socket dir")
    kam.add_argument("--ping-interval", type=int, default=1, help="OPTIONS probe interval, s")
    kam.add_argument("--fr-timer-ms", type=int, default=2000, help="no answer: next node")
    kam.add_argument(
        "--fr-inv-timer-ms",
        type=int,
        default=120_000,
        help="longest wait for a final reply after a node's 100/180 (> any queue's max wait)",
    )
    kam.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.config_command == "render":
            return run_render(args, settings)
        return run_kamailio(args, settings)
    except (ConfigRenderError, ConfigValueError, InvalidConfigError, TemplateError) as exc:
        print(f"callctl config {args.config_command}: {exc}", file=sys.stderr)
        return 2
