"""GET /api/v1/assessments/{scheme}/{month} over a generated month in a real PostgreSQL.

The month (``assessment_month``) has calls that time out of queue ``q1`` and are
answered in the overflow queue ``q2``: Haikou counts those callers once. Shenyang's
outage exclusion drops a marked day only where that day missed the pass line.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from assessment_month import INSERT_ENTRY, TZ, DayPlan, GeneratedMonth, day_rows, generated
from fastapi import FastAPI

from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from kpi.rollups import refresh_all

pytestmark = pytest.mark.db

MakeToken = Callable[..., Awaitable[str]]
__all__ = ["generated"]  # the fixture, used by name


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rule(body: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in body["rules"] if r["id"] == rule_id)


async def test_haikou_counts_an_overflowed_caller_once(
    api_client: httpx.AsyncClient, make_token: MakeToken, generated: GeneratedMonth
) -> None:
    token = await make_token(Role.SUPERVISOR)
    g = generated
    r = await api_client.get(
        f"/api/v1/assessments/haikou/{g.month}", params={"line": g.line}, headers=_auth(token)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    answer = _rule(body, "answer_rate")
    calls = sum(p.calls for p in g.plans.values())
    answered = sum(p.answered for p in g.plans.values())
    assert (answer["numerator"], answer["denominator"]) == (answered, calls)
    assert body["counting"]["per_call"] is True
    entries = sum(p.entries for p in g.plans.values())
    assert entries > calls  # per queue entry the overflowed callers would count twice
    expected = (Decimal(100 * answered) / calls).quantize(Decimal("0.01"))
    assert Decimal(str(answer["figure"])) == expected
    shortfall = max(Decimal(95) - expected, Decimal(0))
    assert Decimal(str(answer["outcome"])) == -shortfall
    assert "接通率" in answer["words"]
    assert answer["entries"]["numerator"].startswith("/api/v1/kpis/entries?figure=answered")
    # The drill-down counts per call as the figure does: one entry per caller, the
    # overflowed ones by their q2 entry, waited from their q1 entry.
    for part, expected in (("numerator", answered), ("denominator", calls)):
        r = await api_client.get(answer["entries"][part] + "&limit=10000", headers=_auth(token))
        assert r.status_code == 200, r.text
        listed = r.json()["entries"]
        assert len(listed) == expected, part
        assert len({(e["node"], e["callid"]) for e in listed}) == expected
        overflowed = [e for e in listed if e["callid"].startswith("o")]
        assert overflowed and all(e["queue"] == "q2" for e in overflowed)
        assert all(e["call_wait_s"] == 36 for e in overflowed)  # 31 s later, then 5 s

    # The same month per queue entry (/kpis) counts every entry.
    r = await api_client.get(
        "/api/v1/kpis",
        params={"start": body["start"], "end": body["end"], "line": g.line},
        headers=_auth(token),
    )
    figure = r.json()["rows"][0]["figures"]["answer_rate"]
    assert (figure["numerator"], figure["denominator"]) == (answered, entries)

    # Utilisation: all agents' time of the month, as /kpis gives it per agent.
    r = await api_client.get(
        "/api/v1/kpis",
        params={"start": body["start"], "end": body["end"], "group_by": "agent"},
        headers=_auth(token),
    )
    per_agent = [row["figures"]["utilisation"] for row in r.json()["rows"]]
    utilisation = _rule(body, "utilisation")
    assert utilisation["denominator"] == sum(f["denominator"] for f in per_agent) > 0
    assert utilisation["numerator"] == sum(f["numerator"] for f in per_agent) > 0


async def test_per_call_corrections_are_kept_by_the_refresher_until_a_fact_changes(
    api_app: FastAPI,
    api_client: httpx.AsyncClient,
    make_token: MakeToken,
    generated: GeneratedMonth,
    database_url: str,
) -> None:
    g = generated
    token = await make_token(Role.SUPERVISOR)
    url, params = f"/api/v1/assessments/haikou/{g.month}", {"line": g.line}

    async def answer_rate() -> dict[str, Any]:
        r = await api_client.get(url, params=params, headers=_auth(token))
        assert r.status_code == 200, r.text
        return _rule(r.json(), "answer_rate")

    first = await answer_rate()  # every interval dirty: corrections from the facts
    caps = await api_app.state.acw_caps()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await refresh_all(conn, caps)
        # The refresher stored one 'new' entry per overflowed call, day blocks included.
        stored = await conn.fetchval(
            "SELECT sum(answered + abandoned + timed_out) FROM kpi_call_corrections_day "
            "WHERE kind = 'new' AND line = $1",
            g.line,
        )
        assert stored == sum(p.overflow for p in g.plans.values())
        assert await answer_rate() == first  # read from the stored corrections
        # One more caller on day 10 who timed out of q1 and was answered in q2.
        day = min(g.plans).replace(day=10)
        extra = DayPlan(direct=0, overflow=1, abandoned=0)
        rows = [(r[0], "late-" + r[1], *r[2:]) for r in day_rows(g.node, g.line, day, extra)]
        await conn.executemany(INSERT_ENTRY, rows)
        later = await answer_rate()  # that interval dirty: its anchor from the facts
        assert (later["numerator"], later["denominator"]) == (
            first["numerator"] + 1,
            first["denominator"] + 1,
        )
        await refresh_all(conn, caps)
        assert await answer_rate() == later
    finally:
        await conn.close()


async def test_shenyang_drops_an_outage_day_only_where_it_failed(
    api_client: httpx.AsyncClient, make_token: MakeToken, generated: GeneratedMonth
) -> None:
    g = generated
    editor = await make_token(Role.SUPERVISOR)
    year = int(g.month[:4])
    for day in (2, 3):
        r = await api_client.put(
            f"/api/v1/outage-days/day/{year}-03-{day:02d}",
            json={"reason": "停电"},
            headers=_auth(editor),
        )
        assert r.status_code == 201, r.text
    r = await api_client.get(
        f"/api/v1/assessments/shenyang/{g.month}", params={"line": g.line}, headers=_auth(editor)
    )
    assert r.status_code == 200, r.text
    answer = _rule(r.json(), "answer_rate")
    kept = [p for d, p in g.plans.items() if d.day != 2]
    assert answer["denominator"] == sum(p.entries for p in kept)
    assert answer["numerator"] == sum(p.answered for p in kept)
    notes = "\n".join(answer["exclusions"])
    assert f"{year}-03-02" in notes and "不计入考核" in notes
    assert f"{year}-03-03" in notes and "照常计入" in notes
    assert [o["day"] for o in r.json()["outage_days"]] == [f"{year}-03-02", f"{year}-03-03"]

    # Withdrawn: the day counts again, and the history keeps both marks.
    r = await api_client.request(
        "DELETE",
        f"/api/v1/outage-days/day/{year}-03-02",
        json={"reason": "误标"},
        headers=_auth(editor),
    )
    assert r.status_code == 200, r.text
    r = await api_client.get(
        f"/api/v1/assessments/shenyang/{g.month}", params={"line": g.line}, headers=_auth(editor)
    )
    answer = _rule(r.json(), "answer_rate")
    assert answer["denominator"] == sum(p.entries for p in g.plans.values())
    r = await api_client.get(f"/api/v1/outage-days/{g.month}", headers=_auth(editor))
    assert len(r.json()["history"]) == 3 and len(r.json()["active"]) == 1


async def test_inputs_are_kept_with_history_and_used(
    api_client: httpx.AsyncClient, make_token: MakeToken, generated: GeneratedMonth
) -> None:
    g = generated
    editor = await make_token(Role.SUPERVISOR)
    url = f"/api/v1/assessment-inputs/{g.month}"
    r = await api_client.put(url, json={"values": {"qa_error_rate": "2.5"}}, headers=_auth(editor))
    assert r.status_code == 200, r.text
    r = await api_client.put(
        url, json={"values": {"qa_error_rate": "3", "complaints": 0}}, headers=_auth(editor)
    )
    body = r.json()
    assert body["current"] == {"complaints": "0", "qa_error_rate": "3"}
    qa = [h for h in body["history"] if h["key"] == "qa_error_rate"]
    assert [h["value"] for h in qa] == ["2.5", "3"] and qa[0]["entered_by"].startswith("supervisor")
    r = await api_client.get(
        f"/api/v1/assessments/xiaoshan/{g.month}", params={"line": g.line}, headers=_auth(editor)
    )
    qa_rule = _rule(r.json(), "qa_error_rate")
    assert Decimal(str(qa_rule["outcome"])) == Decimal(-300)
    # Xiaoshan's 15-second clock runs from system entry: an overflowed caller answered
    # 5 s after joining q2 had waited 30 s in q1 first (per queue entry, as counted there).
    sl = _rule(r.json(), "service_level")
    assert r.json()["counting"]["sl_clock"] == "system"
    direct = sum(p.direct for p in g.plans.values())
    assert (sl["numerator"], sl["denominator"]) == (
        direct,
        sum(p.entries for p in g.plans.values()),
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/api/v1/assessments/nosuch/2026-03", None, 404, "assessment.unknown_scheme"),
        ("GET", "/api/v1/assessments/haikou/2026-13", None, 422, "request.invalid_month"),
        ("PUT", "/api/v1/assessment-inputs/2026-13", {"values": {"complaints": 1}}, 422, None),
        ("PUT", "/api/v1/assessment-inputs/2026-04", {"values": {"complaints": -1}}, 422, None),
        ("PUT", "/api/v1/assessment-inputs/2026-04", {"values": {"callback_rate": 101}}, 422, None),
        ("PUT", "/api/v1/assessment-inputs/2026-04", {"values": {"nonsense": 1}}, 422, None),
        ("PUT", "/api/v1/outage-days/day/2026-02-30", {"reason": "停电"}, 422, None),
        ("PUT", "/api/v1/outage-days/day/2026-04-01", {"reason": "a\r\nb"}, 422, None),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    api_client: httpx.AsyncClient,
    make_token: MakeToken,
    database_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    error: str | None,
) -> None:
    token = await make_token(Role.ADMIN)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        count = "SELECT (SELECT count(*) FROM assessment_inputs WHERE month = '2026-04') + " \
            "(SELECT count(*) FROM outage_days WHERE day = '2026-04-01')"  # fmt: skip
        before = await conn.fetchval(count)
        r = await api_client.request(method, path, json=body, headers=_auth(token))
        assert r.status_code == status, r.text
        assert r.json()["error"]["message"]
        if error is not None:
            assert r.json()["error"]["id"] == error
        assert await conn.fetchval(count) == before
    finally:
        await conn.close()


async def test_schemes_are_versioned_by_month(
    api_client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    admin = await make_token(Role.ADMIN)
    name = f"t{uuid.uuid4().hex[:8]}"
    r = await api_client.get("/api/v1/assessment-schemes/haikou/2026-03", headers=_auth(admin))
    scheme = r.json()["scheme"]
    assert r.json()["preset"] is True
    for valid_from, target in (("2026-01", "90"), ("2026-06", "92")):
        scheme["valid_from"] = valid_from
        scheme["rules"][0]["target"] = target
        r = await api_client.put(
            f"/api/v1/assessment-schemes/{name}", json=scheme, headers=_auth(admin)
        )
        assert r.status_code == 201, r.text
    for month, target in (("2026-03", "90"), ("2026-06", "92"), ("2027-01", "92")):
        r = await api_client.get(f"/api/v1/assessment-schemes/{name}/{month}", headers=_auth(admin))
        assert r.json()["scheme"]["rules"][0]["target"] == target
    r = await api_client.get(f"/api/v1/assessment-schemes/{name}/2025-12", headers=_auth(admin))
    assert r.status_code == 404
    scheme["rules"][0]["step"] = "-1"
    r = await api_client.put(
        f"/api/v1/assessment-schemes/{name}", json=scheme, headers=_auth(admin)
    )
    assert r.status_code == 422 and r.json()["error"]["id"] == "assessment.invalid_scheme"


async def test_shenyang_counts_a_surge_days_first_entries_only_where_it_failed(
    api_client: httpx.AsyncClient,
    make_token: MakeToken,
    generated: GeneratedMonth,
    database_url: str,
) -> None:
    g = generated
    day = min(g.plans).replace(day=5)
    last_year = day.replace(year=day.year - 1)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:  # 50 entries on the same day last year: this year's 106 exceed 1.2 × 50 = 60
        plan = DayPlan(direct=50, overflow=0, abandoned=0)
        rows = [(r[0], "ly-" + r[1], *r[2:]) for r in day_rows(g.node, g.line, last_year, plan)]
        await conn.executemany(INSERT_ENTRY, rows)
    finally:
        await conn.close()
    token = await make_token(Role.SUPERVISOR)
    r = await api_client.get(
        f"/api/v1/assessments/shenyang/{g.month}", params={"line": g.line}, headers=_auth(token)
    )
    assert r.status_code == 200, r.text
    answer = _rule(r.json(), "answer_rate")
    plan = g.plans[day]
    # The day missed 97%: only its first 60 entries count (all answered directly).
    entries = sum(p.entries for p in g.plans.values())
    answered = sum(p.answered for p in g.plans.values())
    assert answer["denominator"] == entries - plan.entries + 60
    assert answer["numerator"] == answered - plan.answered + 60
    assert any("只计前 60 个进线" in n for n in answer["exclusions"])


async def test_a_call_overflowing_past_the_months_end_counts_once_in_its_month(
    api_client: httpx.AsyncClient,
    make_token: MakeToken,
    generated: GeneratedMonth,
    database_url: str,
) -> None:
    g = generated
    token = await make_token(Role.SUPERVISOR)
    url, params = f"/api/v1/assessments/haikou/{g.month}", {"line": g.line}
    before = _rule(
        (await api_client.get(url, params=params, headers=_auth(token))).json(), "answer_rate"
    )
    last = max(g.plans)
    first = datetime(last.year, last.month, last.day, 23, 59, 40, tzinfo=TZ).astimezone(UTC)
    second = first + timedelta(seconds=31)  # 00:00:11 on the next month's first day
    rows = [
        (g.node, "edge-1", "q1", g.line, first, "timeout", 30, None, None),
        (g.node, "edge-1", "q2", g.line, second, "answered", 5, "1002", 60),
    ]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.executemany(INSERT_ENTRY, rows)
    finally:
        await conn.close()
    r = await api_client.get(url, params=params, headers=_auth(token))
    assert r.status_code == 200, r.text
    after = _rule(r.json(), "answer_rate")
    assert (after["numerator"], after["denominator"]) == (
        before["numerator"] + 1,
        before["denominator"] + 1,
    )


async def test_sichuan_annual_tail_payment_is_the_mean_of_the_months(
    api_client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    editor = await make_token(Role.SUPERVISOR)
    year = random.randrange(2001, 2020)  # a year that is over, with no calls of other tests
    # Items judged by hand: 100 - 20, 100 - 25, 100 - 30 points in Jan-Mar.
    for month, deducted in ((1, 20), (2, 25), (3, 30)):
        r = await api_client.put(
            f"/api/v1/assessment-inputs/{year}-{month:02d}",
            json={"values": {"other_deductions": deducted}},
            headers=_auth(editor),
        )
        assert r.status_code == 200, r.text
    url = f"/api/v1/assessments/sichuan/annual/{year}"
    r = await api_client.get(url, params={"through": f"{year}-03"}, headers=_auth(editor))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(m["month"], Decimal(str(m["score"]))) for m in body["months"]] == [
        (f"{year}-01", 80), (f"{year}-02", 75), (f"{year}-03", 70),
    ]  # fmt: skip
    assert body["months"][0]["link"] == f"/api/v1/assessments/sichuan/{year}-01"
    # (80 + 75 + 70) / 3 = 75: 10 × 1% + 5 × 3% = 25% of the tail lost.
    assert Decimal(str(body["annual_score"])) == 75
    assert Decimal(str(body["tail_loss_pct"])) == 25
    assert Decimal(str(body["tail_paid_pct"])) == 75
    assert "90–80 分段 10 分 × 1% = 10%" in body["words"]
    assert "80–70 分段 5 分 × 3% = 15%" in body["words"]
    # The whole year: April-December score 100 each; (225 + 900) / 12 = 93.75, nothing lost.
    r = await api_client.get(url, headers=_auth(editor))
    body = r.json()
    assert len(body["months"]) == 12
    assert Decimal(str(body["annual_score"])) == Decimal("93.75")
    assert Decimal(str(body["tail_loss_pct"])) == 0
    # Bad input: a month of another year, no month, no score to average, no scheme.
    for path, params, status, error in (
        (url, {"through": f"{year + 1}-01"}, 422, "request.invalid_month"),
        (url, {"through": f"{year}-13"}, 422, "request.invalid_month"),
        (f"/api/v1/assessments/xiaoshan/annual/{year}", {}, 422, "assessment.no_score"),
        (f"/api/v1/assessments/nosuch/annual/{year}", {}, 404, "assessment.unknown_scheme"),
        ("/api/v1/assessments/sichuan/annual/1999", {}, 422, None),
    ):
        r = await api_client.get(path, params=params, headers=_auth(editor))
        assert r.status_code == status, (path, params, r.text)
        if error is not None:
            assert r.json()["error"]["id"] == error, r.text
