"""Acceptance: IVR flows through REST, walked by SIPp callers pressing RFC 4733 digits.

A flow with a two-level menu into two queues goes in through the routing REST API
(applied to the real Asterisk, then taken back); bad flows are 422 and leave the
config files byte-identical. Callers press keys (an invalid key twice then a valid
one; nothing, into the default branch); their paths in ``ivr_steps`` must match
what they pressed. The emergency notice, switched on over REST, is heard by the
next call with no reload. After hours, a message is recorded to a non-empty file
and listed by REST as a callback task.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.lab.lab_model import LAB_QUEUE
from callctl.privacy import mask_number
from callctl.routing_config.apply import read_set
from callctl.routing_config.convert import from_model
from callctl.routing_config.schemas import FlowDoc, LineDoc, QueueDoc
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]

NAV_LINE, CLOSED_LINE, SECOND_QUEUE = "12347", "12348", "hotline-b"
NAV = {
    "name": "nav",
    "start": "notice",
    "nodes": [
        {"id": "notice", "kind": "notice", "flag": "storm", "prompt": "beep", "next": "top"},
        {
            "id": "top", "kind": "menu", "prompt": "beep", "choices": {"4": "sub", "5": "q-b"},
            "default": "q-a", "timeout_s": 3, "timeouts": 1, "invalids": 3,
        },
        {
            "id": "sub", "kind": "menu", "prompt": "beep", "choices": {"6": "q-a", "7": "q-b"},
            "default": "q-a", "timeout_s": 3,
        },
        {"id": "q-a", "kind": "queue", "queue": LAB_QUEUE},
        {"id": "q-b", "kind": "queue", "queue": SECOND_QUEUE},
    ],
}  # fmt: skip
AFTER_HOURS = {
    "name": "after",
    "start": "hours",
    "nodes": [
        {"id": "hours", "kind": "hours", "open": "q-a", "closed": "leave"},
        {"id": "q-a", "kind": "queue", "queue": LAB_QUEUE},
        {"id": "leave", "kind": "message", "prompt": "beep", "max_s": 20},
    ],
}
# Caller number → (steps, the path expected: (node, kind, digit, outcome) per step).
# Each caller presses digits in the order of the pcaps' RTP sequence numbers (1 < 2 <
# ... < 9): SIPp replays each pcap's packets as recorded, and Asterisk drops DTMF
# whose sequence numbers go back (or repeat), as it would any late RTP.
Path_ = list[tuple[str, str, str | None, str | None]]
OFF = ("notice", "notice", None, "off")
SCRIPTS: dict[str, tuple[tuple[tuple[float, str], ...], Path_]] = {
    "13900000001": (
        ((2.0, "4"), (2.0, "7")),
        [OFF, ("top", "menu", "4", "key"), ("sub", "menu", "7", "key"),
         ("q-b", "queue", None, SECOND_QUEUE)],
    ),
    "13900000002": (
        # Asterisk's "invalid" prompt lasts ~4 s before the menu asks again.
        ((2.0, "1"), (5.5, "2"), (5.5, "5")),
        [OFF, ("top", "menu", "1", "invalid"), ("top", "menu", "2", "invalid"),
         ("top", "menu", "5", "key"), ("q-b", "queue", None, SECOND_QUEUE)],
    ),
    "13900000003": (
        (),
        [OFF, ("top", "menu", None, "timeout"), ("q-a", "queue", None, LAB_QUEUE)],
    ),
    "13900000004": (
        ((2.0, "4"), (2.0, "6")),
        [OFF, ("top", "menu", "4", "key"), ("sub", "menu", "6", "key"),
         ("q-a", "queue", None, LAB_QUEUE)],
    ),
}  # fmt: skip
NOTICE_CALLER = "13900000005"
MESSAGE_CALLER = "13900000006"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _paths(url: str, since: datetime) -> dict[str, Path_]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT c.caller_num, s.ivr_node, s.kind, s.digit, s.outcome, s.since_start_s"
            " FROM ivr_steps s JOIN calls c ON c.node = s.node AND c.linkedid = s.callid"
            " WHERE s.at >= $1 ORDER BY c.caller_num, s.step",
            since,
        )
    finally:
        await conn.close()
    paths: dict[str, Path_] = {}
    for r in rows:
        paths.setdefault(r["caller_num"], []).append(
            (r["ivr_node"], r["kind"], r["digit"], r["outcome"])
        )
    return paths


def _doc(lab: Settings) -> dict[str, Any]:
    doc = from_model(default_model(lab))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    doc.queues.append(QueueDoc(name=SECOND_QUEUE, max_wait_s=60))
    doc.lines += [
        LineDoc(number=NAV_LINE, name="导航线", queue=LAB_QUEUE, flow="nav"),
        # Closed all day today (a holiday): the flow takes the message branch.
        LineDoc(number=CLOSED_LINE, name="留言线", queue=LAB_QUEUE, flow="after", holidays=[today]),
    ]
    doc.flows = [FlowDoc.model_validate(NAV), FlowDoc.model_validate(AFTER_HOURS)]
    return doc.model_dump(mode="json")


async def test_ivr_flows_paths_notice_and_after_hours_message(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    remote = f"{lab.sip_host}:{lab.sip_port}"
    etc = node_targets(lab)[0].apply.etc_dir
    admin: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}", timeout=60) as api:
        try:
            await wait_healthy()
            admin = bearer(await provision_user(own_db, "ivr.admin", Role.ADMIN, label="t"))
            r = await api.put("/api/v1/routing/config", json=_doc(lab), headers=admin)
            assert r.status_code == 200, r.text

            # Bad flows: 422 naming the field, config files byte-identical.
            before = read_set(etc)
            loop = {
                "name": "bad", "start": "a",
                "nodes": [
                    {"id": "a", "kind": "play", "prompt": "beep", "next": "b"},
                    {"id": "b", "kind": "play", "prompt": "beep", "next": "a"},
                ],
            }  # fmt: skip
            dead_end = {
                "name": "bad", "start": "m",
                "nodes": [
                    {"id": "m", "kind": "menu", "prompt": "beep", "choices": {"1": "p"},
                     "default": "p"},
                    {"id": "p", "kind": "play", "prompt": "beep", "next": "m"},
                ],
            }  # fmt: skip
            unsafe = {
                "name": "bad", "start": "p",
                "nodes": [
                    {"id": "p", "kind": "play", "prompt": "beep;Hangup", "next": "h"},
                    {"id": "h", "kind": "hangup"},
                ],
            }  # fmt: skip
            for bad, field in (
                (loop, "flow.nodes[a]"),
                (dead_end, "flow.nodes[m]"),
                (unsafe, "flow.nodes[p].prompt"),
            ):
                r = await api.put("/api/v1/routing/flows/bad", json=bad, headers=admin)
                assert r.status_code == 422, r.text
                assert r.json()["error"]["detail"]["field"] == field
            assert read_set(etc) == before

            since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

            def walk(number: str, steps: tuple[tuple[float, str], ...], line: str) -> Any:
                return sipp.run_dtmf_callers(
                    sipp.DtmfRun(
                        service=line, steps=steps, hold_s=4,
                        callers=(sipp.Caller(number, "市民"),),
                    ),
                    work_dir=tmp_path / number, local_ip=lab.trunk_ip, remote=remote,
                    timeout_s=60,
                )  # fmt: skip

            results = await asyncio.gather(
                *(walk(number, steps, NAV_LINE) for number, (steps, _) in SCRIPTS.items()),
                walk(MESSAGE_CALLER, ((2.0, sipp.AUDIO), (3.0, sipp.AUDIO)), CLOSED_LINE),
            )
            for result in results:
                assert result.failed == 0, result.screen[-2000:]

            # The emergency notice, on over REST: the next call hears it, no reload.
            r = await api.put("/api/v1/ivr/notices/storm", json={"on": True}, headers=admin)
            assert r.status_code == 200, r.text
            try:
                noticed = await walk(NOTICE_CALLER, ((3.0, "5"),), NAV_LINE)
            finally:
                r = await api.put("/api/v1/ivr/notices/storm", json={"on": False}, headers=admin)
                assert r.status_code == 200, r.text
            assert noticed.failed == 0, noticed.screen[-2000:]
            r = await api.put("/api/v1/ivr/notices/nosuch", json={"on": True}, headers=admin)
            assert r.status_code == 404

            expected = {number: path for number, (_, path) in SCRIPTS.items()}
            expected[NOTICE_CALLER] = [
                ("notice", "notice", None, "on"), ("top", "menu", "5", "key"),
                ("q-b", "queue", None, SECOND_QUEUE),
            ]  # fmt: skip
            expected[MESSAGE_CALLER] = [
                ("hours", "hours", None, "closed"), ("leave", "message", None, "recorded"),
            ]  # fmt: skip
            deadline = time.monotonic() + 20
            while (paths := await _paths(own_db, since)) != expected:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert paths == expected

            r = await api.get(
                "/api/v1/ivr/messages", params={"start": since.isoformat()}, headers=admin
            )
            assert r.status_code == 200, r.text
            (message,) = r.json()
            # Tied to the caller; the number masked for a user not allowed to see numbers.
            assert message["line"] == CLOSED_LINE
            assert message["number"] == mask_number(MESSAGE_CALLER) != MESSAGE_CALLER
            recording = lab.rootfs_dir / message["recording_path"].lstrip("/")
            print(f"\nmessage: {message}, {recording.stat().st_size} bytes")
            assert recording.stat().st_size > 1000
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
