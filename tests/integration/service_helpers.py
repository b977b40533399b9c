"""A callctl service process against its own database, for outage tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from ami import actions
from ami.connection import NodeConnection
from ami.state import ConnectionState
from callctl.db import run_migrations
from callctl.runtime import lab_nodes
from callctl.settings import Settings

HTTP_PORT = 18345
AGENTS = [f"PJSIP/{1001 + i}" for i in range(20)]


@pytest.fixture
def own_db(empty_database_url: str, settings: Settings) -> Iterator[str]:
    """A database of its own, so that no other test's facts are compared."""
    base = make_url(empty_database_url)
    name = f"callctl_own_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            host=base.host, port=base.port, user=base.username or "postgres", database="postgres"
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    run_migrations(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_callctl(url: str, spool: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CALLCTL_DATABASE_URL": url,
        "CALLCTL_SPOOL_DIR": str(spool),
        "CALLCTL_HTTP_PORT": str(HTTP_PORT),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "callctl.cli", "serve"], env=env, stdout=out, stderr=out
        )


async def wait_healthy(timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                r = await client.get(f"http://127.0.0.1:{HTTP_PORT}/health")
                if r.status_code == 200 and r.json()["status"] == "ok":
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("callctl did not become healthy")


@pytest.fixture
async def control(lab: Settings) -> AsyncIterator[NodeConnection]:
    async with NodeConnection(lab_nodes(lab)[0], on_event=lambda e: None) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        yield conn
        for agent in AGENTS:  # leave the lab as found
            await conn.action(actions.queue_pause(agent, False), check=False)


async def pause_all(conn: NodeConnection, paused: bool) -> None:
    for agent in AGENTS:
        await conn.action(actions.queue_pause(agent, paused, reason="培训" if paused else None))
