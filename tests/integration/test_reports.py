"""Reports: the XLSX equals /kpis cell for cell, the HTML renders in Chromium, the
schedule writes the due reports into the folder and REST lists them."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from assessment_month import GeneratedMonth, generated
from chromium_cdp import chromium_page
from fastapi import FastAPI
from openpyxl import load_workbook

from callctl.auth.roles import Role
from callctl.reports.model import COUNT_COLUMNS
from callctl.reports.service import ScheduleSettings, generate_due
from kpi.figures import FIGURE_LABELS

pytestmark = pytest.mark.db

MakeToken = Callable[..., Awaitable[str]]
__all__ = ["generated"]  # the fixture, used by name

MONTHLY_SHEETS = {
    "按日": "day",
    "按周": "week",
    "总览": "none",
    "按队列": "queue",
    "按坐席": "agent",
}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _kpis(client: httpx.AsyncClient, token: str, body: dict[str, Any], line: str,
                group_by: str) -> list[dict[str, Any]]:  # fmt: skip
    r = await client.get(
        "/api/v1/kpis",
        params={"start": body["start"], "end": body["end"], "line": line, "group_by": group_by},
        headers=_auth(token),
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["rows"]
    return rows


async def test_monthly_xlsx_equals_kpis_exactly(
    api_client: httpx.AsyncClient, make_token: MakeToken, generated: GeneratedMonth
) -> None:
    g = generated
    token = await make_token(Role.SUPERVISOR)
    params = {"kind": "monthly", "start": f"{g.month}-15", "line": g.line, "scheme": "haikou"}
    r = await api_client.get("/api/v1/reports/render", params=params, headers=_auth(token))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["说明", "总览", "按日", "按周", "按队列", "按坐席", "考核"]
    assert g.line in str(wb["说明"]["A1"].value) and "月报" in str(wb["说明"]["A1"].value)
    r = await api_client.get(
        f"/api/v1/assessments/haikou/{g.month}", params={"line": g.line}, headers=_auth(token)
    )
    assessment = r.json()
    for sheet, group_by in MONTHLY_SHEETS.items():
        ws = wb[sheet]
        header = [str(c.value) for c in ws[1]]
        rows = await _kpis(api_client, token, assessment, g.line, group_by)
        assert ws.max_row - 1 == len(rows), sheet
        for excel_row, api_row in zip(ws.iter_rows(min_row=2), rows, strict=True):
            cells = {header[i]: c for i, c in enumerate(excel_row)}
            assert cells["分组键（UTC）"].value == api_row["group"]
            counts = [excel_row[1 + i].value for i in range(len(COUNT_COLUMNS))]
            assert counts == [api_row["counts"][c] for c in COUNT_COLUMNS]
            for name, figure in api_row["figures"].items():
                column = next(h for h in header if h.startswith(_label(name)))
                assert cells[column].value == figure["value"], (sheet, name)
                expected = '0.00"%"' if figure["unit"] == "percent" else '0.00" 秒"'
                assert cells[column].number_format == expected
    day_sheet = wb["按日"]
    assert day_sheet["A2"].value == f"{g.month}-01"
    # The assessment sheet carries each rule's figure and its arithmetic in words.
    rules = {row[0].value: row for row in wb["考核"].iter_rows(min_row=4) if row[0].value}
    answer = next(r for r in assessment["rules"] if r["id"] == "answer_rate")
    assert rules["接通率"][1].value == float(answer["figure"])
    assert str(rules["接通率"][8].value).startswith(answer["words"])


def _label(name: str) -> str:
    return FIGURE_LABELS[name]["zh-CN"] + "（"


async def test_html_report_renders_with_charts_in_chromium(
    api_client: httpx.AsyncClient,
    make_token: MakeToken,
    generated: GeneratedMonth,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    g = generated
    token = await make_token(Role.SUPERVISOR)
    params = {"kind": "monthly", "start": f"{g.month}-01", "line": g.line, "format": "html",
              "scheme": "shenyang"}  # fmt: skip
    r = await api_client.get("/api/v1/reports/render", params=params, headers=_auth(token))
    assert r.status_code == 200, r.text
    page_file = tmp_path / "report.html"
    page_file.write_bytes(r.content)
    png = artifacts_dir / "report-monthly.png"
    async with chromium_page(tmp_path / "chromium", tmp_path / "chromium.log", 1400, 1100) as page:
        await page.call("Page.navigate", url=page_file.as_uri())
        await page.wait_for("document.readyState === 'complete'", 20)
        assert await page.evaluate("document.querySelectorAll('svg').length") == 2
        points = await page.evaluate("document.querySelector('polyline').points.numberOfItems")
        assert points == 31  # one per day of March
        assert await page.evaluate("document.querySelectorAll('svg rect').length") == 24
        assert "月报" in await page.evaluate("document.querySelector('h1').textContent")
        await page.screenshot(png)
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000


async def test_schedule_writes_due_reports_listed_by_rest(
    api_app: FastAPI,
    api_client: httpx.AsyncClient,
    make_token: MakeToken,
    generated: GeneratedMonth,
    tmp_path: Path,
) -> None:
    g = generated
    year = int(g.month[:4])
    now = datetime(year, 4, 1, 1, tzinfo=UTC)  # 09:00 on 1 April in Shanghai
    settings = ScheduleSettings(tmp_path / "reports", "Asia/Shanghai", 60, "haikou")
    caps = await api_app.state.acw_caps()
    written = await generate_due(api_app.state.db, settings, [g.line], caps, now)
    assert written == 8  # day, week, month, year × xlsx, html
    assert await generate_due(api_app.state.db, settings, [g.line], caps, now) == 0
    names = sorted(p.name for p in settings.folder.iterdir())
    assert f"monthly-{g.month}-01-{g.line}.xlsx" in names
    assert f"daily-{g.month}-31-{g.line}.html" in names
    token = await make_token(Role.AUDITOR)
    r = await api_client.get("/api/v1/reports", params={"kind": "monthly"}, headers=_auth(token))
    ours = [f for f in r.json() if f["line"] == g.line]
    assert {f["format"] for f in ours} == {"xlsx", "html"}
    xlsx = next(f for f in ours if f["format"] == "xlsx")
    r = await api_client.get(xlsx["url"], headers=_auth(token))
    assert r.status_code == 200 and len(r.content) == xlsx["bytes"]
    assert "考核" in load_workbook(io.BytesIO(r.content)).sheetnames
