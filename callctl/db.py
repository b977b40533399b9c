"""Database URL resolution, engine creation, migrations and database administration."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callctl.errors import SettingError
from callctl.settings import PACKAGE_DIR, Settings

MIGRATIONS_DIR = PACKAGE_DIR / "migrations"


class DatabaseNotConfiguredError(SettingError):
    error_id = "db.not_configured"


def resolve_database_url(settings: Settings) -> str:
    """CALLCTL_DATABASE_URL (required; `callctl lab up` prints the lab's)."""
    if settings.database_url:
        return settings.database_url
    raise DatabaseNotConfiguredError(
        "CALLCTL_DATABASE_URL: not set (postgresql+asyncpg://user@host:port/db)"
    )


def create_engine(url: str) -> AsyncEngine:
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    """Alembic's config without alembic.ini: the installed package carries no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = url
    return config


def run_migrations(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://...`` → ``postgresql://...`` (what asyncpg accepts)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,63}", name):
        raise ValueError(f"refusing database name {name!r}")
    return name


async def admin_execute(url: str, sql: str) -> None:
    """Run one statement in the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def scratch_database(server_url: str, prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new database on the server of ``server_url``, dropped on exit; yields its URL."""
    name = _check_name(f"{prefix}_{uuid.uuid4().hex[:8]}")
    asyncio.run(admin_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        url = with_database(server_url, name)
        if migrate:
            run_migrations(url)
        yield url
    finally:
        asyncio.run(admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
