"""Where a node's queue_log is read from: a local file, or its shipped lines.

``fold_source`` folds either the same way (``queue_log.fold``), so reconcile,
verify and the follower need not know which one a node uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.ingest.queue_log.fold import FileFold, fold_file, fold_lines
from callctl.ingest.queue_log.shipped import Shipped, last_line_id, lines_from_time

QueueLogSource = Path | Shipped
"""A node's queue_log: the file's path, or ``Shipped()`` for ``queue_log_lines``."""


def describe(source: QueueLogSource, node: str) -> Path:
    """What reports print as the queue_log read."""
    return source if isinstance(source, Path) else Path(f"shipped:{node}")


async def fold_source(
    database_url: str,
    source: QueueLogSource,
    node: str,
    *,
    agent_names: Mapping[str, str] | None = None,
    acw_reason: str = "acw",
    read_from: int | None = None,
) -> FileFold:
    """``fold_file`` of the path, or the same fold of the node's shipped lines.

    Raises ``QueueLogMissingError`` for a missing file, asyncpg/OS errors when the
    database is unreachable.
    """
    if isinstance(source, Path):
        return await asyncio.to_thread(
            fold_file,
            source,
            node,
            agent_names=agent_names,
            acw_reason=acw_reason,
            read_from=read_from,
        )
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            last_id = await last_line_id(connection, node)
            before, lines = await lines_from_time(connection, node, read_from, last_id)
    finally:
        await connection.close()
    return await asyncio.to_thread(
        fold_lines,
        describe(source, node),
        node,
        before,
        [line.line for line in lines],
        agent_names=agent_names,
        acw_reason=acw_reason,
    )
