"""The wallboard a supervisor reads, in headless Chromium set to UTC, against callctl
and the real lab: the clock and date in Asia/Shanghai (on the token page too), a
paused agent's tile (name, time in state, the pause reason's zh-CN label), and the
staffing panel showing /api/v1/forecast's numbers for the current interval, with the
peak warning on the page and in /metrics.

History: the four same weekdays before today carry 300 calls in each of the current
and the next 15-minute interval (line 12345, a node of their own), so the forecast
needs more agents than the lab's 20.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from chromium_cdp import chromium_page
from service_helpers import (
    HTTP_PORT,
    METRICS_HEADERS,
    control,
    own_db,
    start_callctl,
    wait_healthy,
)
from test_wallboard_browser import supervisor_token, wait_seeded

from agents.acw_timer import line_caps
from ami import actions
from ami.connection import NodeConnection
from callctl.db import asyncpg_dsn
from callctl.facts.models import HangupSide, QueueEntryFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.settings import Settings
from kpi.outcome import Outcome
from kpi.rollups import refresh_all

pytestmark = pytest.mark.integration

__all__ = ["control", "own_db"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = f"http://127.0.0.1:{HTTP_PORT}"
CALLS_PER_INTERVAL = 300


async def seed_history(url: str, now: datetime) -> None:
    local = now.astimezone(SHANGHAI)
    slot = local.replace(minute=local.minute // 15 * 15, second=0, microsecond=0)
    facts: list[QueueEntryFact] = []
    for weeks in (1, 2, 3, 4):
        for offset in (0, 15):
            start = int((slot - timedelta(weeks=weeks, minutes=-offset)).timestamp())
            for i in range(CALLS_PER_INTERVAL):
                entered = start + i * 900 // CALLS_PER_INTERVAL
                common = {
                    "node": "hist", "callid": f"h{start}-{i}", "queue": "hotline", "seq": 1,
                    "entered_at": entered, "line": "12345",
                }  # fmt: skip
                if i % 10 == 0:
                    facts.append(
                        QueueEntryFact(
                            **common,
                            outcome=Outcome.ABANDONED,
                            wait_s=40,
                            ended_wait_at=entered + 40,
                        )
                    )
                else:
                    facts.append(
                        QueueEntryFact(
                            **common,
                            outcome=Outcome.ANSWERED,
                            wait_s=4,
                            ended_wait_at=entered + 4,
                            agent="1001",
                            talk_s=120,
                            hangup_side=HangupSide.CALLER,
                            completed_at=entered + 124,
                        )
                    )
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await create_stage_tables(conn)
        await commit_facts(conn, [(f, "ami") for f in facts])
        await refresh_all(conn, line_caps({}))
    finally:
        await conn.close()


def _js(selector: str) -> str:
    return f"(document.querySelector({selector!r}) || {{}}).textContent || ''"


async def test_wallboard_clock_tiles_and_staffing_in_a_utc_browser(
    lab: Settings,
    own_db: str,
    control: NodeConnection,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    await seed_history(own_db, datetime.now(UTC))
    token = await supervisor_token(own_db)
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        await wait_healthy()
        await wait_seeded(token)
        await control.action(actions.queue_pause("PJSIP/1001", True, reason="break"))
        paused_at = time.time()
        async with chromium_page(tmp_path / "chromium", tmp_path / "chromium.log") as page:
            await page.call("Emulation.setTimezoneOverride", timezoneId="UTC")
            assert await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "UTC"

            # The token page, before any snapshot: Shanghai's clock and date already.
            await page.call("Page.navigate", url=f"{BASE}/wallboard")
            await page.wait_for("!document.getElementById('login').hidden", timeout_s=15)
            await page.wait_for(_js("#clock"), timeout_s=5)
            clock = await page.evaluate(_js("#clock"))
            day = await page.evaluate(_js("#day"))
            shanghai = datetime.now(SHANGHAI)
            shown = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S")
            assert abs((shown - shanghai.replace(tzinfo=None)).total_seconds()) < 3, (day, clock)
            print(f"\nUTC browser shows {day} {clock} (Shanghai {shanghai:%H:%M:%S})")

            await page.call("Page.navigate", url=f"{BASE}/wallboard?board=1#token={token}")
            await page.wait_for("document.getElementById('link').classList.contains('up')", 15)

            # The paused agent's tile: its name, 小休 (not the key "break"), time in state.
            tile = "#agent-list .agent[data-agent='1001']"
            await page.wait_for(f"{_js(tile + ' .state')}.includes('小休')", timeout_s=15)
            assert await page.evaluate(_js(tile + " .name")) == "Agent 1001"
            assert "break" not in await page.evaluate(_js(tile))
            await asyncio.sleep(2.2)
            since = await page.evaluate(_js(tile + " .since"))
            minutes, seconds = (int(p) for p in since.split(":"))
            assert abs(minutes * 60 + seconds - (time.time() - paused_at)) <= 2, since

            # The staffing panel: the current interval's numbers are /api/v1/forecast's.
            row = "#staffing-rows tr[data-line='12345']"
            cell = row + " td[data-slot='current'][data-field='{}']"
            await page.wait_for(f"{_js(cell.format('agents'))} !== ''", timeout_s=30)
            await page.wait_for(f"{_js(cell.format('agents'))} !== '—'", timeout_s=90)
            async with httpx.AsyncClient(base_url=BASE, headers=headers) as client:
                live = (await client.get("/api/v1/live")).json()["staffing"]["lines"]["12345"]
                forecast = (await client.get("/api/v1/forecast", params={"line": "12345"})).json()
                metrics = (await client.get("/metrics", headers=METRICS_HEADERS)).text
            current = next(
                i
                for i in forecast["intervals"]
                if datetime.fromisoformat(i["start"]).timestamp() == live["current"]["start"]
            )
            assert current["calls"] == CALLS_PER_INTERVAL
            page_calls = await page.evaluate(_js(cell.format("calls")))
            page_agents = await page.evaluate(_js(cell.format("agents")))
            assert (float(page_calls), int(page_agents)) == (current["calls"], current["agents"])
            logged_in = await page.evaluate(_js(row + " td[data-field='logged_in']"))
            assert int(logged_in) == live["logged_in"] <= 20 < current["agents"]

            # More agents needed than logged in: the peak warning, on the page and in /metrics.
            await page.wait_for("!document.getElementById('peak-warning').hidden", timeout_s=5)
            assert "12345" in await page.evaluate(_js("#peak-warning"))
            assert 'callctl_peak_warning{line="12345",source="forecast"} 1' in metrics
            await page.screenshot(artifacts_dir / "wallboard-staffing.png")
    finally:
        await control.action(actions.queue_pause("PJSIP/1001", False), check=False)
        callctl.terminate()
        try:
            callctl.wait(30)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()
            raise
