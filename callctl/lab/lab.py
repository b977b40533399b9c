"""``callctl lab up|down|status``: the whole lab, idempotently."""

from __future__ import annotations

import time
from dataclasses import dataclass

from callctl.lab import asterisk, postgres, rootfs
from callctl.lab.lab_model import lab_model
from callctl.lab.state import LabState
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
    )


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
