"""Shared fixtures: settings, the real lab, and a fresh migrated database per session."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from callctl.settings import Settings

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def lab(settings: Settings) -> Iterator[Settings]:
    """The real lab (Asterisk, PostgreSQL), brought up once and left running."""
    from callctl.lab import lab as lab_module

    report = lab_module.up(settings)
    print(f"\nlab up in {report.seconds:.1f} s, postgres: {report.postgres}")
    yield settings


def _server_url(settings: Settings) -> str:
    from callctl.db import resolve_database_url
    from callctl.lab import lab as lab_module

    if settings.database_url:
        return settings.database_url
    try:
        return resolve_database_url(settings)
    except Exception:
        return lab_module.up(settings).database_url


async def _admin(url: str, sql: str) -> None:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def empty_database_url(settings: Settings) -> Iterator[str]:
    """A brand-new empty database on the lab's (or the configured) server."""
    base = make_url(_server_url(settings))
    name = f"callctl_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(str(base), f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    yield url
    asyncio.run(_admin(str(base), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(empty_database_url: str) -> str:
    """A fresh database migrated to head."""
    from callctl.db import run_migrations

    run_migrations(empty_database_url)
    return empty_database_url
