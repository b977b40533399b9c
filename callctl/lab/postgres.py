"""PostgreSQL for the lab: the configured server, or a private cluster of our own.

With ``CALLCTL_DATABASE_URL`` set, that server is used. Otherwise callctl runs its
own cluster from Debian's PostgreSQL binaries (initdb into a data directory, its own
port, loopback only), which ``lab down`` stops again.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from callctl.db import asyncpg_dsn, with_database
from callctl.lab import process
from callctl.lab.errors import PostgresStartError

DATABASE = "callctl"


@dataclass(frozen=True, slots=True)
class EmbeddedPostgres:
    data_dir: Path
    port: int
    log_file: Path

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{DATABASE}"


def embedded_for(cache_dir: Path, port: int) -> EmbeddedPostgres:
    # The server refuses to run as root, and root's home is closed to other users,
    # so as root the cluster lives where the postgres user can reach it.
    base = Path("/var/lib/callctl") if os.geteuid() == 0 else cache_dir
    return EmbeddedPostgres(data_dir=base / "postgres", port=port, log_file=base / "postgres.log")


def find_bindir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0),
    )
    if not candidates:
        raise PostgresStartError(
            "postgres: no PostgreSQL server binaries under /usr/lib/postgresql (run scripts/setup)"
        )
    return candidates[-1].parent


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def running(pg: EmbeddedPostgres) -> int | None:
    pid = process.read_pid(pg.pid_file)  # first line of postmaster.pid is the pid
    if pid is not None and process.is_running(pid, "postgres"):
        return pid
    return None


def start(pg: EmbeddedPostgres) -> bool:
    """Start the private cluster (initdb on first use); True if it was started now."""
    if running(pg) is not None:
        return False
    bindir = find_bindir()
    owner_uid = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    pg.data_dir.parent.mkdir(parents=True, exist_ok=True)
    if not (pg.data_dir / "PG_VERSION").is_file():
        shutil.rmtree(pg.data_dir, ignore_errors=True)
        pg.data_dir.mkdir(mode=0o700)
        os.chown(pg.data_dir, owner_uid, -1)
        _run(
            _as_owner(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(pg.data_dir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            "initdb",
        )
    if not pg.log_file.exists():
        pg.log_file.touch()
    os.chown(pg.log_file, owner_uid, -1)
    options = (
        f"-p {pg.port} -c listen_addresses=127.0.0.1 -k {pg.data_dir} "
        "-c fsync=on -c max_connections=200"
    )
    _run(
        _as_owner(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(pg.data_dir),
                "-l",
                str(pg.log_file),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ]
        ),
        "pg_ctl start",
    )
    return True


def stop(pg: EmbeddedPostgres) -> bool:
    if running(pg) is None:
        return False
    bindir = find_bindir()
    _run(
        _as_owner([str(bindir / "pg_ctl"), "-D", str(pg.data_dir), "-m", "fast", "-w", "stop"]),
        "pg_ctl stop",
    )
    return True


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise PostgresStartError(
            f"postgres: {what} failed (exit {proc.returncode}): "
            f"{detail[-1] if detail else 'no output'}"
        )


def ensure_database(url: str) -> None:
    """Create the URL's database if the server does not have it yet."""
    asyncio.run(_ensure_database(url))


async def _ensure_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or DATABASE
    if not re.fullmatch(r"[A-Za-z0-9_]{1,63}", name):
        raise PostgresStartError(f"postgres: refusing database name {name!r}")
    try:
        conn = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise PostgresStartError(
            f"postgres: cannot reach {parsed.host}:{parsed.port}: {exc}"
        ) from exc
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
