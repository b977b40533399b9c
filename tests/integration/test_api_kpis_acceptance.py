"""Acceptance: the API's KPIs equal what this test computes on its own from queue_log.

Real Asterisk, SIPp callers and agents, callctl as a subprocess, its own database.
The independent computation below reads Asterisk's queue_log with a few lines of
its own (no callctl parser), so that a shared bug cannot make both sides agree.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from service_helpers import HTTP_PORT, control, own_db, pause_all, start_callctl, wait_healthy

from ami.connection import NodeConnection
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["control", "own_db"]


@dataclass(frozen=True)
class Independent:
    offered: int
    answered: int
    answered_within_15: int
    abandoned: int
    timeout: int
    waits_answered: tuple[int, ...]

    @property
    def answer_rate(self) -> Fraction:
        return Fraction(self.answered, self.offered)

    @property
    def service_level(self) -> Fraction:
        return Fraction(self.answered_within_15, self.offered)

    @property
    def abandon_rate(self) -> Fraction:
        return Fraction(self.abandoned, self.offered)

    @property
    def asa(self) -> Fraction:
        return Fraction(sum(self.waits_answered), len(self.waits_answered))


def independent_from_queue_log(path: Path, since: int, until: int) -> Independent:
    entered: set[tuple[str, str]] = set()
    answered: dict[tuple[str, str], int] = {}
    abandoned: set[tuple[str, str]] = set()
    timeout: set[tuple[str, str]] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        parts = raw.split("|")
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        key = (parts[1], parts[2])
        if parts[4] == "ENTERQUEUE" and since <= int(parts[0]) < until:
            entered.add(key)
        elif key not in entered:
            continue
        elif parts[4] == "CONNECT":
            answered[key] = int(parts[5])
        elif parts[4] == "ABANDON":
            abandoned.add(key)
        elif parts[4] == "EXITWITHTIMEOUT":
            timeout.add(key)
    return Independent(
        offered=len(entered),
        answered=len(answered),
        answered_within_15=sum(1 for w in answered.values() if w <= 15),
        abandoned=len(abandoned),
        timeout=len(timeout),
        waits_answered=tuple(answered.values()),
    )


async def supervisor_token(url: str) -> str:
    return await provision_user(url, "acceptance.supervisor", Role.SUPERVISOR, label="acceptance")


async def api_kpis(token: str, start: datetime, end: datetime) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}") as client:
        r = await client.get(
            "/api/v1/kpis",
            params={"start": start.isoformat(), "end": end.isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


async def entries_closed(url: str, since: datetime) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM queue_entries WHERE entered_at >= $1 AND outcome IS NOT NULL",
            since,
        )
        return n
    finally:
        await conn.close()


async def test_api_kpis_equal_the_independent_queue_log_computation(
    lab: Settings, own_db: str, control: NodeConnection, tmp_path: Path
) -> None:
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    agents = None
    remote = f"{lab.sip_host}:{lab.sip_port}"

    def callers(name: str, calls: int, rate: float, patience: float) -> Any:
        return sipp.run_callers(
            sipp.CallerRun(calls=calls, rate_per_s=rate, patience_s=patience, talk_s=60),
            work_dir=tmp_path / name,
            local_ip=lab.trunk_ip,
            remote=remote,
            timeout_s=120,
        )

    try:
        await wait_healthy()
        token = await supervisor_token(own_db)
        since = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.1)
        agents = await sipp.start_agents(
            work_dir=tmp_path / "agents", local_ip=lab.agents_ip, port=5060, ring_s=1, talk_s=2
        )
        # Phase 1, every agent paused: 2 callers time out at the queue's maximum wait
        # (20 s), 3 abandon after 3 s, and 2 patient ones, joining 4 s after the
        # first, are answered after ~18 s once the agents come back at 22.5 s
        # (answered, but outside the 15-second level).
        await pause_all(control, True)

        async def unpause_later() -> None:
            await asyncio.sleep(18.5)
            await pause_all(control, False)

        timeout_run = asyncio.create_task(callers("timeout", 2, 2, 90))
        await asyncio.sleep(4)
        results = await asyncio.gather(
            callers("abandon", 3, 3, 3), callers("late", 2, 2, 60), unpause_later()
        )
        abandoned, late = results[0], results[1]
        # Phase 2, agents available: 6 callers answered at once.
        prompt = await callers("prompt", 6, 3, 60)
        timed_out = await timeout_run
        for result in (abandoned, late, prompt, timed_out):
            assert result.failed == 0, result.screen[-2000:]
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

        expected = independent_from_queue_log(
            lab.queue_log_file, int(since.timestamp()), int(until.timestamp())
        )
        print(f"\nfrom queue_log: {expected}")
        assert expected.offered == 13
        assert (expected.answered, expected.abandoned) == (8, 3)
        assert expected.answered_within_15 < expected.answered  # the scenario has late answers

        deadline = time.monotonic() + 20
        while await entries_closed(own_db, since) < expected.offered:
            assert time.monotonic() < deadline, "facts did not arrive"
            await asyncio.sleep(0.5)

        body = await api_kpis(token, since, until)
        print(f"from the API: {body}")
        figures = api_figures(body)
        assert figures["offered"] == expected.offered
        assert figures["answered"] == expected.answered
        assert figures["answer_rate"] == expected.answer_rate
        assert figures["service_level"] == expected.service_level
        assert figures["abandon_rate"] == expected.abandon_rate
        assert figures["asa"] == expected.asa
    finally:
        if agents is not None:
            await sipp.stop_agents(agents)
        await pause_all(control, False)
        callctl.send_signal(signal.SIGTERM)
        try:
            callctl.wait(timeout=10)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()


def api_figures(body: dict[str, Any]) -> dict[str, Any]:
    """The API's figures as exact fractions (its raw numerators and denominators)."""
    (row,) = body["rows"]
    figures = row["figures"]

    def exact(name: str) -> Fraction:
        return Fraction(figures[name]["numerator"], figures[name]["denominator"])

    return {
        "offered": row["counts"]["offered"],
        "answered": row["counts"]["answered"],
        "answer_rate": exact("answer_rate"),
        "service_level": exact("service_level"),
        "abandon_rate": exact("abandon_rate"),
        "asa": exact("asa_s"),
    }
