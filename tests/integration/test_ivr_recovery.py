"""IVR paths walked while callctl is down are recovered from queue_log.

callctl applies a flow, is SIGKILLed, and callers walk the menus with RFC 4733 digits
while nothing listens to AMI. After the restart, startup reconcile reads the custom
``IVR`` lines of queue_log: every caller's path in ``ivr_steps`` equals what they
pressed, with the time from the start of the call to queue entry, and each call's
steps are stored once (a second restart adds nothing).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy
from test_ivr_acceptance import NAV_LINE, SCRIPTS, _doc, _paths, bearer

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.routing_config.convert import from_model
from callctl.routing_config.target import default_model
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]

WALKED = ("13900000001", "13900000003")


def _stop(callctl: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    callctl.send_signal(sig)
    try:
        callctl.wait(timeout=15)
    except subprocess.TimeoutExpired:
        callctl.kill()
        callctl.wait()


async def _counts(url: str, since: datetime) -> tuple[int, list[float]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT s.kind, s.since_start_s FROM ivr_steps s WHERE s.at >= $1", since
        )
    finally:
        await conn.close()
    return len(rows), [float(r["since_start_s"]) for r in rows if r["kind"] == "queue"]


async def test_paths_walked_while_callctl_is_down_are_recovered(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    spool, log = tmp_path / "spool", tmp_path / "callctl.log"
    callctl = start_callctl(own_db, spool, log)
    remote = f"{lab.sip_host}:{lab.sip_port}"
    admin: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}", timeout=60) as api:
        try:
            await wait_healthy()
            admin = bearer(await provision_user(own_db, "ivr.admin", Role.ADMIN, label="t"))
            r = await api.put("/api/v1/routing/config", json=_doc(lab), headers=admin)
            assert r.status_code == 200, r.text
            since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

            _stop(callctl, signal.SIGKILL)  # Asterisk keeps the applied flow

            def walk(number: str) -> Any:
                return sipp.run_dtmf_callers(
                    sipp.DtmfRun(
                        service=NAV_LINE, steps=SCRIPTS[number][0], hold_s=4,
                        callers=(sipp.Caller(number, "市民"),),
                    ),
                    work_dir=tmp_path / number, local_ip=lab.trunk_ip, remote=remote,
                    timeout_s=60,
                )  # fmt: skip

            for result in await asyncio.gather(*(walk(n) for n in WALKED)):
                assert result.failed == 0, result.screen[-2000:]
            assert await _paths(own_db, since) == {}  # nothing heard them

            callctl = start_callctl(own_db, spool, log)
            await wait_healthy()
            expected = {n: SCRIPTS[n][1] for n in WALKED}
            deadline = time.monotonic() + 30
            while (paths := await _paths(own_db, since)) != expected:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert paths == expected, log.read_text()[-3000:]
            steps, to_queue = await _counts(own_db, since)
            # Each caller heard the notice check and at least one menu prompt first.
            assert len(to_queue) == len(WALKED) and all(s > 0 for s in to_queue), to_queue

            # A second restart reads the same queue_log again and stores nothing twice.
            _stop(callctl, signal.SIGTERM)
            callctl = start_callctl(own_db, spool, log)
            await wait_healthy()
            await asyncio.sleep(3)
            assert (await _counts(own_db, since))[0] == steps
        finally:
            if callctl.poll() is None:
                doc = from_model(default_model(lab)).model_dump(mode="json")
                r = await api.put("/api/v1/routing/config", json=doc, headers=admin)
                _stop(callctl, signal.SIGTERM)
                assert r.status_code == 200, r.text
