"""The writer's asyncpg pool and how its failures are read.

asyncpg is used directly on the hot path (binary COPY); SQLAlchemy's URL is
the one configured everywhere else, so it is converted here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.ingest.upserts import create_stage_tables

DatabaseTarget = str | Callable[[], str]
"""A SQLAlchemy URL, or a callable giving the current one (asked at each connect)."""

DATA_ERRORS: Final[tuple[type[BaseException], ...]] = (
    asyncpg.DataError,  # SQLSTATE class 22, and asyncpg's own bad-argument errors
    asyncpg.IntegrityConstraintViolationError,  # class 23: a CHECK, NOT NULL
    # A value of the wrong Python type fails while COPY encodes it.
    TypeError,
    ValueError,
)
"""Failures that retrying cannot cure: the batch's content is refused.

Anything else (connection refused or lost, timeout, admin shutdown, even a
missing table) leaves the data intact and is worth retrying later.
"""


def resolve_target(target: DatabaseTarget) -> str:
    return asyncpg_dsn(target() if callable(target) else target)


def ssl_option(dsn: str) -> bool | None:
    """``ssl`` for ``asyncpg.connect``: False (no TLS handshake attempt) for a server on
    loopback or a Unix socket when the DSN names no ``sslmode``; otherwise None, which
    leaves the choice to the DSN and asyncpg's defaults (pure).

    asyncpg's default (``prefer``) first asks every server for TLS: a wasted round trip
    per connection on the same host, where TLS protects nothing.
    """
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    if "sslmode" in query or "ssl" in query:
        return None
    hosts = query.get("host", []) or [parts.hostname or ""]
    return False if all(_is_local(host) for host in hosts) else None


def _is_local(host: str) -> bool:
    if host in ("", "localhost") or host.startswith("/"):
        return True  # no host: a Unix socket
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def create_writer_pool(
    target: DatabaseTarget, *, connect_timeout_s: float, command_timeout_s: float
) -> Any:
    """One connection: batches commit one after another, so order is kept."""
    dsn = resolve_target(target)
    return await asyncpg.create_pool(
        dsn,
        ssl=ssl_option(dsn),
        min_size=1,
        max_size=1,
        timeout=connect_timeout_s,
        command_timeout=command_timeout_s,
        init=create_stage_tables,
        server_settings={"application_name": "callctl-writer"},
    )
