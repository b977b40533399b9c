"""The wallboard page in headless Chromium against callctl and the real lab.

callctl runs as a subprocess on its own database; every agent is paused so the one
SIPp call waits; the page must show 1 call waiting within 1 s of Asterisk's
QueueCallerJoin reaching an AMI client, then 0 again when the caller gives up.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest
from chromium_cdp import chromium_page
from lab_node import lab_ami_node
from service_helpers import HTTP_PORT, control, own_db, pause_all, start_callctl, wait_healthy

from ami.connection import NodeConnection
from ami.events import AmiEvent, QueueCallerJoin
from ami.state import ConnectionState
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["control", "own_db"]

# Set by a MutationObserver the moment the figure changes, on the browser's clock
# (the same machine's clock as time.time()).
WATCH_WAITING = """
(() => {
  window.__waitingSeen = {};
  const el = document.getElementById("waiting");
  const note = () => {
    const v = el.textContent;
    if (!(v in window.__waitingSeen)) window.__waitingSeen[v] = Date.now() / 1000;
  };
  new MutationObserver(note).observe(el, {childList: true, characterData: true, subtree: true});
  note();
  return true;
})()
"""


async def supervisor_token(url: str) -> str:
    return await provision_user(url, "wallboard-test", Role.SUPERVISOR, label="wallboard test")


async def wait_seeded(token: str, timeout_s: float = 30) -> None:
    """Until today's stored facts (the startup reconcile's too) are in the live figures."""
    url = f"http://127.0.0.1:{HTTP_PORT}/api/v1/live"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(int(timeout_s / 0.2)):
            live = (await client.get(url)).json()
            if live["today"]["seeded"]:
                return
            await asyncio.sleep(0.2)
    raise TimeoutError("live figures not seeded")


async def test_page_shows_a_waiting_call_within_1_s(
    lab: Settings, own_db: str, control: NodeConnection, tmp_path: Path, artifacts_dir: Path
) -> None:
    joins: list[float] = []

    def on_event(event: AmiEvent) -> None:
        if isinstance(event, QueueCallerJoin):
            joins.append(event.received_at)

    token = await supervisor_token(own_db)
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    try:
        await wait_healthy()
        await wait_seeded(token)
        await pause_all(control, True)
        async with (
            NodeConnection(lab_ami_node(lab), on_event=on_event) as watcher,
            chromium_page(tmp_path / "chromium", tmp_path / "chromium.log") as page,
        ):
            await watcher.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
            await page.call(
                "Page.navigate", url=f"http://127.0.0.1:{HTTP_PORT}/wallboard#token={token}"
            )
            # Snapshot in: the link shows connected and the figure reads 0.
            await page.wait_for(
                "document.getElementById('link').classList.contains('up')"
                " && document.getElementById('waiting').textContent === '0'",
                timeout_s=15,
            )
            assert await page.evaluate("location.hash") == ""  # token taken out of the URL
            await page.evaluate(WATCH_WAITING)
            abandoned = int(await page.evaluate("document.getElementById('abandoned').textContent"))

            call = asyncio.create_task(
                sipp.run_callers(
                    sipp.CallerRun(calls=1, rate_per_s=1, patience_s=6),
                    work_dir=tmp_path / "caller",
                    local_ip=lab.trunk_ip,
                    remote=f"{lab.sip_host}:{lab.sip_port}",
                    timeout_s=60,
                )
            )
            seen = await page.wait_for("window.__waitingSeen['1']", timeout_s=15, poll_s=0.02)
            assert len(joins) == 1
            lag = seen - joins[0]
            print(f"\nwallboard showed the waiting call {lag * 1000:.0f} ms after the join")
            assert lag <= 1.0
            await asyncio.sleep(1.5)  # let the longest wait tick on the screenshot
            longest = await page.evaluate("document.getElementById('longest-wait').textContent")
            assert longest in ("1秒", "2秒")  # the caller's wait, growing on the page's clock
            assert await page.evaluate("document.getElementById('fig-longest').className") == (
                "figure green"  # within the 15 s threshold
            )
            await page.screenshot(artifacts_dir / "wallboard.png")

            result = await call
            assert result.failed == 0, result.screen[-2000:]
            await page.wait_for("document.getElementById('waiting').textContent === '0'", 10)
            # The caller gave up: today's abandoned count took it in, live.
            await page.wait_for(
                f"document.getElementById('abandoned').textContent === '{abandoned + 1}'", 10
            )
    finally:
        await pause_all(control, False)
        callctl.terminate()
        try:
            callctl.wait(30)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()
            raise
