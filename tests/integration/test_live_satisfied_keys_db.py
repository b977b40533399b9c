"""Live 满意率 equals /api/v1/kpis for a line whose survey counts only key 1.

On real PostgreSQL (a database of its own: the live view seeds from all of today's
rows): the routing config in force gives line 12345 ``satisfied_keys`` [1] and
line 12333 the default [1, 2]. Today's facts: 12345 answered with keys 1, 2, 3 and
one hang-up during the survey; 12333 with keys 1 and 2. The live service reads the
lines and the satisfied keys through the same loaders the app wires, is seeded from
the stored rows, and each line's and the total's satisfaction, satisfied count and
answers equal what ``/kpis`` answers for the same window.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import httpx
import pytest

from callctl.app import create_app
from callctl.auth.roles import Role
from callctl.auth.tokens import issue_token
from callctl.auth.users import create_user
from callctl.db import asyncpg_dsn, scratch_database
from callctl.facts.models import HangupSide, QueueEntryFact, SurveyAnswerFact
from callctl.ingest.pipeline import IngestPipeline
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.live.hub import LiveHub
from callctl.live.seed import load_today
from callctl.live.service import LiveService
from callctl.live.state import LiveState
from callctl.routing_config import repository
from callctl.routing_config.schemas import LineDoc, RoutingDoc, SurveyDoc
from callctl.routing_config.service import routing_lines
from callctl.settings import Settings
from kpi.outcome import Outcome

pytestmark = pytest.mark.db

CALLS = {("12345", "hotline"): (1, 2, 3, None), ("12333", "expert"): (1, 2)}
"""Each line's (and queue's) calls today, by survey key; None: hung up during the survey."""


@pytest.fixture
def own_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "callctl_live_sk") as url:
        yield url


def routing_doc() -> RoutingDoc:
    return RoutingDoc(
        lines=[
            LineDoc(
                number="12345", name="hotline", queue="hotline",
                survey=SurveyDoc(satisfied_keys=[1]),
            ),
            LineDoc(number="12333", name="expert", queue="expert", survey=SurveyDoc()),
        ]
    )  # fmt: skip


def todays_facts(now: int) -> list[tuple[object, str]]:
    facts: list[tuple[object, str]] = []
    n = 0
    for (line, queue), keys in CALLS.items():
        for key in keys:
            n += 1
            # Two minutes ago at most: today unless the test starts right after midnight.
            entered = now - 120 + n
            entry = QueueEntryFact(
                node="lab", callid=f"{entered}.{n}", queue=queue, seq=1, entered_at=entered,
                outcome=Outcome.ANSWERED, wait_s=1, ended_wait_at=entered + 1, agent="1001",
                talk_s=5, hangup_side=HangupSide.AGENT, completed_at=entered + 6, line=line,
            )  # fmt: skip
            facts.append((entry, "ami"))
            if key is not None:
                answer = SurveyAnswerFact("lab", entry.callid, queue, 1, key, entered + 9, "1001")
                facts.append((answer, "ami"))
    return facts


def survey_figures(row: dict[str, Any]) -> tuple[Any, int, int]:
    figure = row["figures"]["satisfaction"]
    return figure["value"], figure["numerator"], figure["denominator"]


def live_figures(figures: dict[str, Any]) -> tuple[Any, int, int]:
    return figures["satisfaction"], figures["survey_satisfied"], figures["survey_answers"]


async def test_live_satisfaction_equals_kpis_for_a_line_satisfied_by_key_1_alone(
    own_db: str, settings: Settings
) -> None:
    now = int(time.time())
    app = create_app(settings, ingest=False, database_url=own_db)
    async with app.router.lifespan_context(app):
        pool = app.state.db
        version = await repository.add_version(pool, routing_doc(), None, "surveys (test)")
        await repository.set_status(pool, version, "applied")
        conn = await asyncpg.connect(asyncpg_dsn(own_db))
        try:
            await create_stage_tables(conn)
            await commit_facts(conn, todays_facts(now))
        finally:
            await conn.close()

        # The live service as the app wires it: lines and satisfied keys from the
        # routing config in force, then today's stored facts.
        hub = LiveHub(LiveState(now, timezone=settings.timezone), clock=lambda: now)

        async def no_caps() -> Any:
            return hub.state.params.acw_caps

        service = LiveService(
            hub, cast(IngestPipeline, None), own_db, no_caps,
            lines=routing_lines(pool, settings), lines_every_s=0,
            satisfied_keys=app.state.satisfied_keys, satisfied_every_s=0,
        )  # fmt: skip
        await service.refresh_lines()
        await service.refresh_satisfied_keys()
        assert hub.state.satisfied_keys == {"12345": {1}, "12333": {1, 2}}
        hub.seed(await load_today(own_db, hub.state.today.window))
        today = hub.snapshot()["today"]

        user = await create_user(pool, f"sv-{uuid.uuid4().hex[:8]}", Role.SUPERVISOR)
        headers = {"Authorization": f"Bearer {await issue_token(pool, user, 'test')}"}
        window = hub.state.today.window
        params = {
            "start": datetime.fromtimestamp(window.start, UTC).isoformat(),
            "end": datetime.fromtimestamp(window.end, UTC).isoformat(),
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def kpis(**extra: str) -> dict[str, Any]:
                r = await client.get("/api/v1/kpis", params={**params, **extra}, headers=headers)
                assert r.status_code == 200, r.text
                report: dict[str, Any] = r.json()
                return report

            hotline = await kpis(line="12345")
            expert = await kpis(line="12333")
            total = await kpis()

    assert hotline["params"]["satisfied_keys"] == [1]
    (row,) = hotline["rows"]
    assert survey_figures(row) == (33.33, 1, 3)  # key 1 of 1, 2, 3
    assert live_figures(today["lines"]["12345"]) == survey_figures(row)

    (row,) = expert["rows"]
    assert survey_figures(row) == (100.0, 2, 2)
    assert live_figures(today["lines"]["12333"]) == survey_figures(row)

    # All lines: they score differently, so 1 and 2 (ivr.survey.satisfied_keys_for).
    assert total["params"]["satisfied_keys"] == [1, 2]
    (row,) = total["rows"]
    assert survey_figures(row) == (80.0, 4, 5)
    assert live_figures(today["total"]) == survey_figures(row)
