"""Dual-channel recordings on the real lab: Asterisk's MixMonitor, SIPp callers and
agents sending different tones, callctl collecting with sox into FLAC.

1. One call: the caller sends 1000 Hz, the agent 400 Hz; the kept file has two
   channels, the caller's tone on channel 1 and the agent's on channel 2 (the way
   round docs/recordings.md says).
   The player page (/recordings) in headless Chromium loads it through the API:
   the browser decodes the FLAC (two channels, the recording's length), and the
   listen leaves its audit row.
2. 20 calls while callctl is SIGKILLed in the middle: after the restart every
   answered entry has exactly one recording, linked to it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from audio_helpers import decode_channels, goertzel, ulaw_tone_wav
from chromium_cdp import chromium_page
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.lab.lab import asterisk_paths
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


async def _linked(url: str, since: datetime) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(
            await conn.fetch(
                "SELECT e.callid, e.seq, r.id, r.location, r.channels, r.agent, r.seq AS rseq"
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


def _marked(spool: Path, since: datetime) -> list[Path]:
    """Raw recordings started since ``since`` that have their end marker."""
    return [
        raw
        for raw in spool.glob("*.raw")
        if raw.stat().st_mtime >= since.timestamp()
        and raw.with_suffix(".end").is_file()
        and raw.stat().st_size > 0
    ]


async def _wait_marked(spool: Path, since: datetime, calls: int, timeout_s: float) -> list[Path]:
    deadline = time.monotonic() + timeout_s
    marked: list[Path] = []
    while time.monotonic() < deadline:
        marked = await asyncio.to_thread(_marked, spool, since)
        if len(marked) >= calls:
            break
        await asyncio.sleep(0.5)
    return marked


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


async def _plays_in_the_browser(
    url: str, recording_id: int, seconds: float, tmp_path: Path
) -> None:
    token = await provision_user(url, "recording-test", Role.SUPERVISOR, label="test")
    async with chromium_page(tmp_path / "chromium", tmp_path / "chromium.log") as page:
        await page.call(
            "Page.navigate", url=f"http://127.0.0.1:{HTTP_PORT}/recordings#token={token}"
        )
        # The search lists every recording of the day, leftovers of earlier calls in the
        # lab's spool included: play this one.
        button = f"document.querySelector('#rows button[data-id=\"{recording_id}\"]')"
        await page.wait_for(f"{button} !== null", timeout_s=15)
        await page.evaluate(f"{button}.click()")
        player = "document.getElementById('player')"
        try:
            await page.wait_for(f"(p => p.readyState >= 2 && !p.error)({player})", timeout_s=30)
        except TimeoutError:
            state = await page.evaluate(
                "JSON.stringify({m: document.getElementById('message').textContent,"
                f" e: {player}.error?.code, r: {player}.readyState}})"
            )
            raise AssertionError(f"the player did not load the recording: {state}") from None
        # What the player holds (its blob: no second request, no second audit row) is the
        # kept FLAC file, whole. (Decoding it again with Web Audio failed now and then
        # under load with "Unable to decode audio data" while the player itself had
        # loaded it; the channels and the tones are checked on the file above.)
        await page.evaluate(
            f"fetch({player}.src).then(r => r.arrayBuffer())"
            ".then(a => { const b = new Uint8Array(a);"
            " window.held = [b.length, String.fromCharCode(...b.slice(0, 4))]; },"
            " e => { window.held = String(e); }); 0"
        )
        held = await page.wait_for("window.held", timeout_s=15)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        size, duration = await conn.fetchrow(
            "SELECT size_bytes, duration_s FROM recordings WHERE id = $1", recording_id
        )
    finally:
        await conn.close()
    assert held == [size, "fLaC"], held
    assert float(duration) == pytest.approx(seconds, abs=0.05)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        actions = await conn.fetch(
            "SELECT action, actor FROM recording_audit WHERE recording_id = $1", recording_id
        )
    finally:
        await conn.close()
    assert [(a["action"], a["actor"]) for a in actions] == [("listen", "recording-test")]


async def test_each_party_on_its_own_channel_and_every_call_found_after_a_kill(
    lab: Settings, own_db: str, store: Path, tones: tuple[Path, Path], tmp_path: Path
) -> None:
    work = tmp_path / "sipp"
    work.mkdir()
    agents = await sipp.start_agents(
        work_dir=work, local_ip=lab.agents_ip, port=5060, ring_s=0.5, talk_s=3.0, audio=tones[1]
    )
    log = tmp_path / "callctl.log"
    since = datetime.now(UTC).replace(microsecond=0)
    callctl = start_callctl(own_db, tmp_path / "spool", log)
    try:
        await wait_healthy()
        one = await _run_calls(lab, work, tones, 1, 1.0)
        assert one.successful == 1, one.screen[-800:]
        [row] = await _wait_linked(own_db, since, 1, 30)
        assert row["id"] is not None, log.read_text()[-2000:]
        assert row["channels"] == 2
        caller, agent = decode_channels(store / row["location"])
        # The middle of the call: both tones flowing.
        mid = slice(len(caller) // 4, 3 * len(caller) // 4)
        assert goertzel(caller[mid], CALLER_HZ) > 20 * goertzel(caller[mid], AGENT_HZ)
        assert goertzel(agent[mid], AGENT_HZ) > 20 * goertzel(agent[mid], CALLER_HZ)
        await _plays_in_the_browser(own_db, row["id"], len(caller) / 8000, tmp_path)

        # 20 calls; callctl killed while they run, restarted after they ended.
        batch = asyncio.create_task(_run_calls(lab, work, tones, 20, 4.0))
        await asyncio.sleep(2.5)
        callctl.send_signal(signal.SIGKILL)
        callctl.wait()
        result = await batch
        assert result.successful == 20, result.screen[-800:]
        # While callctl is down, Asterisk alone marks each ended recording: its hangup
        # handler's end marker beside the raw file, no renamed .done (no process forked).
        spool = asterisk_paths(lab).recordings / "callctl"
        ended = await _wait_marked(spool, since, 20, 15)
        assert len(ended) >= 20, sorted(p.name for p in spool.iterdir())
        assert not [p for p in spool.glob("*.done") if p.stat().st_mtime >= since.timestamp()]
        callctl = start_callctl(own_db, tmp_path / "spool", log)
        await wait_healthy()
        rows = await _wait_linked(own_db, since, 21, 60)
        assert len(rows) == 21
        assert [r["callid"] for r in rows if r["id"] is None] == []
        assert len({r["id"] for r in rows}) == 21
        assert all(r["channels"] == 2 and (store / r["location"]).is_file() for r in rows)
        # Collected recordings leave nothing behind: neither the raw file nor its marker.
        left = [p.name for p in ended if p.exists() or p.with_suffix(".end").exists()]
        assert left == []
    finally:
        if callctl.poll() is None:
            callctl.send_signal(signal.SIGTERM)
            callctl.wait(20)
        await sipp.stop_agents(agents)
