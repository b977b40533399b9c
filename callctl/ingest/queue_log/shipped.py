"""queue_log lines in PostgreSQL (``queue_log_lines``): written by shippers, read by the
service's follower, by reconcile and by verify.

A shipped line is keyed by its place in its file (node, inode, file start,
byte offset after the line), so shipping it again changes nothing. ``id``
orders one node's lines as they were shipped: ``insert_lines`` takes a
per-node advisory lock for its transaction, so ids are committed in order and
a reader that resumes after the last id it folded misses nothing.

``connection`` is an asyncpg connection (untyped, hence ``Any``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from callctl.db_types import Connection, Queryable
from callctl.ingest.queue_log.tail import TailBatch
from callctl.ingest.queue_log.window import line_epoch

NODE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class InvalidNodeIdError(ValueError):
    error_id = "queue_log.node_id"


def check_node_id(node: str) -> str:
    """``node`` if it is a plain id (letters, digits, ``_.-``); raises otherwise."""
    if not NODE_ID.fullmatch(node):
        raise InvalidNodeIdError(
            f"invalid node id {node!r}: 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return node


@dataclass(frozen=True, slots=True)
class Shipped:
    """A node whose queue_log is read from ``queue_log_lines``, not from a file."""


@dataclass(frozen=True, slots=True)
class ShippedLine:
    inode: int
    file_start: int
    end_offset: int
    logged_at: int | None
    """The epoch the line starts with (``None`` for a line without one)."""
    line: str


@dataclass(frozen=True, slots=True)
class StoredLine:
    id: int
    logged_at: int | None
    line: str


def lines_of_batch(batch: TailBatch) -> list[ShippedLine]:
    """The batch's lines as rows to ship (pure); malformed lines too, for verify's count."""
    position = batch.position
    return [
        ShippedLine(
            inode=position.inode,
            file_start=batch.file_start,
            end_offset=tailed.end_offset,
            logged_at=line_epoch(tailed.text.encode()[:64]),
            line=tailed.text,
        )
        for tailed in batch.lines
    ]


_LOCK = "SELECT pg_advisory_xact_lock(hashtext('queue_log_lines:' || $1))"

_INSERT = """
INSERT INTO queue_log_lines (node, inode, file_start, end_offset, logged_at, line)
SELECT $1, k.inode, k.file_start, k.end_offset, k.logged_at, k.line
FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
     WITH ORDINALITY AS k(inode, file_start, end_offset, logged_at, line, n)
ORDER BY k.n
ON CONFLICT DO NOTHING
"""


async def insert_lines(connection: Connection, node: str, lines: Sequence[ShippedLine]) -> int:
    """Insert ``lines`` in order, once; returns how many were new."""
    if not lines:
        return 0
    async with connection.transaction():
        await connection.execute(_LOCK, node)
        status: str = await connection.execute(
            _INSERT,
            node,
            [line.inode for line in lines],
            [line.file_start for line in lines],
            [line.end_offset for line in lines],
            [line.logged_at for line in lines],
            [line.line for line in lines],
        )
    return int(status.split()[-1])


_AFTER = """
SELECT id, logged_at, line FROM queue_log_lines
WHERE node = $1 AND id > $2 ORDER BY id LIMIT $3
"""


async def lines_after(
    connection: Queryable, node: str, after_id: int, limit: int
) -> list[StoredLine]:
    rows = await connection.fetch(_AFTER, node, after_id, limit)
    return [StoredLine(r["id"], r["logged_at"], r["line"]) for r in rows]


_FROM_TIME = """
SELECT id, logged_at, line FROM queue_log_lines
WHERE node = $1 AND id <= $3
  AND id >= coalesce(
      (SELECT min(id) FROM queue_log_lines WHERE node = $1 AND logged_at >= $2), $3 + 1)
ORDER BY id
"""

_AGENT_LINES_BEFORE = r"""
SELECT line FROM queue_log_lines
WHERE node = $1 AND id < $2
  AND line ~ '\|(ADDMEMBER|REMOVEMEMBER|PAUSE|UNPAUSE|PAUSEALL|UNPAUSEALL)(\||$)'
ORDER BY id
"""

_LAST_ID = "SELECT coalesce(max(id), 0) FROM queue_log_lines WHERE node = $1"


async def last_line_id(connection: Queryable, node: str) -> int:
    value: int = await connection.fetchval(_LAST_ID, node)
    return value


async def lines_from_time(
    connection: Queryable, node: str, read_from: int | None, up_to_id: int
) -> tuple[list[str], list[StoredLine]]:
    """What a fold from epoch ``read_from`` needs, up to line ``up_to_id``: the agent
    lines before the first line stamped ``read_from`` or later, then every line from
    there (all lines when ``read_from`` is ``None``), in shipping order."""
    start = -1 if read_from is None else read_from
    rows = await connection.fetch(_FROM_TIME, node, start, up_to_id)
    lines = [StoredLine(r["id"], r["logged_at"], r["line"]) for r in rows]
    first_id = lines[0].id if lines else up_to_id + 1
    before: list[str] = []
    if read_from is not None:
        before = [r["line"] for r in await connection.fetch(_AGENT_LINES_BEFORE, node, first_id)]
    return before, lines


_LOAD_CONSUMER = "SELECT last_id FROM queue_log_consumers WHERE node = $1"

_SAVE_CONSUMER = """
INSERT INTO queue_log_consumers AS t (node, last_id, updated_at) VALUES ($1, $2, now())
ON CONFLICT (node) DO UPDATE SET last_id = EXCLUDED.last_id, updated_at = EXCLUDED.updated_at
"""


async def load_consumer(connection: Queryable, node: str) -> int | None:
    value: int | None = await connection.fetchval(_LOAD_CONSUMER, node)
    return value


async def save_consumer(connection: Queryable, node: str, last_id: int) -> None:
    await connection.execute(_SAVE_CONSUMER, node, last_id)
