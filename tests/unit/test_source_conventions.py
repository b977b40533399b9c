"""Conventions checked over the source itself, so that a module added later keeps them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("callctl", "agents", "ami", "forecast", "ivr", "kpi", "recording", "routing")


def _sources(packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    files = [
        path
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    ]
    assert len(files) > 100
    return files


def _hits(pattern: str, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    found = re.compile(pattern)
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources(packages)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if found.search(line)
    ]


def test_pools_and_connections_are_typed() -> None:
    # callctl.db_types: Pool, Connection, Queryable (asyncpg ships no types).
    assert _hits(r"\b(pool|conn|connection|_pool|_conn|_connection)\s*:\s*(Any|object)\b") == []
    assert _hits(r"Annotated\[Any, Depends\(") == []


def test_dependencies_are_annotated_aliases() -> None:
    # FastAPI dependencies are named once as Annotated aliases, never Depends() defaults.
    assert _hits(r"noqa: B008") == []
    assert _hits(r"=\s*Depends\(") == []


def test_metrics_are_exposed_by_prometheus_client() -> None:
    # No hand-written exposition: families from callctl.kit.prometheus, one registry per app.
    assert _hits(r"[\"']# (TYPE|HELP) ") == []


def test_csv_is_written_by_one_helper() -> None:
    # callctl.api.csv_export: BOM, header row, None as an empty cell, text/csv declared.
    writers = _hits(r"^\s*import csv\b|csv\.(writer|DictWriter)\(")
    assert writers and all(hit.startswith("callctl/api/csv_export.py:") for hit in writers)


def test_no_comment_cites_an_issue_number() -> None:
    # A comment says what it means; an issue number means nothing to the next reader.
    cited = r"\b[Ii]ssues? ?#?\d+\b|\(#\d+\)|\bGH-\d+"
    assert _hits(cited, (*PACKAGES, "benchmarks", "scripts", "tests")) == []
