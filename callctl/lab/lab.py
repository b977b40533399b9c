"""``callctl lab up|down|status``: the whole lab, idempotently."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from callctl.lab import asterisk, postgres, rootfs
from callctl.lab.lab_model import lab_model
from callctl.lab.state import LabState
from callctl.routing_config.convert import from_model
from callctl.settings import Settings
from routing.model import Network, PbxModel
from routing.render import render


@dataclass(frozen=True, slots=True)
class LabReport:
    rootfs_built: bool
    asterisk_started: bool
    postgres: str
    database_url: str
    seconds: float
    # The settings the service needs for this lab (CALLCTL_DATABASE_URL, _NODES_FILE, ...).
    env: dict[str, str] = field(default_factory=dict)


def asterisk_paths(settings: Settings) -> asterisk.AsteriskPaths:
    return asterisk.AsteriskPaths(rootfs=settings.rootfs_dir, lab_dir=settings.lab_dir)


def embedded_pg(settings: Settings) -> postgres.EmbeddedPostgres:
    return postgres.embedded_for(settings.cache_dir, settings.embedded_pg_port)


def lab_pbx_model(settings: Settings, state: LabState) -> PbxModel:
    """The lab's own model: also the routing config in force before any change."""
    return lab_model(
        state.ami_secret,
        trunk_ip=settings.trunk_ip,
        agents_ip=settings.agents_ip,
        max_wait_s=settings.lab_max_wait_s,
        network=Network(
            ami_bind=settings.ami_host,
            ami_port=settings.ami_port,
            sip_bind=settings.sip_host,
            sip_port=settings.sip_port,
        ),
    )


def render_lab_config(settings: Settings, state: LabState) -> dict[str, str]:
    model = lab_pbx_model(settings, state)
    return render(model, settings.asterisk_config_dir, etc_dir=asterisk.ETC_IN_ROOTFS)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds a secret), atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _toml(value: str) -> str:
    return json.dumps(value)  # a TOML basic string for these ASCII paths and names


def lab_nodes_toml(settings: Settings, secret_file: Path) -> str:
    """The lab's one node, as ``CALLCTL_NODES_FILE`` describes nodes."""
    return "\n".join(
        [
            "# Written by `callctl lab up`: the lab's Asterisk as a node of callctl.",
            "[[node]]",
            f"id = {_toml(settings.node_id)}",
            f"ami_host = {_toml(settings.ami_host)}",
            f"ami_port = {settings.ami_port}",
            'ami_user = "callctl"',
            f"secret_file = {_toml(str(secret_file))}",
            f'queue_log = {{ mode = "file", path = {_toml(str(settings.queue_log_file))} }}',
            f"config_dir = {_toml(str(asterisk_paths(settings).etc))}",
            f"config_dir_in_asterisk = {_toml(asterisk.ETC_IN_ROOTFS)}",
            f"recordings_dir = {_toml(str(asterisk_paths(settings).recordings / 'callctl'))}",
            f"sip_host = {_toml(settings.sip_host)}",
            f"sip_port = {settings.sip_port}",
            f"ami_bind = {_toml(settings.ami_host)}",
            "",
            "[[trunk]]",
            'name = "trunk"',
            f"match_ip = {_toml(settings.trunk_ip)}",
            "",
        ]
    )


def write_lab_settings(settings: Settings, state: LabState, database_url: str) -> dict[str, str]:
    """The lab as settings: a nodes file, its AMI secret file, the initial routing
    document (all mode 0600 in the lab dir) and an env file exporting them."""
    lab_dir = settings.lab_dir
    lab_dir.mkdir(parents=True, exist_ok=True)
    secret_file = lab_dir / "ami_secret"
    nodes_file = lab_dir / "nodes.toml"
    routing_file = lab_dir / "routing.json"
    _write_private(secret_file, state.ami_secret + "\n")
    _write_private(nodes_file, lab_nodes_toml(settings, secret_file))
    doc = from_model(lab_pbx_model(settings, state))
    _write_private(routing_file, doc.model_dump_json(indent=2) + "\n")
    env = {
        "CALLCTL_DATABASE_URL": database_url,
        "CALLCTL_NODES_FILE": str(nodes_file),
        "CALLCTL_INITIAL_ROUTING_FILE": str(routing_file),
    }
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    _write_private(lab_dir / "callctl.env", exports)
    return env


def lab_settings(settings: Settings, env: dict[str, str]) -> Settings:
    """``settings`` with what ``lab up`` produced (for tests and the demo in-process)."""
    return settings.model_copy(
        update={
            "database_url": env["CALLCTL_DATABASE_URL"],
            "nodes_file": Path(env["CALLCTL_NODES_FILE"]),
            "initial_routing_file": Path(env["CALLCTL_INITIAL_ROUTING_FILE"]),
        }
    )


def up(settings: Settings) -> LabReport:
    started = time.monotonic()
    built = rootfs.ensure_rootfs(settings.rootfs_dir, settings.debian_mirror)
    state = LabState.load_or_create(settings.lab_dir)

    if settings.database_url:
        url, pg_mode = settings.database_url, "external (CALLCTL_DATABASE_URL)"
    else:
        pg = embedded_pg(settings)
        pg_started = postgres.start(pg)
        url = pg.url
        pg_mode = f"embedded {pg.data_dir} ({'started' if pg_started else 'already running'})"
    postgres.ensure_database(url)
    state = state.with_database(url)
    state.save(settings.lab_dir)
    env = write_lab_settings(settings, state, url)

    paths = asterisk_paths(settings)
    changed = asterisk.write_config(paths.etc, render_lab_config(settings, state))
    pid = asterisk.running(paths)
    healthy = pid is not None and asterisk.ami_fully_booted(
        settings.ami_host, settings.ami_port, "callctl", state.ami_secret, timeout_s=2.0
    )
    if pid is not None and (changed or not healthy):
        asterisk.stop(paths)
        pid = None
    ast_started = pid is None
    if ast_started:
        asterisk.start(paths)
    asterisk.wait_ready(
        paths, settings.ami_host, settings.ami_port, "callctl", state.ami_secret, timeout_s=60
    )
    return LabReport(
        rootfs_built=built,
        asterisk_started=ast_started,
        postgres=pg_mode,
        database_url=url,
        seconds=time.monotonic() - started,
        env=env,
    )


def archive_queue_log(settings: Settings, *, now: datetime | None = None) -> Path | None:
    """Start the lab's queue_log afresh, keeping what it held as ``queue_log.<UTC time>.gz``
    beside it (compressed, so reconcile never takes it for a rotated sibling).

    Copy, then truncate in place: Asterisk appends (``O_APPEND``) to the same open file,
    so nothing needs reopening; lines written during the copy are carried over. Meant for
    a quiet lab (the start of a test run): a day of benchmarks leaves tens of thousands of
    calls that every fresh callctl would otherwise reconcile and follow while a test
    watches its figures. None when there was nothing to keep."""
    return archive_log(settings.queue_log_file, now=now)


def archive_log(path: Path, *, now: datetime | None = None) -> Path | None:
    """``archive_queue_log`` for any node's queue_log (the lab cluster's nodes too)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    archive = path.with_name(f"{path.name}.{stamp}.gz")
    with path.open("rb") as source, gzip.open(archive, "wb") as target:
        shutil.copyfileobj(source, target)
        kept = source.tell()
    with path.open("r+b") as log:
        tail = log.read()[kept:]  # lines Asterisk wrote while the copy was made
        log.seek(0)
        log.truncate()
        log.write(tail)
    return archive


def down(settings: Settings) -> list[str]:
    stopped: list[str] = []
    if asterisk.stop(asterisk_paths(settings)):
        stopped.append("asterisk")
    if not settings.database_url and postgres.stop(embedded_pg(settings)):
        stopped.append("postgres")
    return stopped


def status(settings: Settings) -> dict[str, str]:
    paths = asterisk_paths(settings)
    state = LabState.load(settings.lab_dir)
    pid = asterisk.running(paths)
    ami_ok = (
        pid is not None
        and state is not None
        and asterisk.ami_fully_booted(
            settings.ami_host, settings.ami_port, "callctl", state.ami_secret, timeout_s=2.0
        )
    )
    pg = embedded_pg(settings)
    pg_pid = postgres.running(pg)
    return {
        "rootfs": "ready" if rootfs.is_complete(settings.rootfs_dir) else "missing",
        "asterisk": f"running pid {pid}" if pid else "stopped",
        "ami": "FullyBooted" if ami_ok else "not answering",
        "postgres": (
            "external (CALLCTL_DATABASE_URL)"
            if settings.database_url
            else (f"embedded pid {pg_pid}" if pg_pid else "embedded stopped")
        ),
        "queue_log": str(settings.queue_log_file),
    }
