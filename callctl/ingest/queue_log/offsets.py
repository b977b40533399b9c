"""The queue_log tailer's position in PostgreSQL (``queue_log_offsets``, one row per node).

Save a position only once the facts folded from the lines before it are
committed. ``commit_with_position`` does both in one transaction, on a
connection that has the writer's stage tables (``upserts.create_stage_tables``,
or any connection of ``connection.create_writer_pool``). A caller that goes
through ``FactWriter`` instead saves after ``await writer.flush()``: the order,
not the transaction, is what keeps the position from running ahead of the facts.

``connection`` is an asyncpg connection (untyped, hence ``Any``).
"""

from __future__ import annotations

from collections.abc import Iterable

from callctl.db_types import Connection, Queryable
from callctl.facts.models import Fact
from callctl.ingest.queue_log.tail import QueueLogPosition
from callctl.ingest.upserts import commit_facts

_LOAD = 'SELECT path, inode, "offset" FROM queue_log_offsets WHERE node = $1'

_SAVE = """
INSERT INTO queue_log_offsets AS t (node, path, inode, "offset", updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (node) DO UPDATE
SET path = EXCLUDED.path, inode = EXCLUDED.inode, "offset" = EXCLUDED."offset",
    updated_at = EXCLUDED.updated_at
"""


async def load_position(connection: Queryable, node: str) -> QueueLogPosition | None:
    row = await connection.fetchrow(_LOAD, node)
    if row is None:
        return None
    return QueueLogPosition(path=row["path"], inode=row["inode"], offset=row["offset"])


async def save_position(connection: Queryable, node: str, position: QueueLogPosition) -> None:
    await connection.execute(_SAVE, node, position.path, position.inode, position.offset)


async def commit_with_position(
    connection: Connection, node: str, facts: Iterable[Fact], position: QueueLogPosition
) -> int:
    """Upsert ``facts`` (source ``queue_log``) and save ``position``, atomically.

    Returns the number of distinct rows written. One call per transaction: the
    stage tables empty at commit, not at a savepoint.
    """
    async with connection.transaction():
        written = await commit_facts(connection, [(fact, "queue_log") for fact in facts])
        await save_position(connection, node, position)
    return written
