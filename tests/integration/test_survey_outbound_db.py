"""The outbound survey against a real PostgreSQL: which entry a call's survey rates,
and its answer stored marked outbound (an answer from AMI and one from queue_log of
the same survey merge to one row)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.models import CallFact, QueueEntryFact, SurveyAnswerFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.surveys.outbound import SurveyedEntry, surveyed_entry
from kpi.outcome import Outcome

pytestmark = pytest.mark.db
T0 = 1_795_400_000


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    await create_stage_tables(connection)
    yield connection
    await connection.close()


def entry(node: str, callid: str, seq: int, **kw: Any) -> QueueEntryFact:
    return QueueEntryFact(node, callid, "hotline", seq, T0 + seq, line="12346", **kw)


async def test_surveyed_entry_and_the_outbound_answer(pg: Any) -> None:
    node = f"t-{uuid.uuid4().hex[:8]}"
    done, talking, missed, bare = (f"{T0}.{i}" for i in (1, 2, 3, 4))
    answered = {"outcome": Outcome.ANSWERED, "agent": "1001", "ended_wait_at": T0 + 5}
    facts = [
        (CallFact(node, done, T0, "12346", "13800000061", ended_at=T0 + 60), "ami"),
        (entry(node, done, 1, completed_at=T0 + 60, **answered), "ami"),
        (CallFact(node, talking, T0, "12346", "13800000062"), "ami"),
        (entry(node, talking, 1, **answered), "ami"),
        (CallFact(node, missed, T0, "12346", "13800000063", ended_at=T0 + 9), "ami"),
        (entry(node, missed, 1, outcome=Outcome.ABANDONED, completed_at=T0 + 9), "ami"),
        (CallFact(node, bare, T0, "12346", "13800000064", ended_at=T0 + 9), "ami"),
    ]
    await commit_facts(pg, facts)  # type: ignore[arg-type]
    assert await surveyed_entry(pg, node, done) == (
        True,
        SurveyedEntry("hotline", 1, "1001", "12346", "13800000061"),
    )
    assert await surveyed_entry(pg, node, talking) == (True, None)  # still in talk
    assert await surveyed_entry(pg, node, missed) == (True, None)  # never answered
    assert await surveyed_entry(pg, node, bare) == (True, None)  # no queue entry
    assert await surveyed_entry(pg, node, f"{T0}.99") == (False, None)
    assert await surveyed_entry(pg, "other-node", done) == (False, None)

    answer = SurveyAnswerFact(node, done, "hotline", 1, 3, T0 + 900, "1001", "outbound")
    await commit_facts(pg, [(answer, "ami"), (answer, "queue_log")])
    rows = await pg.fetch("SELECT * FROM survey_answers WHERE node = $1", node)
    assert [(r["callid"], r["answer"], r["agent"], r["channel"]) for r in rows] == [
        (done, 3, "1001", "outbound")
    ]
    assert await surveyed_entry(pg, node, done) == (True, None)  # surveyed once
    with pytest.raises(asyncpg.CheckViolationError):
        await pg.execute(
            "INSERT INTO survey_answers (node, callid, queue, seq, answer, answered_at, channel) "
            "VALUES ($1, 'x', 'q', 1, 1, now(), 'sideways')",
            node,
        )
