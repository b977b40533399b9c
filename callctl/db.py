"""Database URL resolution, engine creation and migrations."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callctl.lab.state import LabState
from callctl.settings import REPO_ROOT, Settings


class DatabaseNotConfiguredError(Exception):
    error_id = "db.not_configured"


def resolve_database_url(settings: Settings) -> str:
    """CALLCTL_DATABASE_URL, else the lab's database (``callctl lab up`` records it)."""
    if settings.database_url:
        return settings.database_url
    state = LabState.load(settings.lab_dir)
    if state is not None and state.database_url:
        return state.database_url
    raise DatabaseNotConfiguredError(
        "no database: set CALLCTL_DATABASE_URL or run `callctl lab up` first"
    )


def create_engine(url: str) -> AsyncEngine:
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["database_url"] = url
    return config


def run_migrations(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
