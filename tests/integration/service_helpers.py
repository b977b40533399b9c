"""A callctl service process against its own database, for outage tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from lab_node import lab_ami_node

from ami import actions
from ami.connection import NodeConnection
from ami.state import ConnectionState
from callctl.db import scratch_database
from callctl.settings import Settings

HTTP_PORT = int(os.environ.get("CALLCTL_TEST_HTTP_PORT", "18345"))
AGENTS = [f"PJSIP/{1001 + i}" for i in range(20)]
# The scrape token the service started here accepts on /metrics.
METRICS_TOKEN = "test-scrape-token-0123456789abcdef"
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def own_db(server_url: str) -> Iterator[str]:
    """A migrated database of its own, so that no other test's facts are compared."""
    with scratch_database(server_url, "callctl_own") as url:
        yield url


# Every ``callctl serve`` a test started; the conftest's autouse fixture stops any still
# running when the test ends, so that a failing test's cleanup cannot leave one holding
# HTTP_PORT (the next test's wait_healthy would then talk to the wrong service).
STARTED: list[subprocess.Popen[bytes]] = []


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def stop_leftovers() -> None:
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_callctl(url: str, spool: Path, log: Path) -> subprocess.Popen[bytes]:
    if not _port_free(HTTP_PORT):
        raise RuntimeError(f"127.0.0.1:{HTTP_PORT} is taken: another callctl still runs")
    env = {
        **os.environ,
        "CALLCTL_DATABASE_URL": url,
        "CALLCTL_SPOOL_DIR": str(spool),
        "CALLCTL_HTTP_PORT": str(HTTP_PORT),
        "CALLCTL_METRICS_TOKEN": METRICS_TOKEN,
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "callctl.cli", "serve"], env=env, stdout=out, stderr=out
        )
    STARTED.append(proc)
    return proc


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
    async with NodeConnection(lab_ami_node(lab), on_event=lambda e: None) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        yield conn
        for agent in AGENTS:  # leave the lab as found
            await conn.action(actions.queue_pause(agent, False), check=False)


async def pause_all(conn: NodeConnection, paused: bool) -> None:
    for agent in AGENTS:
        await conn.action(actions.queue_pause(agent, paused, reason="培训" if paused else None))
