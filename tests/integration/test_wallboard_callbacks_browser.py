"""The wallboard shows today's callbacks (回访率, 24-hour timeliness) in headless
Chromium, from /api/v1/kpis, against callctl on a database of its own."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from chromium_cdp import chromium_page
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]


async def test_wallboard_shows_callback_rate(
    lab: Settings, own_db: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    # Today (Asia/Shanghai): 4 callbacks due, 3 reached, 2 of them within 24 h.
    now = datetime.now(UTC)
    conn = await asyncpg.connect(asyncpg_dsn(own_db))
    try:
        for i, (status, after) in enumerate(
            [("reached", 1), ("reached", 2), ("reached", 30), ("exhausted", None)]
        ):
            created = now - timedelta(hours=after or 1, minutes=1)
            await conn.execute(
                "INSERT INTO callback_tasks (source, source_ref, line, number, created_at, "
                "due_from, status, reached_at) VALUES ('api', $1, '12345', '13800138000', "
                "$2, $3, $4, $5)",
                f"wallboard-{i}",
                created,
                now,  # due today (the default window), whatever the hour
                status,
                None if after is None else created + timedelta(hours=after),
            )
    finally:
        await conn.close()
    token = await provision_user(own_db, "wallboard-cb", Role.SUPERVISOR, label="wallboard test")
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    try:
        await wait_healthy()
        async with chromium_page(tmp_path / "chromium", tmp_path / "chromium.log") as page:
            await page.call(
                "Page.navigate", url=f"http://127.0.0.1:{HTTP_PORT}/wallboard#token={token}"
            )
            # The queue_log follower may bring other tests' after-hours messages in as
            # tasks due today: the page must show what /api/v1/kpis says, our 4 included
            # (exactly 75.00% / (3/4) / 50.00% when they are alone).
            shown: list[object] = []
            expected: list[object] = []
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{HTTP_PORT}",
                headers={"Authorization": f"Bearer {token}"},
            ) as api:
                deadline = time.monotonic() + 45  # the page polls every 30 s
                while time.monotonic() < deadline:
                    cb = (await api.get("/api/v1/kpis")).json()["callbacks"]
                    due, reached = cb["counts"]["due"], cb["counts"]["reached"]
                    expected = [
                        False,
                        f"{cb['figures']['callback_rate']['value']:.2f}%",
                        f"({reached}/{due})",
                        f"{cb['figures']['timeliness_24h']['value']:.2f}%",
                    ]
                    shown = await page.evaluate(
                        "[document.getElementById('callbacks-section').hidden,"
                        " document.getElementById('callback-rate').textContent,"
                        " document.getElementById('callback-counts').textContent,"
                        " document.getElementById('callback-timeliness').textContent]"
                    )
                    if shown == expected:
                        break
                    await asyncio.sleep(0.5)
            assert shown == expected
            assert due >= 4 and reached >= 3
            if due == 4:
                assert expected == [False, "75.00%", "(3/4)", "50.00%"]
            title = await page.evaluate(
                "document.querySelector('#callbacks-section h2').textContent"
            )
            assert title == "今日回访"
            await page.screenshot(artifacts_dir / "wallboard-callbacks.png")
    finally:
        callctl.terminate()
        try:
            callctl.wait(30)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()
            raise
