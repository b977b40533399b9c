"""`alembic upgrade head` on an empty database creates the fact schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from callctl.db import asyncpg_dsn, scratch_database

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.db


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


def test_alembic_upgrade_head_on_empty_database(server_url: str) -> None:
    with scratch_database(server_url, "callctl_migrate", migrate=False) as url:
        assert asyncio.run(_tables(url)) == set()
        env = {**os.environ, "CALLCTL_DATABASE_URL": url}
        alembic = Path(sys.executable).with_name("alembic")
        proc = subprocess.run(
            [str(alembic), "upgrade", "head"], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        tables = asyncio.run(_tables(url))
    for table in (
        "calls",
        "queue_entries",
        "agent_sessions",
        "agent_state_intervals",
        "ingest_gaps",
        "queue_log_offsets",
        "users",
        "api_tokens",
        "alembic_version",
    ):
        assert table in tables
