"""Under plain load, with no fault, the stored facts converge on queue_log by themselves.

callctl serves the lab (AMI ingest, its in-process queue_log shipper and follower);
SIPp places 200 calls at 10 calls/s that agents answer at once. Without any
reconcile run (checked through ``/metrics``), ``verify`` must show 0 missing,
0 extra and 0 differing within a few seconds of the last call.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from service_helpers import HTTP_PORT, METRICS_HEADERS, own_db, start_callctl, wait_healthy

from callctl.ingest.verify import format_report, verify
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]

CALLS = 200
CONVERGE_WITHIN_S = 5.0


async def _metrics() -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        text = (
            await client.get(f"http://127.0.0.1:{HTTP_PORT}/metrics", headers=METRICS_HEADERS)
        ).text
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"(?m)^(callctl_[a-z_]+)(?:\{[^}]*\})? ([0-9.]+)$", text)
    }


def _lines_since(path: Path, epoch: int) -> int:
    return sum(
        1
        for line in path.read_bytes().split(b"\n")
        if line[:10].isdigit() and int(line.split(b"|", 1)[0]) >= epoch
    )


async def _caught_up(path: Path, timeout_s: float = 30) -> float:
    """Wait until every line of the file so far is shipped and folded; returns the count."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = await _metrics()
        shipped = m.get("callctl_queue_log_shipped_lines_total", 0.0)
        folded = m.get("callctl_queue_log_folded_lines_total", 0.0)
        if shipped >= _lines_since(path, 0) and folded == shipped:
            return folded
        await asyncio.sleep(0.5)
    raise TimeoutError("the queue_log follower did not catch up")


async def _settled(key: str, timeout_s: float = 30) -> float:
    """Wait until a counter stops moving for a second; returns its value."""
    deadline = time.monotonic() + timeout_s
    last = -1.0
    while time.monotonic() < deadline:
        value = (await _metrics()).get(key, 0.0)
        if value == last and value > 0:
            return value
        last = value
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{key} did not settle")


async def test_facts_converge_on_queue_log_under_load_without_reconcile(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    agents = None
    try:
        await wait_healthy()
        folded_before = await _caught_up(lab.queue_log_file)  # the file so far is folded
        reconciles_before = await _settled("callctl_reconciles_total")  # the startup one
        since = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.1)  # calls start in the next whole second
        agents = await sipp.start_agents(
            work_dir=tmp_path / "agents", local_ip=lab.agents_ip, port=5060, ring_s=1, talk_s=1
        )
        result = await sipp.run_callers(
            sipp.CallerRun(calls=CALLS, rate_per_s=10, patience_s=40),
            work_dir=tmp_path / "callers",
            local_ip=lab.trunk_ip,
            remote=f"{lab.sip_host}:{lab.sip_port}",
            timeout_s=60,
        )
        assert result.failed == 0 and result.successful == CALLS, result.screen[-2000:]
        done = time.monotonic()

        report = await verify(own_db, lab.queue_log_file, "lab", since)
        while not report.ok and time.monotonic() - done < CONVERGE_WITHIN_S:
            await asyncio.sleep(0.25)
            report = await verify(own_db, lab.queue_log_file, "lab", since)
        took = time.monotonic() - done
        print(f"\n{format_report(report)}\nconverged {took:.1f} s after the last call")
        assert report.ok, format_report(report)
        assert report.comparison.expected == report.comparison.actual == CALLS

        # ... and the follower folded every line the load wrote (it polls once a second
        # when caught up: the last line may still be on its way)
        load_lines = _lines_since(lab.queue_log_file, int(since.timestamp()))
        metrics = await _metrics()
        while (
            metrics["callctl_queue_log_folded_lines_total"] - folded_before < load_lines
            and time.monotonic() - done < CONVERGE_WITHIN_S
        ):
            await asyncio.sleep(0.25)
            metrics = await _metrics()
        assert metrics["callctl_reconciles_total"] == reconciles_before  # no reconcile ran
        folded = metrics["callctl_queue_log_folded_lines_total"] - folded_before
        print(f"{load_lines} queue_log lines written by the load, {folded:.0f} folded")
        assert folded >= load_lines >= 3 * CALLS  # ENTERQUEUE, CONNECT, COMPLETE*
    finally:
        if agents is not None:
            await sipp.stop_agents(agents)
        callctl.send_signal(signal.SIGTERM)
        try:
            callctl.wait(timeout=10)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()
