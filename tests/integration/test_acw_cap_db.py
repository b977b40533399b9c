"""One home for ``acw_max_s``: the line's cap, from the routing config, in every figure.

The issue's case, on real PostgreSQL: line 12345 at ``acw_max_s`` 6, nine answered
calls, eight ACWs of 6 s and one of 7 s (the watch ended it at 6 s, queue_log's whole
seconds said 7). The average ACW is 6.00 (kpi-definitions.md), not 6.11, in
``query_kpis`` from the facts, from the rollups, and in the live state seeded from
the same rows; a call of line 12333 (cap 300) keeps its 7 s. The caps come from a
routing model through ``agents.acw_timer.acw_caps``, the function behind the loader
of the routing config in force that the ACW watch's limits use too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from agents.acw_timer import acw_caps, acw_limits
from callctl.db import asyncpg_dsn, scratch_database
from callctl.facts.models import AcwEnd, AcwInterval, Fact, HangupSide, QueueEntryFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.lab.sample_model import sample_model
from callctl.live.seed import load_today
from callctl.live.state import LiveState
from kpi.inputs import AcwCaps, KpiParams
from kpi.outcome import Outcome
from kpi.query import GroupBy, KpiQuery, KpiRow, query_kpis
from kpi.rollups import rebase_rollups, refresh_all
from routing.model import PbxModel

pytestmark = pytest.mark.db

T0 = 1_772_344_800  # 2026-03-01 06:00 UTC, 14:00 in Asia/Shanghai: one local day
NODE = "n1"
AGENT = "PJSIP/1001"


@pytest.fixture(scope="module")
def acw_database_url(server_url: str) -> Iterator[str]:
    """A database of its own: dirty marks, rollups and their basis are database-wide."""
    with scratch_database(server_url, "acw_cap_test") as url:
        yield url


@pytest.fixture
async def pg(acw_database_url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(acw_database_url))
    await create_stage_tables(conn)
    await conn.execute(
        "TRUNCATE queue_entries, acw_intervals, agent_sessions, calls, kpi_dirty_intervals, "
        "kpi_queue_rollups, kpi_agent_rollups, kpi_agent_time_rollups, kpi_rollup_basis"
    )
    yield conn
    await conn.close()


def model_with_caps(caps: dict[str, int]) -> PbxModel:
    model = sample_model("secret-0123456789abc")
    lines = tuple(replace(line, acw_max_s=caps.get(line.number, 300)) for line in model.lines)
    return replace(model, lines=lines)


def answered(callid: str, line: str, entered: int, acw_s: int) -> list[Fact]:
    done = entered + 3 + 60
    entry = QueueEntryFact(
        node=NODE, callid=callid, queue=f"q-{line}", seq=1, entered_at=entered,
        outcome=Outcome.ANSWERED, wait_s=3, ended_wait_at=entered + 3, agent=AGENT, talk_s=60,
        hangup_side=HangupSide.CALLER, completed_at=done, line=line,
    )  # fmt: skip
    acw = AcwInterval(NODE, AGENT, done, done + acw_s, AcwEnd.UNPAUSE, callid, f"q-{line}", 1)
    return [entry, acw]


def the_issues_calls() -> list[Fact]:
    """Nine calls of 12345 in the first quarter hour; one of 12333 an hour later."""
    facts: list[Fact] = []
    for i in range(9):
        facts += answered(f"h{i}", "12345", T0 + 90 * i, 7 if i == 4 else 6)
    facts += answered("o1", "12333", T0 + 3600, 7)
    return facts


def by_group(rows: list[KpiRow]) -> dict[str | None, KpiRow]:
    return {row.group: row for row in rows}


async def figures(pg: Any, caps: AcwCaps) -> dict[str, Any]:
    start = datetime.fromtimestamp(T0, UTC)
    params = KpiParams(acw_caps=caps)
    per_line = by_group(
        await query_kpis(pg, KpiQuery(start, start + timedelta(hours=2), group_by=GroupBy.LINE,
                                      params=params))
    )  # fmt: skip
    (agent,) = await query_kpis(
        pg, KpiQuery(start, start + timedelta(hours=2), agent=AGENT, params=params, as_of=start)
    )
    assert agent.agent_time is not None
    return {
        "12345": per_line["12345"].kpis.avg_acw_s,
        "12333": per_line["12333"].kpis.avg_acw_s,
        "agent_acw_s": agent.agent_time.acw_s,
    }


async def test_the_lines_cap_is_the_acw_cap_of_facts_rollups_and_live_state(
    pg: Any, acw_database_url: str
) -> None:
    model = model_with_caps({"12345": 6, "12333": 300})
    caps = acw_caps(model)
    assert acw_limits(model).by_line["12345"] == caps.cap_for("12345") == 6  # one source
    await commit_facts(pg, [(fact, "ami") for fact in the_issues_calls()])
    want = {"12345": 6, "12333": 7, "agent_acw_s": 9 * 6 + 7}

    # Every interval dirty: from the facts.
    assert await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals") > 0
    assert await figures(pg, caps) == want

    # Rolled up with the line caps: from the rollups.
    assert await refresh_all(pg, caps) > 0
    assert await pg.fetchval("SELECT count(*) FROM kpi_dirty_intervals") == 0
    rolled = await pg.fetchval("SELECT sum(sum_acw) FROM kpi_queue_rollups WHERE line = '12345'")
    assert rolled == 9 * 6
    assert await pg.fetchval("SELECT sum(acw_s) FROM kpi_agent_time_rollups") == 9 * 6 + 7
    assert await figures(pg, caps) == want

    # Live: today's state seeded from the same rows, with the caps in force.
    live = LiveState(T0, lines={"q-12345": "12345", "q-12333": "12333"})
    live.set_acw_caps(caps)
    live.seed(await load_today(acw_database_url, live.today.window))
    today = live.today_json()
    assert today["lines"]["12345"]["avg_acw_s"] == 6.0
    assert today["lines"]["12333"]["avg_acw_s"] == 7.0
    assert today["total"]["avg_acw_s"] == 6.1


async def test_a_changed_line_cap_reads_facts_then_rebuilds_only_what_it_changes(
    pg: Any,
) -> None:
    before = acw_caps(model_with_caps({"12345": 6, "12333": 300}))
    await commit_facts(pg, [(fact, "ami") for fact in the_issues_calls()])
    await refresh_all(pg, before)

    # The routing config now gives 12345 a cap of 300: the 7 s ACW counts whole.
    after = acw_caps(model_with_caps({"12345": 300, "12333": 300}))
    want = {"12345": (8 * 6 + 7) / 9, "12333": 7, "agent_acw_s": 9 * 6 + 8}
    got = await figures(pg, after)  # rollups built for other caps: from the facts
    assert got["12345"] == pytest.approx(want["12345"])
    assert (got["12333"], got["agent_acw_s"]) == (7, 9 * 6 + 8)

    async with pg.transaction():
        marked = await rebase_rollups(pg, after)
        dirty = {r[0] for r in await pg.fetch("SELECT interval_start FROM kpi_dirty_intervals")}
    # Only the quarter hour of the one ACW longer than 6 s; not 12333's hour.
    quarter = datetime.fromtimestamp(T0 - T0 % 900, UTC)
    assert marked == 1 and dirty == {quarter}
    assert await refresh_all(pg, after) == 1
    got = await figures(pg, after)
    assert got["12345"] == pytest.approx(want["12345"])
    assert (got["12333"], got["agent_acw_s"]) == (7, 9 * 6 + 8)
