"""Recordings shipped over HTTP (``PUT /api/v1/recordings/ingest/...`` and
``callctl recordings ship``'s code) on real PostgreSQL, real sox and a real uvicorn;
no Asterisk (the lab test is test_recording_ship.py).

Stored once through the collector's conversion (caller on channel 1), linked to its
entry, one ``ingest`` audit row; a replay stores nothing more; a wrong hash, another
file under a stored name, a bad name or node, a wrong role, a body over the upload
limit are refused with nothing kept; other endpoints keep the small body limit; the
shipper over HTTP removes only what callctl confirmed and keeps everything while
callctl is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from audio_helpers import decode_channels, goertzel, interleave, tone
from fastapi import FastAPI

from callctl.app import create_app
from callctl.auth.roles import Role
from callctl.auth.tokens import issue_token
from callctl.auth.users import create_user
from callctl.db import asyncpg_dsn, scratch_database
from callctl.settings import Settings
from recording.shipper import Backoff, HttpUploader, SpoolShipper, Target

pytestmark = pytest.mark.db

NOW = datetime.now(UTC).replace(microsecond=0)
CALLER_HZ, AGENT_HZ = 1000.0, 400.0
UPLOAD_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def ship_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "callctl_ship") as url:
        yield url


@pytest.fixture
async def pool(ship_db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(asyncpg_dsn(ship_db), min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.fixture
async def app(ship_db: str, tmp_path: Path, settings: Settings) -> AsyncIterator[FastAPI]:
    own = settings.model_copy(
        update={"recordings_store": tmp_path / "store", "recordings_max_upload_bytes": UPLOAD_LIMIT}
    )
    application = create_app(own, ingest=False, database_url=ship_db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://callctl.test") as c:
        yield c


async def _token(app: FastAPI, role: Role) -> str:
    user_id = await create_user(app.state.db, f"ship-{os.urandom(4).hex()}", role)
    return await issue_token(app.state.db, user_id, "test")


def _raw(seconds: float = 1.0) -> bytes:
    """As MixMonitor writes it: agent left, caller right."""
    return interleave(tone(AGENT_HZ, seconds), tone(CALLER_HZ, seconds))


async def _entry(pool: asyncpg.Pool, n: int) -> tuple[str, float]:
    """An answered entry; its call id and the end of its recording (epoch)."""
    callid = f"{int(NOW.timestamp()) - 7200}.{n}"
    entered = NOW - timedelta(minutes=90 - n)
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO queue_entries (node, callid, queue, seq, line, entered_at, caller_num,"
            " outcome, ended_wait_at, wait_s, agent, talk_s, source) VALUES ('b', $1,"
            " 'hotline', 1, '12345', $2, '13800001234', 'answered', $3, 5, '1001', 1, 'ami')",
            callid,
            entered,
            entered + timedelta(seconds=5),
        )
    return callid, (entered + timedelta(seconds=6)).timestamp()


def _name(callid: str, n: int) -> str:
    return f"{callid}+hotline+12345+1001+{callid}{n}.done"


def _headers(token: str, body: bytes, mtime: float, sha: str | None = None) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Content-SHA256": sha or hashlib.sha256(body).hexdigest(),
        "X-Recording-Mtime": repr(mtime),
    }


async def _rows(pool: asyncpg.Pool, callid: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(await conn.fetch("SELECT * FROM recordings WHERE callid = $1", callid))


async def _audit(pool: asyncpg.Pool, recording_id: int) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT action, actor, actor_role, detail::text FROM recording_audit"
                " WHERE recording_id = $1",
                recording_id,
            )
        )


async def test_stored_once_converted_linked_audited(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    token = await _token(app, Role.OPS)
    callid, end = await _entry(pool, 1)
    body = _raw()
    url = f"/api/v1/recordings/ingest/b/{_name(callid, 1)}"
    first = await client.put(url, content=body, headers=_headers(token, body, end))
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["stored"] == "new"
    assert answer["raw_sha256"] == hashlib.sha256(body).hexdigest()
    assert answer["raw_bytes"] == len(body)
    [row] = await _rows(pool, callid)
    assert (row["id"], row["source"], row["channels"], row["seq"]) == (answer["id"], "ship", 2, 1)
    assert row["raw_sha256"] == answer["raw_sha256"] and row["sha256"] == answer["sha256"]
    assert row["duration_s"] == pytest.approx(1.0)
    assert row["started_at"].timestamp() == pytest.approx(end - 1.0)
    store: Path = app.state.settings.recordings_root
    kept = store / row["location"]
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == row["sha256"]
    caller, agent = decode_channels(kept)
    assert goertzel(caller, CALLER_HZ) > 100 * goertzel(caller, AGENT_HZ)
    assert goertzel(agent, AGENT_HZ) > 100 * goertzel(agent, CALLER_HZ)
    [audit] = await _audit(pool, row["id"])
    assert audit["action"] == "ingest" and audit["actor_role"] == "ops"
    assert list((store / ".incoming").iterdir()) == []

    again = await client.put(url, content=body, headers=_headers(token, body, end))
    assert again.status_code == 200
    assert again.json() | {"stored": "new"} == answer
    assert again.json()["stored"] == "already"
    assert len(await _rows(pool, callid)) == 1
    assert len(await _audit(pool, row["id"])) == 1

    # The kept file lost (say, a restore gone wrong): the next upload stores it again.
    kept.unlink()
    healed = await client.put(url, content=body, headers=_headers(token, body, end))
    assert healed.status_code == 201 and healed.json()["id"] == row["id"]
    assert kept.is_file() and len(await _rows(pool, callid)) == 1

    other = _raw(1.5)
    conflict = await client.put(url, content=other, headers=_headers(token, other, end))
    assert conflict.status_code == 409
    assert conflict.json()["error"]["id"] == "recording.conflict"
    [same] = await _rows(pool, callid)
    assert same["raw_sha256"] == row["raw_sha256"] and same["sha256"] == row["sha256"]


async def test_refusals_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    ops = await _token(app, Role.OPS)
    callid, end = await _entry(pool, 2)
    body = _raw(0.5)
    good = f"/api/v1/recordings/ingest/b/{_name(callid, 2)}"
    cases = {
        "digest": await client.put(
            good, content=body, headers=_headers(ops, body, end, sha="0" * 64)
        ),
        "bad_sha_header": await client.put(
            good, content=body, headers=_headers(ops, body, end, sha="XYZ")
        ),
        "mtime": await client.put(good, content=body, headers=_headers(ops, body, 12.0)),
        "traversal": await client.put(
            "/api/v1/recordings/ingest/b/..%2F..%2Fetc%2Fpasswd",
            content=body,
            headers=_headers(ops, body, end),
        ),
        "nul": await client.put(
            f"/api/v1/recordings/ingest/b/{_name(callid, 2)}%00",
            content=body,
            headers=_headers(ops, body, end),
        ),
        "dotdot_node": await client.put(
            f"/api/v1/recordings/ingest/..%2e/{_name(callid, 2)}",
            content=body,
            headers=_headers(ops, body, end),
        ),
        "bad_part": await client.put(
            f"/api/v1/recordings/ingest/b/{callid}+Hot+12345+1001+{callid}2.done",
            content=body,
            headers=_headers(ops, body, end),
        ),
        "supervisor": await client.put(
            good, content=body, headers=_headers(await _token(app, Role.SUPERVISOR), body, end)
        ),
        "no_token": await client.put(
            good, content=body, headers=_headers("", body, end) | {"Authorization": ""}
        ),
    }

    async def chunked() -> AsyncIterator[bytes]:
        yield body

    cases["chunked"] = await client.put(good, content=chunked(), headers=_headers(ops, body, end))
    big = b"\0" * (UPLOAD_LIMIT + 4)
    cases["too_large"] = await client.put(good, content=big, headers=_headers(ops, big, end))
    status = {name: r.status_code for name, r in cases.items()}
    assert status == {
        "digest": 400,
        "bad_sha_header": 422,
        "mtime": 422,
        "traversal": 404,  # no such route: the name would span segments
        "nul": 422,
        "dotdot_node": 422,
        "bad_part": 422,
        "supervisor": 403,
        "no_token": 401,
        "chunked": 411,
        "too_large": 413,
    }
    assert cases["digest"].json()["error"]["id"] == "recording.digest_mismatch"
    assert cases["nul"].json()["error"]["id"] == "recording.bad_name"
    assert cases["dotdot_node"].json()["error"]["detail"] == {"field": "node"}
    assert cases["bad_part"].json()["error"]["detail"] == {"field": "file_name"}
    app.state.recording_nodes = frozenset({"a"})
    unknown = await client.put(good, content=body, headers=_headers(ops, body, end))
    assert unknown.status_code == 422 and unknown.json()["error"]["id"] == "recording.unknown_node"
    app.state.recording_nodes = None
    assert await _rows(pool, callid) == []
    store: Path = app.state.settings.recordings_root
    assert not (store / "b").exists()
    assert list((store / ".incoming").glob("*")) == []
    # Only this endpoint takes a large body: the rest keep max_body_bytes.
    settings: Settings = app.state.settings
    other = await client.post(
        "/api/v1/recordings/export",
        content=b"{" + b" " * (settings.max_body_bytes + 10) + b"}",
        headers={"Authorization": f"Bearer {ops}", "Content-Type": "application/json"},
    )
    assert other.status_code == 413


@pytest.fixture
async def served(app: FastAPI) -> AsyncIterator[tuple[uvicorn.Server, str]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield server, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_the_shipper_over_http_removes_only_what_callctl_stored(
    app: FastAPI, pool: asyncpg.Pool, served: tuple[uvicorn.Server, str], tmp_path: Path
) -> None:
    server, url = served
    token = await _token(app, Role.OPS)
    spool = tmp_path / "spool"
    spool.mkdir()
    callids = []
    for n in range(3, 8):
        callid, end = await _entry(pool, n)
        path = spool / _name(callid, n)
        path.write_bytes(_raw(0.5))
        os.utime(path, (end, end))
        callids.append(callid)
    stray = [spool / "1733000000.1.raw", spool / "readme.txt"]
    for path in stray:
        path.write_bytes(b"x")
    uploader = HttpUploader(Target.parse(url), token, timeout_s=30)
    shipper = SpoolShipper("b", spool, uploader)
    try:
        assert await asyncio.to_thread(shipper.ship_once)
        assert sorted(p.name for p in spool.iterdir()) == sorted(p.name for p in stray)
        for callid in callids:
            [row] = await _rows(pool, callid)
            assert row["source"] == "ship" and row["seq"] == 1
        assert shipper.stats.shipped == 5

        # callctl down: the shipper keeps every file and reports a failure.
        server.should_exit = True
        port = int(url.rsplit(":", 1)[1])
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) != 0:
                    break
            await asyncio.sleep(0.05)
        callid, end = await _entry(pool, 9)
        later = spool / _name(callid, 9)
        later.write_bytes(_raw(0.5))
        os.utime(later, (end, end))
        await asyncio.sleep(0.3)
        assert not await asyncio.to_thread(shipper.ship_once)
        assert later.exists() and await _rows(pool, callid) == []
    finally:
        uploader.close()


def test_backoff_run_stops_on_request(tmp_path: Path) -> None:
    """``run`` returns when asked to stop, also while it waits after a failure."""

    class Down:
        def upload(self, *args: object) -> object:
            from recording.shipper import UploadResult

            return UploadResult("transient", "down")

    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / _name("1733000000.1", 1)).write_bytes(b"\0" * 4)
    shipper = SpoolShipper("b", spool, Down())  # type: ignore[arg-type]
    stop = threading.Event()
    runner = threading.Thread(
        target=shipper.run, args=(stop,), kwargs={"poll_s": 0.05, "backoff": Backoff(0.05, 0.2)}
    )
    runner.start()
    threading.Event().wait(0.5)
    stop.set()
    runner.join(2)
    assert not runner.is_alive()
    assert shipper.stats.transient_failures >= 2
    assert (spool / _name("1733000000.1", 1)).exists()


async def test_two_stays_of_one_call_with_one_agent_each_get_their_own_recording(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Same call, queue and agent twice (the caller came back to the queue): each entry
    gets its own recording, also when a recording arrives before its entry is stored."""
    from recording.repository import link_entries

    token = await _token(app, Role.OPS)
    callid = f"{int(NOW.timestamp()) - 5000}.77"
    first_at = NOW - timedelta(minutes=30)
    second_at = first_at + timedelta(minutes=5)

    async def entry(seq: int, answered: datetime) -> None:
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO queue_entries (node, callid, queue, seq, line, entered_at,"
                " outcome, ended_wait_at, wait_s, agent, talk_s, completed_at, source)"
                " VALUES ('b', $1, 'hotline', $2, '12345', $3, 'answered', $4, 5, '1001', 60,"
                " $5, 'ami')",
                callid,
                seq,
                answered - timedelta(seconds=5),
                answered,
                answered + timedelta(seconds=60),
            )

    async def upload(leg: str, answered: datetime) -> int:
        body = _raw(1.0)
        end = (answered + timedelta(seconds=60)).timestamp()
        name = f"{callid}+hotline+12345+1001+{leg}.done"
        r = await client.put(
            f"/api/v1/recordings/ingest/b/{name}", content=body, headers=_headers(token, body, end)
        )
        assert r.status_code == 201, r.text
        recording_id: int = r.json()["id"]
        return recording_id

    async def seq_of(recording_id: int) -> int | None:
        async with pool.acquire() as conn:
            value: int | None = await conn.fetchval(
                "SELECT seq FROM recordings WHERE id = $1", recording_id
            )
        return value

    await entry(1, first_at)
    one = await upload(f"{callid}1", first_at)
    # The second stay's recording arrives before its entry is stored: it must not take
    # the first entry (ended before it began, and linked to another recording already).
    two = await upload(f"{callid}2", second_at)
    assert (await seq_of(one), await seq_of(two)) == (1, None)
    await entry(2, second_at)
    async with pool.acquire() as conn:
        await link_entries(conn)
    assert (await seq_of(one), await seq_of(two)) == (1, 2)


@pytest.fixture
def survey_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "callctl_svk") as url:
        yield url


async def test_dissatisfied_keys_come_from_each_lines_survey(
    survey_db: str, settings: Settings, tmp_path: Path
) -> None:
    """``survey=dissatisfied`` and a dissatisfied QA rule without keys of its own read the
    line's survey: its keys not counted as satisfied (3 where a line has no survey)."""
    from callctl.routing_config import repository as routing_repository
    from callctl.routing_config.schemas import LineDoc, RoutingDoc, SurveyDoc

    doc = RoutingDoc(
        lines=[
            LineDoc(
                number="12345",
                name="a",
                queue="hotline",
                survey=SurveyDoc(keys=[1, 2, 3, 4], satisfied_keys=[1, 2]),
            ),
            LineDoc(
                number="12399",
                name="b",
                queue="hotline",
                survey=SurveyDoc(keys=[1, 2], satisfied_keys=[1]),
            ),
            LineDoc(number="12300", name="c", queue="hotline"),
        ]
    )
    own = settings.model_copy(update={"recordings_store": tmp_path / "store"})
    application = create_app(own, ingest=False, database_url=survey_db)
    async with application.router.lifespan_context(application):
        pool = application.state.db
        async with pool.acquire() as conn:
            version = await routing_repository.add_version(conn, doc, None, "surveys")
            await routing_repository.set_status(conn, version, "applied")
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            token = await _token(application, Role.OPS)
            sup = {"Authorization": f"Bearer {await _token(application, Role.SUPERVISOR)}"}
            expected: set[int] = set()
            answers = {"12345": (4, 2), "12399": (2, 1), "12300": (3, 4)}
            n = 40
            for line, (unhappy, happy) in answers.items():
                for answer in (unhappy, happy):
                    n += 1
                    callid = f"{int(NOW.timestamp()) - 3000}.{n}"
                    answered = NOW - timedelta(minutes=20 - n % 10)
                    async with pool.acquire() as conn:
                        await conn.execute(
                            "INSERT INTO queue_entries (node, callid, queue, seq, line,"
                            " entered_at, outcome, ended_wait_at, wait_s, agent, talk_s,"
                            " source) VALUES ('b', $1, 'hotline', 1, $2, $3, 'answered',"
                            " $3, 0, '1001', 1, 'ami')",
                            callid,
                            line,
                            answered,
                        )
                        await conn.execute(
                            "INSERT INTO survey_answers VALUES"
                            " ('b', $1, 'hotline', 1, '1001', $2, $3)",
                            callid,
                            answer,
                            answered,
                        )
                    body = _raw(0.2)
                    name = f"{callid}+hotline+{line}+1001+{callid}1.done"
                    r = await client.put(
                        f"/api/v1/recordings/ingest/b/{name}",
                        content=body,
                        headers=_headers(token, body, answered.timestamp() + 0.2),
                    )
                    assert r.status_code == 201, r.text
                    if answer == unhappy:
                        expected.add(r.json()["id"])
            found = await client.get(
                "/api/v1/recordings",
                params={
                    "start": (NOW - timedelta(hours=1)).isoformat(),
                    "survey": "dissatisfied",
                },
                headers=sup,
            )
            assert found.status_code == 200, found.text
            assert {r["id"] for r in found.json()} == expected
            rule = await client.post(
                "/api/v1/recordings/qa/rules", json={"kind": "dissatisfied"}, headers=sup
            )
            assert rule.status_code == 201 and rule.json()["dissatisfied_keys"] is None
            fixed = await client.post(
                "/api/v1/recordings/qa/rules",
                json={"kind": "dissatisfied", "dissatisfied_keys": [1]},
                headers=sup,
            )
            sampled = await client.post("/api/v1/recordings/qa/sample", headers=sup)
            assert sampled.status_code == 200, sampled.text
            by_rule: dict[int, set[int]] = {}
            for s in sampled.json():
                by_rule.setdefault(s["rule_id"], set()).add(s["recording_id"])
            assert by_rule[rule.json()["id"]] == expected
            assert len(by_rule[fixed.json()["id"]]) == 1  # line 12399's answer 1


async def test_serve_scrubs_a_daily_sample_and_logs_what_is_wrong(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    from recording.service import daily_scrub

    token = await _token(app, Role.OPS)
    callid, end = await _entry(pool, 60)
    body = _raw(0.3)
    r = await client.put(
        f"/api/v1/recordings/ingest/b/{_name(callid, 60)}",
        content=body,
        headers=_headers(token, body, end),
    )
    assert r.status_code == 201
    store: Path = app.state.settings.recordings_root
    [row] = await _rows(pool, callid)
    kept = store / row["location"]
    original = kept.read_bytes()
    kept.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))  # one byte changed
    caplog.set_level(logging.INFO, logger="recording")
    job = asyncio.create_task(
        daily_scrub(pool, store, sample=100_000, first_after_s=0, every_s=0.05)
    )
    try:
        for _ in range(200):
            if any("scrub:" in m for m in caplog.messages):
                break
            await asyncio.sleep(0.05)
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
    [line] = [m for m in caplog.messages if m.startswith("scrub:")][:1]
    assert "hash mismatch" in line and str(row["id"]) in line.split("mismatch")[1]
    assert any(
        rec.levelno == logging.ERROR and rec.getMessage().startswith("scrub:")
        for rec in caplog.records
    )
    kept.write_bytes(original)  # leave nothing broken behind
