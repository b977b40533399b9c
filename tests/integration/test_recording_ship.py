"""Recordings shipped from the node, on the real lab: callctl does NOT read the spool
(no ``recordings_dir`` in its nodes file, as for an Asterisk on another host); a
``callctl recordings ship`` process beside the lab's Asterisk sends each finished
MixMonitor file over HTTP.

1. One call, caller 1000 Hz, agent 400 Hz: its recording arrives, linked to its entry,
   two channels, the caller's tone on channel 1 and the agent's on channel 2.
2. 20 calls while callctl is SIGKILLed in the middle (the shipper keeps running and
   retrying), restarted after they ended: every answered entry has exactly one linked
   recording, each stored once (one ``ingest`` audit row each), and no file of these
   calls is left in the spool or lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from audio_helpers import decode_channels, goertzel, ulaw_tone_wav
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.nodes import load_nodes
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]
CALLER_HZ, AGENT_HZ = 1000.0, 400.0


@pytest.fixture
def tones(tmp_path: Path) -> tuple[Path, Path]:
    return (
        ulaw_tone_wav(tmp_path / "caller-1000.wav", CALLER_HZ, 1.0),
        ulaw_tone_wav(tmp_path / "agent-400.wav", AGENT_HZ, 1.0),
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "store"
    monkeypatch.setenv("CALLCTL_RECORDINGS_STORE", str(path))
    monkeypatch.setenv("CALLCTL_RECORDINGS_SCAN_INTERVAL_S", "0.5")
    yield path


@pytest.fixture
def lab_spool(lab: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The lab's spool, and callctl's nodes file without it: callctl cannot read it."""
    assert lab.nodes_file is not None
    [node] = load_nodes(lab.nodes_file).nodes
    assert node.recordings_dir is not None
    text = lab.nodes_file.read_text(encoding="utf-8")
    blind = tmp_path / "nodes-without-spool.toml"
    blind.write_text(
        "".join(
            line for line in text.splitlines(keepends=True) if not line.startswith("recordings_dir")
        ),
        encoding="utf-8",
    )
    assert load_nodes(blind).nodes[0].recordings_dir is None
    monkeypatch.setenv("CALLCTL_NODES_FILE", str(blind))
    return node.recordings_dir


def start_shipper(spool: Path, token_file: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "callctl.cli", "recordings", "ship",
        "--node", "lab", "--spool", str(spool),
        "--to", f"http://127.0.0.1:{HTTP_PORT}", "--token-file", str(token_file),
        "--poll-interval", "0.5", "--max-backoff-s", "2",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=out)


def _left_in(spool: Path, callids: set[str]) -> list[str]:
    return [p.name for p in spool.iterdir() if p.name.split("+")[0] in callids]


async def _linked(url: str, since: datetime) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(
            await conn.fetch(
                "SELECT e.callid, e.seq, r.id, r.location, r.channels, r.source, r.file_key,"
                " (SELECT count(*) FROM recordings x WHERE x.node = e.node"
                "  AND x.callid = e.callid AND x.queue = e.queue) AS recordings,"
                " (SELECT count(*) FROM recording_audit a WHERE a.recording_id = r.id"
                "  AND a.action = 'ingest') AS ingests"
                " FROM queue_entries e LEFT JOIN recordings r ON r.node = e.node"
                " AND r.callid = e.callid AND r.queue = e.queue AND r.seq = e.seq"
                " WHERE e.node = 'lab' AND e.entered_at >= $1 AND e.outcome = 'answered'"
                " ORDER BY e.entered_at",
                since,
            )
        )
    finally:
        await conn.close()


async def _wait_linked(
    url: str, since: datetime, calls: int, timeout_s: float
) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout_s
    rows: list[asyncpg.Record] = []
    while time.monotonic() < deadline:
        rows = await _linked(url, since)
        if len(rows) >= calls and all(r["id"] is not None for r in rows):
            return rows
        await asyncio.sleep(0.5)
    return rows


async def _run_calls(
    lab: Settings, work: Path, tones: tuple[Path, Path], calls: int, rate: float
) -> sipp.SippResult:
    return await sipp.run_callers(
        sipp.CallerRun(
            calls=calls,
            rate_per_s=rate,
            patience_s=30,
            talk_s=30,
            scenario="caller_audio.xml",
            audio=tones[0],
        ),
        work_dir=work,
        local_ip=lab.trunk_ip,
        remote=f"{lab.sip_host}:{lab.sip_port}",
        timeout_s=90,
    )


async def test_shipped_from_the_node_each_entry_once_through_a_kill(
    lab: Settings,
    own_db: str,
    store: Path,
    lab_spool: Path,
    tones: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    work = tmp_path / "sipp"
    work.mkdir()
    token_file = tmp_path / "ship-token"
    token_file.write_text(await provision_user(own_db, "ship-lab", Role.OPS, label="test"))
    os.chmod(token_file, 0o600)
    agents = await sipp.start_agents(
        work_dir=work, local_ip=lab.agents_ip, port=5060, ring_s=0.5, talk_s=3.0, audio=tones[1]
    )
    log = tmp_path / "callctl.log"
    ship_log = tmp_path / "shipper.log"
    since = datetime.now(UTC).replace(microsecond=0)
    callctl = start_callctl(own_db, tmp_path / "spool", log)
    shipper = start_shipper(lab_spool, token_file, ship_log)
    try:
        await wait_healthy()
        one = await _run_calls(lab, work, tones, 1, 1.0)
        assert one.successful == 1, one.screen[-800:]
        [row] = await _wait_linked(own_db, since, 1, 30)
        assert row["id"] is not None, ship_log.read_text()[-2000:] + log.read_text()[-2000:]
        assert (row["channels"], row["source"], row["recordings"], row["ingests"]) == (
            2,
            "ship",
            1,
            1,
        )
        caller, agent = decode_channels(store / row["location"])
        mid = slice(len(caller) // 4, 3 * len(caller) // 4)
        assert goertzel(caller[mid], CALLER_HZ) > 20 * goertzel(caller[mid], AGENT_HZ)
        assert goertzel(agent[mid], AGENT_HZ) > 20 * goertzel(agent[mid], CALLER_HZ)

        # 20 calls; callctl killed while they run (the shipper goes on), restarted after.
        batch = asyncio.create_task(_run_calls(lab, work, tones, 20, 4.0))
        await asyncio.sleep(2.5)
        callctl.send_signal(signal.SIGKILL)
        callctl.wait()
        result = await batch
        assert result.successful == 20, result.screen[-800:]
        await asyncio.sleep(3)  # recordings finished while callctl is down stay in the spool
        callctl = start_callctl(own_db, tmp_path / "spool", log)
        await wait_healthy()
        rows = await _wait_linked(own_db, since, 21, 90)
        assert len(rows) == 21
        assert [r["callid"] for r in rows if r["id"] is None] == []
        assert len({r["id"] for r in rows}) == 21
        assert all(r["recordings"] == 1 and r["ingests"] == 1 for r in rows), [
            dict(r) for r in rows
        ]
        assert all(
            r["channels"] == 2 and r["source"] == "ship" and (store / r["location"]).is_file()
            for r in rows
        )
        # Nothing of these calls left behind on the node.
        callids = {r["callid"] for r in rows}
        assert _left_in(lab_spool, callids) == []
    finally:
        shipper.send_signal(signal.SIGTERM)
        try:
            shipper.wait(20)
        except subprocess.TimeoutExpired:
            shipper.kill()
            shipper.wait()
        if callctl.poll() is None:
            callctl.send_signal(signal.SIGTERM)
            callctl.wait(20)
        await sipp.stop_agents(agents)
    assert shipper.returncode == 0, ship_log.read_text()[-2000:]
    assert "not shipped" in ship_log.read_text()  # it did see callctl down, and retried
