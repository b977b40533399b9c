"""Shared fixtures: settings, the real lab, and a fresh migrated database per session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

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
    """The real lab (Asterisk, PostgreSQL), brought up once and left running; the
    settings it produces (database, nodes file, initial routing), as the service gets
    them. Also exported, so that a ``callctl`` subprocess started by a test sees them."""
    from callctl.lab import lab as lab_module

    report = lab_module.up(settings)
    print(f"\nlab up in {report.seconds:.1f} s, postgres: {report.postgres}")
    # The run starts from an empty queue_log, as on a fresh machine; the lab's history
    # (benchmarks' calls too) is kept beside it, compressed.
    archived = lab_module.archive_queue_log(settings)
    if archived is not None:
        print(f"lab queue_log archived to {archived}")
    with pytest.MonkeyPatch.context() as env:
        for name, value in report.env.items():
            env.setenv(name, value)
        yield lab_module.lab_settings(settings, report.env)


def _server_url(settings: Settings) -> str:
    from callctl.lab import lab as lab_module

    return settings.database_url or lab_module.up(settings).database_url


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


@pytest.fixture
async def api_app(
    request: pytest.FixtureRequest, settings: Settings, database_url: str
) -> AsyncIterator[FastAPI]:
    """The API alone (no AMI, no ingest) on the migrated scratch database, lifespan run;
    in a test that uses the lab, with the lab's settings (its node, its routing)."""
    from callctl.app import create_app

    if "lab" in request.fixturenames:
        settings = request.getfixturevalue("lab")
    app = create_app(settings, ingest=False, database_url=database_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api_client(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://callctl.test") as client:
        yield client


MakeToken = Callable[..., Awaitable[str]]


@pytest.fixture
def make_token(api_app: FastAPI) -> MakeToken:
    """``await make_token(Role.SUPERVISOR, can_see_numbers=False, agent_id=None)`` → a token."""
    from callctl.auth.roles import Role
    from callctl.auth.tokens import issue_token
    from callctl.auth.users import create_user

    async def make(
        role: Role, *, can_see_numbers: bool = False, agent_id: str | None = None
    ) -> str:
        if role is Role.AGENT and agent_id is None:
            agent_id = "1001"
        username = f"{role.value}-{uuid.uuid4().hex[:10]}"
        pool = api_app.state.db
        user_id = await create_user(
            pool, username, role, agent_id=agent_id, can_see_numbers=can_see_numbers
        )
        return await issue_token(pool, user_id, "test")

    return make
