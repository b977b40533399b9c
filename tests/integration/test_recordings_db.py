"""Recordings on real PostgreSQL and real sox, without Asterisk: the spool files are
written as MixMonitor writes them (interleaved stereo, agent left, caller right).

Collected, converted (caller on channel 1), linked to their answered entries;
heard through the API with Range, with one audit row per access and none for a
refused one; held with a reason; expired with a moved clock (held and permanent
kept); scrubbed; backed up incrementally and drilled; sampled for QA by a stored
dissatisfied survey answer; scored.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from audio_helpers import decode_channels, goertzel, interleave, tone
from fastapi import FastAPI

from callctl.app import create_app
from callctl.auth.roles import Role
from callctl.auth.tokens import issue_token
from callctl.auth.users import create_user
from callctl.db import asyncpg_dsn, scratch_database
from callctl.settings import Settings
from recording import collector as collector_module
from recording.backup import backup, restore_drill
from recording.collector import Collector, register_kept
from recording.naming import parse_stem
from recording.retention import expire, scrub
from recording.store import store_raw

pytestmark = pytest.mark.db

NOW = datetime.now(UTC).replace(microsecond=0)
CALLER_HZ, AGENT_HZ = 1000.0, 400.0


@pytest.fixture(scope="module")
def rec_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "callctl_rec") as url:
        yield url


@pytest.fixture
async def pool(rec_db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(asyncpg_dsn(rec_db), min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the module's database: every recording's file is there."""
    return tmp_path_factory.mktemp("store")


@pytest.fixture
async def app(rec_db: str, store: Path, settings: Settings) -> AsyncIterator[FastAPI]:
    own = settings.model_copy(update={"recordings_store": store})
    application = create_app(own, ingest=False, database_url=rec_db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://callctl.test") as c:
        yield c


async def _token(
    app: FastAPI, role: Role, agent_id: str | None = None, *, can_see_numbers: bool = False
) -> dict[str, str]:
    pool = app.state.db
    name = f"{role.value}-{os.urandom(4).hex()}"
    user_id = await create_user(
        pool, name, role, agent_id=agent_id, can_see_numbers=can_see_numbers
    )
    return {"Authorization": f"Bearer {await issue_token(pool, user_id, 'test')}"}


async def _spool_call(
    pool: asyncpg.Pool, spool: Path, n: int, *, agent: str = "1001", seconds: float = 2.0
) -> str:
    """A finished MixMonitor file and its answered queue entry; the call id."""
    callid = f"{int(NOW.timestamp()) - 3600}.{n}"
    entered = NOW - timedelta(minutes=60 - n)
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO queue_entries (node, callid, queue, seq, line, entered_at, caller_num,"
            " outcome, ended_wait_at, wait_s, agent, talk_s, source) VALUES ('lab', $1,"
            " 'hotline', 1, '12345', $2, '13800001234', 'answered', $3, 5, $4, 2, 'ami')",
            callid,
            entered,
            entered + timedelta(seconds=5),
            agent,
        )
    end = (entered + timedelta(seconds=5 + seconds)).timestamp()
    _write_done(spool, f"{callid}+hotline+12345+{agent}+{callid}{n}", end, seconds)
    return callid


def _write_done(spool: Path, stem: str, mtime: float, seconds: float) -> None:
    """As MixMonitor leaves it: agent left, caller right, renamed .done at the end."""
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / f"{stem}.done"
    path.write_bytes(interleave(tone(AGENT_HZ, seconds), tone(CALLER_HZ, seconds)))
    os.utime(path, (mtime, mtime))


async def _collect(pool: asyncpg.Pool, store: Path, spool: Path) -> None:
    # As in `callctl serve`: only recent recordings are linked by the periodic scan.
    collector = Collector(pool, store, {"lab": spool}, link_within=timedelta(days=7))
    report = await collector.scan_once()
    assert not report.failed


async def _recording(pool: asyncpg.Pool, callid: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM recordings WHERE callid = $1", callid)
    assert row is not None
    return row


async def _audit_count(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM recording_audit")
    return count


async def test_collected_converted_linked_and_idempotent(
    pool: asyncpg.Pool, store: Path, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    callid = await _spool_call(pool, spool, 1)
    busy = spool / f"{callid}+hotline+12345+1001+{callid}9.raw"  # still recording
    busy.write_bytes(b"\0" * 64)
    await _collect(pool, store, spool)
    row = await _recording(pool, callid)
    assert (row["seq"], row["line"], row["agent"], row["channels"], row["codec"]) == (
        1,
        "12345",
        "1001",
        2,
        "flac",
    )
    assert row["duration_s"] == pytest.approx(2.0)
    assert row["expires_at"] - row["started_at"] == timedelta(days=1096)
    kept = store / row["location"]
    assert kept.stat().st_size == row["size_bytes"]
    caller, agent = decode_channels(kept)
    assert goertzel(caller, CALLER_HZ) > 100 * goertzel(caller, AGENT_HZ)
    assert goertzel(agent, AGENT_HZ) > 100 * goertzel(agent, CALLER_HZ)
    assert busy.exists() and not list(spool.glob("*.done"))
    # The same file again (a crash before the raw file was removed): same row.
    await _spool_call_again(spool, row)
    await _collect(pool, store, spool)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM recordings WHERE callid = $1", callid) == 1


async def test_a_scan_stores_its_recordings_in_batches_as_one_by_one_storing_would(
    pool: asyncpg.Pool, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5 ready files, 2 per transaction: three batches in one scan.
    monkeypatch.setattr(collector_module, "COMMIT_EVERY", 2)
    spool = tmp_path / "spool"
    callids = [await _spool_call(pool, spool, n, seconds=1.0) for n in range(50, 55)]
    raws = {p.name: (p.read_bytes(), p.stat().st_mtime) for p in spool.glob("*.done")}
    report = await Collector(pool, store, {"lab": spool}).scan_once()
    assert (report.collected, report.failed) == (5, [])
    assert not list(spool.iterdir())
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT file_key, location, sha256, size_bytes, duration_s, started_at"
            " FROM recordings WHERE callid = ANY($1::text[]) ORDER BY callid",
            callids,
        )
    assert len(rows) == 5
    # The same raw files through the single-file path (a shipped upload's), into
    # another store: the same files and the same row values.
    alone = tmp_path / "alone"
    for row in rows:
        kept = store / row["location"]
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == row["sha256"]
        assert (kept.stat().st_size, row["duration_s"]) == (row["size_bytes"], 1.0)
        data, mtime = raws[f"{row['file_key']}.done"]
        raw = tmp_path / f"{row['file_key']}.done"
        raw.write_bytes(data)
        stored = await store_raw(
            pool, alone, "lab", parse_stem(row["file_key"]), raw, mtime=mtime, source="scan"
        )
        assert (alone / stored.location).read_bytes() == kept.read_bytes()
        assert (stored.location, stored.started_at, stored.converted.sha256) == (
            row["location"],
            row["started_at"],
            row["sha256"],
        )


async def _spool_call_again(spool: Path, row: asyncpg.Record) -> None:
    path = spool / f"{row['file_key']}.done"
    path.write_bytes(interleave(tone(AGENT_HZ, 2.0), tone(CALLER_HZ, 2.0)))


async def test_listen_with_range_roles_and_one_audit_row_each(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, store: Path, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    callid = await _spool_call(pool, spool, 2)
    await _collect(pool, store, spool)
    rec = await _recording(pool, callid)
    data = (store / rec["location"]).read_bytes()
    sup = await _token(app, Role.SUPERVISOR)
    before = await _audit_count(pool)

    meta = await client.get(f"/api/v1/recordings/{rec['id']}", headers=sup)
    assert meta.status_code == 200
    assert meta.json()["caller_num"] == "138****1234"
    assert meta.json()["channel_layout"] == {"caller": 1, "agent": 2}

    part = await client.get(
        f"/api/v1/recordings/{rec['id']}/audio", headers={**sup, "Range": "bytes=100-299"}
    )
    assert part.status_code == 206
    assert part.content == data[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(data)}"
    whole = await client.get(f"/api/v1/recordings/{rec['id']}/audio?download=true", headers=sup)
    assert whole.status_code == 200 and whole.content == data
    assert "attachment" in whole.headers["content-disposition"]
    assert await _audit_count(pool) == before + 2

    refused = [
        await client.get(
            f"/api/v1/recordings/{rec['id']}/audio", headers={**sup, "Range": "bytes=99999999-"}
        ),
        await client.get(
            f"/api/v1/recordings/{rec['id']}/audio", headers={**sup, "Range": "bytes=0-1,4-5"}
        ),
        await client.get(
            f"/api/v1/recordings/{rec['id']}/audio", headers=await _token(app, Role.OPS)
        ),
        await client.get(
            f"/api/v1/recordings/{rec['id']}/audio",
            headers=await _token(app, Role.AGENT, agent_id="1001"),
        ),
        await client.get("/api/v1/recordings/..%2F..%2Fetc%2Fpasswd/audio", headers=sup),
        await client.get("/api/v1/recordings/..%2e/audio", headers=sup),
        await client.get("/api/v1/recordings/0/audio", headers=sup),
    ]
    # A path-traversal id matches no route (404) or is not an id (422, naming it).
    assert [r.status_code for r in refused] == [416, 416, 403, 403, 404, 422, 422]
    assert refused[5].json()["error"]["detail"][0]["loc"] == ["path", "recording_id"]
    assert refused[0].json()["error"]["id"] == "recording.bad_range"
    assert await _audit_count(pool) == before + 2

    audit = await client.get(
        f"/api/v1/recordings/audit?recording_id={rec['id']}",
        headers=await _token(app, Role.AUDITOR),
    )
    assert [(a["action"], a["actor_role"]) for a in audit.json()] == [
        ("listen", "supervisor"),
        ("download", "supervisor"),
    ]
    assert audit.json()[0]["detail"] == {"range": "bytes=100-299"}
    assert (await client.get("/api/v1/recordings/audit", headers=sup)).status_code == 403
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE recording_audit SET actor = 'x'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM recording_audit")

    found = await client.get(
        "/api/v1/recordings",
        params={"start": (NOW - timedelta(hours=2)).isoformat(), "agent": "1001"},
        headers=sup,
    )
    assert rec["id"] in [r["id"] for r in found.json()]
    by_number = {"start": (NOW - timedelta(hours=2)).isoformat(), "caller": "13800001234"}
    hidden = await client.get("/api/v1/recordings", params=by_number, headers=sup)
    assert hidden.status_code == 403
    seer = await _token(app, Role.SUPERVISOR, can_see_numbers=True)
    shown = await client.get("/api/v1/recordings", params=by_number, headers=seer)
    assert rec["id"] in [r["id"] for r in shown.json()]
    assert {r["caller_num"] for r in shown.json()} == {"13800001234"}

    # Agents may be allowed to hear their own calls, and only those.
    app.state.settings = app.state.settings.model_copy(update={"recordings_agents_listen": True})
    own = await client.get(
        f"/api/v1/recordings/{rec['id']}/audio",
        headers=await _token(app, Role.AGENT, agent_id="1001"),
    )
    other = await client.get(
        f"/api/v1/recordings/{rec['id']}/audio",
        headers=await _token(app, Role.AGENT, agent_id="1002"),
    )
    assert (own.status_code, other.status_code) == (200, 403)
    assert await _audit_count(pool) == before + 3


async def test_export_bundles_with_a_reason_and_audits_each_recording(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, store: Path, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    callids = [await _spool_call(pool, spool, n) for n in (71, 72)]
    await _collect(pool, store, spool)
    recs = [await _recording(pool, c) for c in callids]
    ids = [r["id"] for r in recs]
    sup = await _token(app, Role.SUPERVISOR)
    before = await _audit_count(pool)
    refused = [
        await client.post("/api/v1/recordings/export", json={"recording_ids": ids}, headers=sup),
        await client.post(
            "/api/v1/recordings/export",
            json={"recording_ids": [*ids, 2**40], "reason": "x"},
            headers=sup,
        ),
        await client.post(
            "/api/v1/recordings/export",
            json={"recording_ids": ids, "reason": "x"},
            headers=await _token(app, Role.OPS),
        ),
    ]
    assert [r.status_code for r in refused] == [422, 422, 403]
    assert await _audit_count(pool) == before
    bundle = await client.post(
        "/api/v1/recordings/export",
        json={"recording_ids": ids, "reason": "12345督办件调阅"},
        headers=sup,
    )
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        for entry, rec in zip(manifest, recs, strict=True):
            data = archive.read(entry["file"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"] == rec["sha256"]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT recording_id, action, detail->>'reason' AS reason FROM recording_audit"
            " WHERE id > (SELECT max(id) - 2 FROM recording_audit) ORDER BY recording_id"
        )
    assert [(r["recording_id"], r["action"], r["reason"]) for r in rows] == [
        (i, "export", "12345督办件调阅") for i in ids
    ]
    assert await _audit_count(pool) == before + 2


async def test_the_player_page_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/recordings")
    script = await client.get("/recordings/player.js")
    assert page.status_code == 200 and "录音调听" in page.text
    assert "media-src blob:" in page.headers["content-security-policy"]
    assert script.status_code == 200 and "/api/v1/recordings/" in script.text


async def test_hold_needs_a_reason_and_expiry_keeps_held_and_permanent(
    app: FastAPI,
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    store: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool = tmp_path / "spool"
    callids = [await _spool_call(pool, spool, n) for n in (11, 12, 13)]
    await _collect(pool, store, spool)
    held, kept, plain = [await _recording(pool, c) for c in callids]
    sup = await _token(app, Role.SUPERVISOR)
    before = await _audit_count(pool)
    no_reason = await client.put(f"/api/v1/recordings/{held['id']}/hold", json={}, headers=sup)
    blank = await client.put(
        f"/api/v1/recordings/{held['id']}/hold", json={"reason": ""}, headers=sup
    )
    assert (no_reason.status_code, blank.status_code) == (422, 422)
    assert not (await _recording(pool, callids[0]))["legal_hold"]
    assert await _audit_count(pool) == before
    ok = await client.put(
        f"/api/v1/recordings/{held['id']}/hold", json={"reason": "信访投诉调查"}, headers=sup
    )
    assert ok.status_code == 200 and ok.json()["legal_hold"] is True
    perm = await client.put(
        f"/api/v1/recordings/{kept['id']}/permanent", json={"reason": "重要录音"}, headers=sup
    )
    assert perm.status_code == 200 and perm.json()["permanent"] is True
    assert await _audit_count(pool) == before + 2

    later = NOW + timedelta(days=4 * 365)
    with caplog.at_level(logging.INFO, logger="recording.retention"):
        deleted = await expire(pool, store, later)
    ours = {d.recording_id for d in deleted} & {held["id"], kept["id"], plain["id"]}
    assert ours == {plain["id"]}
    assert f"recording {plain['id']} deleted" in caplog.text
    assert not (store / plain["location"]).exists()
    assert (store / held["location"]).exists() and (store / kept["location"]).exists()
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT actor, action FROM recording_audit WHERE recording_id = $1", plain["id"]
        )
    assert (row["actor"], row["action"]) == ("system:retention", "delete")
    gone = await client.get(f"/api/v1/recordings/{plain['id']}/audio", headers=sup)
    assert gone.status_code == 410


async def test_scrub_backup_and_restore_drill(
    pool: asyncpg.Pool, store: Path, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    callids = [await _spool_call(pool, spool, n) for n in (21, 22)]
    await _collect(pool, store, spool)
    target = tmp_path / "backup"
    first = await backup(pool, store, target, full=False)
    assert first.copied >= 2 and not first.failed
    again = await backup(pool, store, target, full=False)
    assert (again.copied, again.unchanged) == (0, first.copied)
    new = await _spool_call(pool, spool, 23)
    await _collect(pool, store, spool)
    third = await backup(pool, store, target, full=False)
    assert third.copied == 1
    assert (await backup(pool, store, target, full=True)).copied == first.copied + 1
    assert (await restore_drill(pool, target)).ok

    one, two = [await _recording(pool, c) for c in callids]
    (target / one["location"]).write_bytes(b"not flac")
    drill = await restore_drill(pool, target)
    assert drill.bad_hash == [one["location"]] and not drill.ok

    with (store / one["location"]).open("r+b") as f:  # a flipped byte
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    (store / two["location"]).unlink()
    report = await scrub(pool, store, sample=10_000)
    assert one["id"] in report.mismatched and two["id"] in report.missing
    assert (await _recording(pool, new))["id"] not in report.mismatched + report.missing


async def test_a_dissatisfied_answer_puts_the_call_in_the_qa_sample_and_scoring(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, store: Path, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    unhappy = await _spool_call(pool, spool, 31, agent="1007")
    happy = await _spool_call(pool, spool, 32, agent="1007")
    async with pool.acquire() as conn:
        for callid, answer in ((unhappy, 3), (happy, 1)):
            await conn.execute(
                "INSERT INTO survey_answers VALUES ('lab', $1, 'hotline', 1, '1007', $2, $3)",
                callid,
                answer,
                NOW,
            )
    sup = await _token(app, Role.SUPERVISOR)
    rule = await client.post(
        "/api/v1/recordings/qa/rules", json={"kind": "dissatisfied"}, headers=sup
    )
    assert rule.status_code == 201
    bad_rule = await client.post("/api/v1/recordings/qa/rules", json={"kind": "agent"}, headers=sup)
    assert bad_rule.status_code == 422 and bad_rule.json()["error"]["detail"]["field"] == "agent"
    await _collect(pool, store, spool)  # the collector samples after linking
    sampled = await client.get("/api/v1/recordings/qa/samples", headers=sup)
    unhappy_id = (await _recording(pool, unhappy))["id"]
    happy_id = (await _recording(pool, happy))["id"]
    ids = {s["recording_id"] for s in sampled.json() if s["rule_id"] == rule.json()["id"]}
    assert unhappy_id in ids and happy_id not in ids

    found = await client.get(
        "/api/v1/recordings",
        params={"start": (NOW - timedelta(hours=2)).isoformat(), "survey": "dissatisfied"},
        headers=sup,
    )
    assert [r["id"] for r in found.json()] == [unhappy_id]

    card = await client.post(
        "/api/v1/recordings/qa/scorecards",
        json={
            "name": "标准质检表",
            "pass_mark": 80,
            "items": [
                {"id": "greeting", "label": "开场白", "weight": 30},
                {"id": "answer", "label": "答复准确", "weight": 70, "fatal": True},
            ],
        },
        headers=sup,
    )
    assert card.status_code == 201
    for rec_id, marks, fatal in (
        (unhappy_id, {"greeting": 30, "answer": 70}, ["answer"]),
        (happy_id, {"greeting": 25, "answer": 70}, []),
    ):
        scored = await client.post(
            "/api/v1/recordings/qa/scores",
            json={
                "recording_id": rec_id,
                "scorecard_id": card.json()["id"],
                "marks": marks,
                "fatal_errors": fatal,
            },
            headers=sup,
        )
        assert scored.status_code == 201
    result = await client.get(
        "/api/v1/recordings/qa/agents/1007",
        params={"start": (NOW - timedelta(hours=2)).isoformat()},
        headers=sup,
    )
    assert result.json() == {
        "agent": "1007",
        "scored": 2,
        "average_score": 47.5,
        "errors": 1,
        "error_rate": 0.5,
    }


async def test_kept_files_without_metadata_are_registered_again(
    pool: asyncpg.Pool, store: Path, tmp_path: Path
) -> None:
    """The database lost rows (restored from an older backup): the files tell them."""
    spool = tmp_path / "spool"
    callid = await _spool_call(pool, spool, 41)
    await _collect(pool, store, spool)
    before = await _recording(pool, callid)
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM recordings WHERE id = $1", before["id"])
    assert await register_kept(pool, store) == 1
    assert await register_kept(pool, store) == 0
    await _collect(pool, store, spool)  # links it again
    after = await _recording(pool, callid)
    same = ("file_key", "location", "sha256", "size_bytes", "agent", "line", "seq", "channels")
    assert [after[k] for k in same] == [before[k] for k in same]
    assert after["duration_s"] == pytest.approx(before["duration_s"], abs=0.01)
    assert abs((after["started_at"] - before["started_at"]).total_seconds()) < 0.01


def _cli(url: str, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CALLCTL_DATABASE_URL": url,
        "CALLCTL_RECORDINGS_STORE": str(store),
    }
    return subprocess.run(
        [sys.executable, "-m", "callctl.cli", "recordings", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cli_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "callctl_reccli") as url:
        yield url


async def test_the_recordings_commands(cli_db: str, tmp_path: Path) -> None:
    """``callctl recordings backup|restore-drill|expire|scrub`` on a database and store
    of their own."""
    store, spool, target = tmp_path / "store", tmp_path / "spool", tmp_path / "daily"
    url = cli_db
    own = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=2)
    try:
        for n in (61, 62):
            await _spool_call(own, spool, n)
        await _collect(own, store, spool)
        first = _cli(url, store, "backup", "--to", str(target))
        assert "incremental backup" in first.stdout and ": copied 2 (" in first.stdout
        again = _cli(url, store, "backup", "--to", str(target))
        assert "copied 0 (0 bytes), unchanged 2, failed 0" in again.stdout
        await _spool_call(own, spool, 63)
        await _collect(own, store, spool)
        assert ": copied 1 (" in _cli(url, store, "backup", "--to", str(target)).stdout
        full = _cli(url, store, "backup", "--to", str(target), "--full")
        assert full.stdout.startswith("full backup") and ": copied 3 (" in full.stdout
        drill = _cli(url, store, "restore-drill", "--from", str(target))
        assert drill.returncode == 0 and drill.stdout.rstrip().endswith("OK"), drill.stdout
        victim = next(target.glob("lab/*/*/*/*.flac"))
        victim.write_bytes(victim.read_bytes()[:-10])
        broken = _cli(url, store, "restore-drill", "--from", str(target))
        assert broken.returncode == 1 and "bad hash 1" in broken.stdout
        assert _cli(url, store, "scrub", "--sample", "10").returncode == 0
        later = (NOW + timedelta(days=3 * 366)).isoformat()
        expired = _cli(url, store, "expire", "--now", later)
        assert "3 recordings deleted" in expired.stdout, expired.stderr
        assert not list(store.glob("lab/*/*/*/*.flac"))
    finally:
        await own.close()
