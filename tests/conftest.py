"""Shared fixtures: settings, the real lab, and a fresh migrated database per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callctl.db import scratch_database
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
    from callctl.db import DatabaseNotConfiguredError, resolve_database_url
    from callctl.lab import lab as lab_module

    try:
        return resolve_database_url(settings)
    except DatabaseNotConfiguredError:
        return lab_module.up(settings).database_url


@pytest.fixture(scope="session")
def server_url(settings: Settings) -> str:
    """A database URL on the lab's (or the configured) PostgreSQL server."""
    return _server_url(settings)


@pytest.fixture(scope="session")
def empty_database_url(server_url: str) -> Iterator[str]:
    """A brand-new empty database on that server."""
    with scratch_database(server_url, "callctl_test", migrate=False) as url:
        yield url


@pytest.fixture(scope="session")
def database_url(empty_database_url: str) -> str:
    """A fresh database migrated to head."""
    from callctl.db import run_migrations

    run_migrations(empty_database_url)
    return empty_database_url
