"""query_kpis over real PostgreSQL equals the pure arithmetic over the same facts.

Random facts (entries in every state, ACW tied or not, open or closed, lines
from the entry or its call, lines with different ``acw_max_s``, sessions, survey
answers, some arriving after their entry's interval was rolled up) are
written through the real writer
path (``commit_facts``, so the dirty-marking triggers run), then every
grouping, filter and scheme is compared with ``compute_kpis`` over
``callctl.facts.to_kpi`` records: first with every interval dirty (facts only),
after a refresh (rollups), after further writes (a mix), with unaligned windows,
and after the routing config changes a line's cap (facts, then rebased rollups).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from callctl.db import asyncpg_dsn, scratch_database
from callctl.facts.models import (
    AcwEnd,
    AcwInterval,
    AgentSession,
    HangupSide,
    QueueEntryFact,
    SurveyAnswerFact,
)
from callctl.facts.to_kpi import entry_record
from callctl.ingest.upserts import commit_facts, create_stage_tables
from kpi.agent_time import AgentTimeCounters, agent_utilisation
from kpi.counters import counters_from_entries
from kpi.definitions import kpis_from_counters
from kpi.inputs import AcwCaps, EntryRecord, KpiParams
from kpi.outcome import Outcome
from kpi.query import GroupBy, KpiQuery, query_kpis
from kpi.rollups import refresh_all, refresh_dirty

pytestmark = pytest.mark.db

T0 = 1_772_323_200  # 2026-03-01 00:00 UTC
AS_OF = datetime.fromtimestamp(T0 + 9 * 3600, UTC)
NODES = ("n1", "n2")
QUEUES = ("q1", "q2", "q3")
AGENTS = ("a1", "a2", "a3", "a4")
LINES = ("12345", "12333", "12320")
# The routing config's caps: 12320 is no line of it (its calls get the default), and
# 40 % of the calls have no line at all.
CAPS = AcwCaps.of({"12345": 6, "12333": 45}, 120)
OTHER_CAPS = AcwCaps.of({"12345": 300, "12333": 45, "12320": 10}, 90)


@pytest.fixture(scope="module")
def kpi_database_url(server_url: str) -> Iterator[str]:
    """A database of its own: dirty marks and rollups are database-wide."""
    with scratch_database(server_url, "kpi_query_test") as url:
        yield url


@pytest.fixture
async def pg(kpi_database_url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(kpi_database_url))
    await create_stage_tables(conn)
    await conn.execute(
        "TRUNCATE queue_entries, acw_intervals, agent_sessions, calls, survey_answers, "
        "kpi_dirty_intervals, kpi_queue_rollups, kpi_agent_rollups, kpi_agent_time_rollups"
    )
    yield conn
    await conn.close()


@dataclass
class World:
    """The facts as the database holds them after merging (latest snapshot wins)."""

    entries: dict[tuple[str, str, str, int], QueueEntryFact] = field(default_factory=dict)
    acws: dict[tuple[str, str, int], AcwInterval] = field(default_factory=dict)
    sessions: dict[tuple[str, str, str, int], AgentSession] = field(default_factory=dict)
    lines: dict[tuple[str, str, str, int], str] = field(default_factory=dict)
    surveys: dict[tuple[str, str, str, int], SurveyAnswerFact] = field(default_factory=dict)


def random_entry(rng: random.Random, i: int) -> QueueEntryFact:
    entered = T0 + rng.randrange(0, 6 * 3600)
    base = QueueEntryFact(
        node=rng.choice(NODES), callid=f"c{i}", queue=rng.choice(QUEUES),
        seq=rng.choice((1, 1, 1, 2)), entered_at=entered, caller_num=f"1380000{i:04d}",
    )  # fmt: skip
    roll = rng.random()
    if roll < 0.08:
        return base  # still waiting
    wait = rng.choice((0, 1, 4, 5, 14, 15, 16, 20, 30, 59, 60, 61, 62, 90, rng.randrange(200)))
    if roll < 0.35:
        outcome = rng.choice(
            (Outcome.ABANDONED, Outcome.ABANDONED, Outcome.TIMEOUT, Outcome.EMPTY, Outcome.KEY,
             Outcome.TRANSFER)
        )  # fmt: skip
        return replace(base, outcome=outcome, wait_s=wait, ended_wait_at=entered + wait)
    answered = replace(
        base, outcome=Outcome.ANSWERED, wait_s=wait, ended_wait_at=entered + wait,
        agent=rng.choice(AGENTS), ring_attempts=1,
    )  # fmt: skip
    if rng.random() < 0.15:
        return answered  # talking
    talk = rng.randrange(0, 1500)
    return replace(
        answered, talk_s=talk, hangup_side=HangupSide.CALLER, completed_at=entered + wait + talk
    )


def random_acws(rng: random.Random, entry: QueueEntryFact) -> list[AcwInterval]:
    if entry.completed_at is None or entry.agent is None or rng.random() < 0.3:
        return []
    acws = []
    start = entry.completed_at
    for _ in range(1 if rng.random() < 0.9 else 2):
        ended = None if rng.random() < 0.1 else start + rng.randrange(0, 600)
        acws.append(
            AcwInterval(
                node=entry.node,
                agent=entry.agent,
                started_at=start,
                ended_at=ended,
                ended_by=None if ended is None else AcwEnd.UNPAUSE,
                callid=entry.callid,
                queue=entry.queue,
                seq=entry.seq,
            )
        )
        start += 1
    return acws


def random_survey(rng: random.Random, entry: QueueEntryFact) -> SurveyAnswerFact | None:
    """Half the completed answered entries are rated: mostly keys 1-3, now and then
    another digit (a line's own scale)."""
    if entry.completed_at is None or entry.outcome is not Outcome.ANSWERED or rng.random() < 0.5:
        return None
    answer = rng.choice((1, 1, 1, 2, 2, 3, 3, 0, 5, 9))
    return SurveyAnswerFact(
        entry.node, entry.callid, entry.queue, entry.seq, answer,
        entry.completed_at + rng.randrange(3, 30), entry.agent,
    )  # fmt: skip


def random_world(rng: random.Random, n: int) -> World:
    world = World()
    for i in range(n):
        entry = random_entry(rng, i)
        world.entries[entry.key] = entry
        for acw in random_acws(rng, entry):
            world.acws[acw.key] = acw
        if (survey := random_survey(rng, entry)) is not None:
            world.surveys[survey.key] = survey
        if rng.random() < 0.6:
            world.lines[entry.key] = rng.choice(LINES)
    for _ in range(10):  # ACW with no entry tied
        start = T0 + rng.randrange(0, 6 * 3600)
        acw = AcwInterval(rng.choice(NODES), rng.choice(AGENTS), start, start + rng.randrange(900))
        world.acws[acw.key] = acw
    for agent in AGENTS:
        for queue in QUEUES[:2]:
            node = rng.choice(NODES)
            start = T0 + rng.randrange(0, 3 * 3600)
            ended = None if rng.random() < 0.3 else start + rng.randrange(600, 5 * 3600)
            session = AgentSession(node, agent, queue, start, ended)
            world.sessions[session.key] = session
    return world


async def write(pg: Any, world: World, facts: list[Any]) -> None:
    await commit_facts(pg, [(fact, "ami") for fact in facts])
    # The line of a call: half through the entry, half through ``calls``.
    for key, line in world.lines.items():
        node, callid, _, _ = key
        if hash(callid) % 2:
            await pg.execute(
                "UPDATE queue_entries SET line = $1 WHERE node = $2 AND callid = $3 "
                "AND line IS DISTINCT FROM $1",
                line,
                node,
                callid,
            )
        else:
            await pg.execute(
                "INSERT INTO calls (node, linkedid, line, started_at, source) "
                "VALUES ($1, $2, $3, now(), 'ami') "
                "ON CONFLICT (node, linkedid) DO UPDATE SET line = EXCLUDED.line "
                "WHERE calls.line IS DISTINCT FROM EXCLUDED.line",
                node,
                callid,
                line,
            )


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _line_of(world: World, entry: QueueEntryFact) -> str | None:
    # Lines are per call: every entry of the callid shares it.
    for key, line in world.lines.items():
        if key[0] == entry.node and key[1] == entry.callid:
            return line
    return None


def _group(world: World, q: KpiQuery, entry: QueueEntryFact) -> str | None:
    match q.group_by:
        case GroupBy.NONE:
            return None
        case GroupBy.LINE:
            return _line_of(world, entry)
        case GroupBy.QUEUE:
            return entry.queue
        case GroupBy.AGENT:
            return entry.agent
        case GroupBy.INTERVAL:
            return _iso(entry.entered_at - entry.entered_at % 900)
        case GroupBy.DAY | GroupBy.WEEK | GroupBy.MONTH | GroupBy.YEAR:
            local = datetime.fromtimestamp(entry.entered_at, UTC).astimezone(ZoneInfo(q.tz))
            day = local.replace(hour=0, minute=0, second=0)
            if q.group_by is GroupBy.WEEK:
                day -= timedelta(days=day.weekday())  # weeks start on Monday
            elif q.group_by is GroupBy.MONTH:
                day = day.replace(day=1)
            elif q.group_by is GroupBy.YEAR:
                day = day.replace(month=1, day=1)
            return day.astimezone(UTC).isoformat()


def _selected(world: World, q: KpiQuery, entry: QueueEntryFact) -> bool:
    start, end = q.start.timestamp(), q.end.timestamp()
    return (
        start <= entry.entered_at < end
        and (q.node is None or entry.node == q.node)
        and (q.line is None or _line_of(world, entry) == q.line)
        and (q.queue is None or entry.queue == q.queue)
        and (q.agent is None or entry.agent == q.agent)
        and (not q.per_agent or entry.agent is not None)
    )


def _overlap(a: float, b: float, start: float, end: float) -> int:
    return int(max(0.0, min(b, end) - max(a, start)))


def expected_time(world: World, q: KpiQuery, agent: str) -> AgentTimeCounters:
    start, end, now = q.start.timestamp(), q.end.timestamp(), AS_OF.timestamp()
    caps = q.params.acw_caps

    def mine(node: str, who: str | None) -> bool:
        return who == agent and (q.node is None or node == q.node)

    talking = 0
    for e in world.entries.values():
        if not mine(e.node, e.agent) or e.outcome is not Outcome.ANSWERED:
            continue
        assert e.ended_wait_at is not None
        if e.talk_s is not None:
            talking += _overlap(e.ended_wait_at, e.ended_wait_at + e.talk_s, start, end)
        elif e.completed_at is None:
            talking += _overlap(e.ended_wait_at, now, start, end)
    acw = 0
    for a in world.acws.values():
        if mine(a.node, a.agent):
            # Capped by the line of the call whose entry it is tied to.
            tied = None if a.entry_key is None else world.entries.get(a.entry_key)
            cap = caps.cap_for(None if tied is None else _line_of(world, tied))
            stop = min(now if a.ended_at is None else a.ended_at, a.started_at + cap)
            acw += _overlap(a.started_at, stop, start, end)
    spans = sorted(
        (max(s.started_at, start), min(now if s.ended_at is None else s.ended_at, end))
        for s in world.sessions.values()
        if mine(s.node, s.agent)
    )
    logged_in, reach = 0, start
    for lo, hi in spans:
        lo = max(lo, reach)
        if hi > lo:
            logged_in += int(hi - lo)
            reach = hi
    return AgentTimeCounters(logged_in_s=logged_in, talking_s=talking, acw_s=acw)


def expected_rows(world: World, q: KpiQuery) -> dict[str | None, Any]:
    acws: dict[tuple[str, str, str, int], AcwInterval] = {}
    for acw in sorted(world.acws.values(), key=lambda a: a.started_at):
        if acw.entry_key is not None:
            acws[acw.entry_key] = acw
    records: dict[str | None, list[EntryRecord]] = {}
    for entry in world.entries.values():
        if not _selected(world, q, entry):
            continue
        survey = world.surveys.get(entry.key)
        record = entry_record(entry, acws.get(entry.key), None if survey is None else survey.answer)
        if record is not None:
            record = replace(record, line=_line_of(world, entry))
            records.setdefault(_group(world, q, entry), []).append(record)
    if q.group_by is GroupBy.NONE:
        records.setdefault(None, [])
    if q.has_utilisation and q.group_by is GroupBy.AGENT:
        for agent in AGENTS:
            if expected_time(world, q, agent) != AgentTimeCounters():
                records.setdefault(agent, [])
    expected = {}
    for key, recs in records.items():
        counters = counters_from_entries(recs, q.params)
        time = None
        if q.has_utilisation:
            agent = key if q.group_by is GroupBy.AGENT else q.agent
            assert agent is not None
            time = expected_time(world, q, agent)
        expected[key] = (counters, kpis_from_counters(counters, q.params), time)
    return expected


def queries(rng: random.Random, caps: AcwCaps) -> Iterator[KpiQuery]:
    """Queries with the caps in force ``caps`` (and some with other caps)."""
    other = OTHER_CAPS if caps == CAPS else CAPS
    day = datetime.fromtimestamp(T0, UTC)
    windows = [
        (day, day + timedelta(hours=8)),
        (day + timedelta(minutes=7, seconds=13), day + timedelta(hours=5, minutes=52, seconds=1)),
        (day - timedelta(days=1), day + timedelta(days=1)),
        (day + timedelta(hours=2), day + timedelta(hours=2, minutes=15)),
        (day + timedelta(hours=2, minutes=3), day + timedelta(hours=2, minutes=4)),
    ]
    schemes = [
        KpiParams(acw_caps=caps),
        KpiParams(service_level_s=20, short_abandon_s=5, acw_caps=caps),
        KpiParams(acw_caps=caps, satisfied_keys=frozenset({1})),
        KpiParams(acw_caps=other),  # other caps than the rollups': facts only
    ]
    for start, end in windows:
        for group_by in GroupBy:
            yield KpiQuery(start, end, group_by=group_by, params=rng.choice(schemes), as_of=AS_OF)
        params = KpiParams(acw_caps=caps)
        yield KpiQuery(start, end, node="n1", queue="q2", as_of=AS_OF, params=params)
        yield KpiQuery(start, end, line="12345", group_by=GroupBy.QUEUE, as_of=AS_OF, params=params)
        yield KpiQuery(start, end, agent="a2", as_of=AS_OF, params=rng.choice(schemes))
        yield KpiQuery(
            start, end, agent="a3", node="n2", group_by=GroupBy.INTERVAL, as_of=AS_OF, params=params
        )
        yield KpiQuery(start, end, group_by=GroupBy.AGENT, node="n1", as_of=AS_OF, params=params)
        yield KpiQuery(start, end, group_by=GroupBy.AGENT, queue="q1", as_of=AS_OF, params=params)


async def check_all(pg: Any, world: World, rng: random.Random, caps: AcwCaps = CAPS) -> int:
    checked = 0
    for q in queries(rng, caps):
        got = {row.group: row for row in await query_kpis(pg, q)}
        want = expected_rows(world, q)
        assert set(got) == set(want), q
        for key, (counters, kpis, time) in want.items():
            row = got[key]
            assert row.counters == counters, (q, key)
            assert row.kpis == kpis, (q, key)
            assert row.agent_time == time, (q, key)
            assert row.utilisation == (None if time is None else agent_utilisation(time))
        checked += 1
    return checked


def advance(rng: random.Random, world: World) -> list[Any]:
    """Later snapshots: waiting callers get an outcome, talks end, ACWs close, new calls,
    and survey answers for entries already rolled up."""
    facts: list[Any] = []
    for key, entry in list(world.entries.items()):
        if rng.random() < 0.5:
            continue
        if entry.outcome is None:
            wait = rng.randrange(40)
            entry = replace(entry, outcome=Outcome.ABANDONED, wait_s=wait)
        elif entry.outcome is Outcome.ANSWERED and entry.completed_at is None:
            assert entry.ended_wait_at is not None
            talk = rng.randrange(900)
            entry = replace(entry, talk_s=talk, completed_at=entry.ended_wait_at + talk)
        else:
            # An entry unchanged, rated only now: the answer alone must dirty its interval.
            if key not in world.surveys and (survey := random_survey(rng, entry)) is not None:
                world.surveys[survey.key] = survey
                facts.append(survey)
            continue
        world.entries[key] = entry
        facts.append(entry)
        if (survey := random_survey(rng, entry)) is not None:
            world.surveys[survey.key] = survey
            facts.append(survey)
    for key, acw in list(world.acws.items()):
        if acw.ended_at is None and rng.random() < 0.5:
            world.acws[key] = replace(acw, ended_at=acw.started_at + rng.randrange(400))
            facts.append(world.acws[key])
    for i in range(10_000, 10_040):
        entry = random_entry(rng, i)
        world.entries[entry.key] = entry
        facts.append(entry)
    return facts


@pytest.mark.parametrize("seed", [1, 2])
async def test_query_kpis_equals_pure_arithmetic_dirty_clean_and_mixed(pg: Any, seed: int) -> None:
    rng = random.Random(seed)
    world = random_world(rng, 400)
    await write(pg, world, [*world.entries.values(), *world.acws.values(),
                            *world.sessions.values(), *world.surveys.values()])  # fmt: skip
    assert world.surveys

    # Every interval dirty: the answer comes from the facts alone.
    assert await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals") > 0
    assert await check_all(pg, world, rng) > 0

    # Refreshed: whole clean intervals come from the rollups.
    assert await refresh_all(pg, CAPS, batch=7) > 0
    assert await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals") == 0
    assert await pg.fetchval("SELECT count(*) FROM kpi_queue_rollups") > 0
    assert await pg.fetchval("SELECT count(*) FROM kpi_agent_time_rollups") > 0
    await check_all(pg, world, rng)

    # Later snapshots of some facts: their intervals turn dirty again; a mix.
    await write(pg, world, advance(rng, world))
    dirty = await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals")
    assert dirty > 0
    await check_all(pg, world, rng)

    # A partial refresh, then a complete one.
    await refresh_dirty(pg, CAPS, limit=3)
    await check_all(pg, world, rng)
    await refresh_all(pg, CAPS)
    await check_all(pg, world, rng)

    # The routing config changes the caps: facts only until the refresher rebases the
    # rollups on the new caps, then rollups again, and every answer is right throughout.
    await check_all(pg, world, rng, OTHER_CAPS)
    assert await refresh_all(pg, OTHER_CAPS) > 0
    assert await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals") == 0
    await check_all(pg, world, rng, OTHER_CAPS)


async def test_write_during_refresh_keeps_its_interval_dirty(
    pg: Any, kpi_database_url: str
) -> None:
    """A fact committed while the refresher works keeps its interval dirty."""
    entry = QueueEntryFact(
        node="n1", callid="x1", queue="q1", seq=1, entered_at=T0, outcome=Outcome.ABANDONED,
        wait_s=3, ended_wait_at=T0 + 3,
    )  # fmt: skip
    await commit_facts(pg, [(entry, "ami")])
    writer = await asyncpg.connect(asyncpg_dsn(kpi_database_url))
    try:
        await create_stage_tables(writer)
        tx = writer.transaction()
        await tx.start()
        later = replace(entry, callid="x2")
        await commit_facts(writer, [(later, "ami")])  # same interval, not yet committed
        refresh = asyncio.create_task(refresh_dirty(pg, CAPS))
        await asyncio.sleep(0.5)  # the refresher has read the old mark and waits on its row
        await tx.commit()
        assert await refresh == 1
    finally:
        await writer.close()
    assert await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals") == 1
    q = KpiQuery(datetime.fromtimestamp(T0, UTC), AS_OF, as_of=AS_OF)
    (row,) = await query_kpis(pg, q)
    assert row.kpis.abandoned == 2
    await refresh_all(pg, CAPS)
    (row,) = await query_kpis(pg, q)
    assert row.kpis.abandoned == 2
    assert await pg.fetchval("SELECT sum(abandoned) FROM kpi_queue_rollups") == 2


async def test_service_refresher_rolls_up_new_facts(pg: Any, kpi_database_url: str) -> None:
    from callctl.ingest.rollup_refresher import RollupRefresher

    entry = QueueEntryFact(
        node="n1", callid="r1", queue="q1", seq=1, entered_at=T0, outcome=Outcome.TIMEOUT,
        wait_s=60, ended_wait_at=T0 + 60,
    )  # fmt: skip
    await commit_facts(pg, [(entry, "ami")])

    async def caps_in_force() -> AcwCaps:
        return CAPS

    refresher = RollupRefresher(kpi_database_url, caps_in_force, interval_s=0.05)
    await refresher.start()
    try:
        for _ in range(200):
            if not await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals"):
                break
            await asyncio.sleep(0.05)
    finally:
        await refresher.close()
    assert refresher.stats.intervals_refreshed >= 1
    assert await pg.fetchval("SELECT sum(timed_out) FROM kpi_queue_rollups") == 1


async def test_an_interval_still_being_marked_waits_for_quiet_before_its_rebuild(
    pg: Any,
) -> None:
    entry = QueueEntryFact(
        node="n1", callid="w1", queue="q1", seq=1, entered_at=T0, outcome=Outcome.TIMEOUT,
        wait_s=60, ended_wait_at=T0 + 60,
    )  # fmt: skip
    await commit_facts(pg, [(entry, "ami")])
    q = KpiQuery(datetime.fromtimestamp(T0, UTC), AS_OF, as_of=AS_OF)
    # Marked a moment ago: not rebuilt yet, and the answer comes from the facts.
    assert await refresh_dirty(pg, CAPS, quiet_s=30) == 0
    assert await pg.fetchval("SELECT count(*) FROM kpi_queue_rollups") == 0
    (row,) = await query_kpis(pg, q)
    assert row.kpis.offered == 1
    # Quiet for longer than that: rebuilt, and the same answer from the rollups.
    await pg.execute("UPDATE kpi_dirty_intervals SET marked_at = now() - interval '31 s'")
    assert await refresh_dirty(pg, CAPS, quiet_s=30) == 1
    assert await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals") == 0
    assert await pg.fetchval("SELECT sum(timed_out) FROM kpi_queue_rollups") == 1
    (row,) = await query_kpis(pg, q)
    assert row.kpis.offered == 1
