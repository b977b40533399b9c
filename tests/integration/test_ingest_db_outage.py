"""PostgreSQL stopped for 30 s under call load: no fact lost, the spool drains quickly."""

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
from callctl.lab import lab as lab_module
from callctl.lab import postgres, sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]


async def _metrics() -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        text = (
            await client.get(f"http://127.0.0.1:{HTTP_PORT}/metrics", headers=METRICS_HEADERS)
        ).text
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"(?m)^(callctl_[a-z_]+)(?:\{[^}]*\})? ([0-9.]+)$", text)
    }


async def test_postgres_down_30s_under_load_loses_nothing(
    settings: Settings, lab: Settings, own_db: str, tmp_path: Path
) -> None:
    if settings.database_url:  # set from outside, not by `lab up`: an external server
        pytest.skip("needs the embedded cluster, which this test stops and starts")
    pg = lab_module.embedded_pg(lab)
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    agents = await sipp.start_agents(
        work_dir=tmp_path / "agents", local_ip=lab.agents_ip, port=5060, ring_s=1, talk_s=2
    )
    try:
        await wait_healthy()
        since = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.1)

        async def calls() -> sipp.SippResult:
            return await sipp.run_callers(
                sipp.CallerRun(calls=150, rate_per_s=4, patience_s=30),
                work_dir=tmp_path / "callers",
                local_ip=lab.trunk_ip,
                remote=f"{lab.sip_host}:{lab.sip_port}",
                timeout_s=120,
            )

        async def outage() -> float:
            await asyncio.sleep(5)
            await asyncio.to_thread(postgres.stop, pg)
            await asyncio.sleep(30)
            await asyncio.to_thread(postgres.start, pg)
            return time.monotonic()

        result, back_at = await asyncio.gather(calls(), outage())
        assert result.failed == 0 and result.successful == 150  # calls kept flowing

        drained_at = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = await _metrics()
            if m["callctl_database_up"] == 1 and m["callctl_spool_pending"] == 0:
                drained_at = time.monotonic()
                break
            await asyncio.sleep(0.2)
        assert drained_at is not None, "spool not drained within 30 s"
        m = await _metrics()
        print(
            f"\nspool: {m['callctl_spooled_records_total']:.0f} facts spooled, drained "
            f"{max(0.0, drained_at - back_at):.1f} s after PostgreSQL returned"
        )
        assert m["callctl_spooled_records_total"] > 0  # the outage really hit the writer
        assert drained_at - back_at <= 10

        await asyncio.sleep(2)  # the last calls' completions
        report = await verify(own_db, lab.queue_log_file, "lab", since)
        print(format_report(report))
        assert report.ok, format_report(report)
        assert report.comparison.expected == report.comparison.actual == 150
    finally:
        await sipp.stop_agents(agents)
        if postgres.running(pg) is None:
            postgres.start(pg)
        callctl.send_signal(signal.SIGTERM)
        try:
            callctl.wait(timeout=10)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()
