"""Alembic environment: async engine on callctl's database URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from callctl.db import resolve_database_url
from callctl.settings import Settings


def _url() -> str:
    url = context.config.attributes.get("database_url")
    if isinstance(url, str):
        return url
    return resolve_database_url(Settings())


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("callctl migrations run online only")
asyncio.run(_run_async())
