"""A silent caller on a menu whose timeout branch loops back leaves at the flow's step limit.

Two flows go in through the routing REST API (applied to the real Asterisk): a menu
whose default (timeout) branch plays a prompt and asks again. Validation accepts
them (a key leads out), so only the step limit stops a caller who presses nothing.
Both callers press nothing: on the first flow (no ``on_limit``) Asterisk plays the
limit notice and hangs up long before the caller would; on the second the call goes
to ``on_limit``'s queue. Each path in ``ivr_steps`` ends with the step that says why:
key ``limit``, outcome ``hangup`` or the fallback node.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy
from test_ivr_acceptance import Path_, _doc, _paths, bearer

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.lab import sipp
from callctl.lab.lab_model import LAB_QUEUE
from callctl.routing_config.convert import from_model
from callctl.routing_config.schemas import FlowDoc, LineDoc
from callctl.routing_config.target import default_model
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]

HANGUP_LINE, QUEUE_LINE = "12351", "12352"
HANGUP_CALLER, QUEUE_CALLER = "13900000011", "13900000012"
MAX_STEPS = 4
# Longer than the walk to the limit (about 5 s): a call that ends before it was
# ended by Asterisk.
CALLER_HOLD_S = 40.0


def _loop(name: str, **limits: Any) -> dict[str, Any]:
    return {
        "name": name, "start": "ask", "max_steps": MAX_STEPS, **limits,
        "nodes": [
            {"id": "ask", "kind": "menu", "prompt": "beep", "choices": {"1": "q-a"},
             "default": "again", "timeout_s": 1, "timeouts": 1},
            {"id": "again", "kind": "play", "prompt": "beep", "next": "ask"},
            {"id": "q-a", "kind": "queue", "queue": LAB_QUEUE},
        ],
    }  # fmt: skip


# Entered: ask 1, again 2, ask 3, again 4, ask 5 > MAX_STEPS: the limit.
ROUND: Path_ = [("ask", "menu", None, "timeout"), ("again", "play", None, "played")]
EXPECTED: dict[str, Path_] = {
    HANGUP_CALLER: [*ROUND, *ROUND, ("ask", "menu", "limit", "hangup")],
    QUEUE_CALLER: [
        *ROUND, *ROUND, ("ask", "menu", "limit", "q-a"), ("q-a", "queue", None, LAB_QUEUE),
    ],
}  # fmt: skip


def _limit_doc(lab: Settings) -> dict[str, Any]:
    doc = _doc(lab)
    doc["flows"] += [
        FlowDoc.model_validate(flow).model_dump(mode="json")
        for flow in (
            _loop("loop-hangup", limit_prompt="goodbye"),
            _loop("loop-queue", on_limit="q-a"),
        )
    ]
    doc["lines"] += [
        LineDoc(number=number, name=name, queue=LAB_QUEUE, flow=flow).model_dump(mode="json")
        for number, name, flow in (
            (HANGUP_LINE, "循环挂机", "loop-hangup"),
            (QUEUE_LINE, "循环转队列", "loop-queue"),
        )
    ]
    return doc


async def test_a_silent_caller_leaves_at_the_step_limit(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    remote = f"{lab.sip_host}:{lab.sip_port}"
    admin: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}", timeout=60) as api:
        try:
            await wait_healthy()
            admin = bearer(await provision_user(own_db, "ivr.admin", Role.ADMIN, label="t"))
            r = await api.put("/api/v1/routing/config", json=_limit_doc(lab), headers=admin)
            assert r.status_code == 200, r.text
            since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

            async def silent(number: str, line: str, hold_s: float) -> tuple[Any, float]:
                began = time.monotonic()
                result = await sipp.run_dtmf_callers(
                    sipp.DtmfRun(
                        service=line, steps=(), hold_s=hold_s,
                        callers=(sipp.Caller(number, "市民"),),
                    ),
                    work_dir=tmp_path / number, local_ip=lab.trunk_ip, remote=remote,
                    timeout_s=CALLER_HOLD_S + 30,
                )  # fmt: skip
                return result, time.monotonic() - began

            (hung_up, hung_up_s), (queued, _) = await asyncio.gather(
                silent(HANGUP_CALLER, HANGUP_LINE, CALLER_HOLD_S),
                silent(QUEUE_CALLER, QUEUE_LINE, 15),
            )
            for result in (hung_up, queued):
                assert result.failed == 0, result.screen[-2000:]
            print(f"\nhung up at the limit after {hung_up_s:.1f} s")
            assert hung_up_s < CALLER_HOLD_S / 2, "Asterisk did not end the call at the limit"

            deadline = time.monotonic() + 20
            while (paths := await _paths(own_db, since)) != EXPECTED:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert paths == EXPECTED
        finally:
            doc = from_model(default_model(lab)).model_dump(mode="json")
            r = await api.put("/api/v1/routing/config", json=doc, headers=admin)
            callctl.send_signal(signal.SIGTERM)
            try:
                callctl.wait(timeout=10)
            except subprocess.TimeoutExpired:
                callctl.kill()
                callctl.wait()
            assert r.status_code == 200, r.text
