"""Ship one node's queue_log into PostgreSQL, at least once (``callctl ship-queue-log``).

It runs beside Asterisk (or inside the service for a local file) and does one
thing: tail the file (``queue_log.tail``: complete lines only, across rotations
and ``copytruncate``), insert each batch into ``queue_log_lines`` keyed by its
place in the file (``queue_log.shipped``), and only then save the position in a
local state file. A crash between the insert and the save ships the batch again,
which the key makes harmless; saving first could lose it.

While PostgreSQL is down or hung the shipper retries the same batch and reads
nothing further: the file is the buffer, so Asterisk, which only appends to its
file, never waits for the database (design principle 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.db_types import Connection
from callctl.ingest.queue_log.shipped import (
    ShippedLine,
    check_node_id,
    insert_lines,
    lines_of_batch,
)
from callctl.ingest.queue_log.tail import QueueLogPosition, QueueLogTailer

log = logging.getLogger(__name__)

DEFAULT_SAVE_INTERVAL_S = 1.0
DEFAULT_SHIP_POLL_INTERVAL_S = 0.5
"""Between looks at the file while caught up. Each look that finds lines is one insert;
the follower looks for shipped lines every second (``follow``), so looking at the file
more often than every half second only adds inserts (and thread hops for the reads)."""

_CONNECT_TIMEOUT_S = 5.0
_COMMAND_TIMEOUT_S = 15.0


class StateFileError(ValueError):
    error_id = "queue_log.state_file"


@dataclass(frozen=True, slots=True)
class ShipperState:
    node: str
    position: QueueLogPosition


def encode_state(state: ShipperState) -> bytes:
    p = state.position
    body = {"node": state.node, "path": p.path, "inode": p.inode, "offset": p.offset}
    return json.dumps(body, sort_keys=True).encode() + b"\n"


def decode_state(data: bytes, *, node: str) -> QueueLogPosition:
    """The position saved for ``node``; raises ``StateFileError`` for anything else."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateFileError(f"state file is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise StateFileError("state file is not a JSON object")
    if body.get("node") != node:
        raise StateFileError(f"state file is for node {body.get('node')!r}, not {node!r}")
    path, inode, offset = body.get("path"), body.get("inode"), body.get("offset")
    if not isinstance(path, str) or not _natural(inode) or not _natural(offset):
        raise StateFileError("state file needs a path, and an inode and offset >= 0")
    assert isinstance(inode, int) and isinstance(offset, int)
    return QueueLogPosition(path, inode, offset)


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class StateFile:
    """The shipper's position, replaced atomically (write, fsync, rename, fsync dir)."""

    def __init__(self, path: Path, node: str) -> None:
        self.path = path
        self.node = node

    def load(self) -> QueueLogPosition | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return decode_state(data, node=self.node)

    def save(self, position: QueueLogPosition) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Named per thread: a save cancelled mid-way (its thread runs on) must not race the
        # save at exit for one temporary file.
        temporary = self.path.with_name(f"{self.path.name}.{threading.get_ident()}.tmp")
        with temporary.open("wb") as file:
            file.write(encode_state(ShipperState(self.node, position)))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class PostgresLineSink:
    """Inserts shipped lines over one connection, reconnecting after a failure."""

    def __init__(self, database_url: str, node: str) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._node = node
        self._connection: Connection | None = None

    async def send(self, lines: list[ShippedLine]) -> int:
        if self._connection is None:
            self._connection = await asyncpg.connect(
                self._dsn, timeout=_CONNECT_TIMEOUT_S, command_timeout=_COMMAND_TIMEOUT_S
            )
        try:
            return await insert_lines(self._connection, self._node, lines)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)


@dataclass(slots=True)
class ShipperStats:
    batches: int = 0
    lines: int = 0
    inserted: int = 0
    """Lines that were new to the database (a replay inserts none)."""
    failures: int = 0
    database_up: bool = False


class QueueLogShipper:
    """Tails ``path`` and ships every line of it for ``node``; see the module docstring."""

    def __init__(
        self,
        node: str,
        path: Path,
        sink: PostgresLineSink,
        state: StateFile,
        *,
        poll_interval_s: float = DEFAULT_SHIP_POLL_INTERVAL_S,
        retry_s: float = 1.0,
        save_interval_s: float = DEFAULT_SAVE_INTERVAL_S,
    ) -> None:
        self.node = check_node_id(node)
        self.path = path
        self.stats = ShipperStats()
        self._sink = sink
        self._state = state
        self._poll_interval_s = poll_interval_s
        self._retry_s = retry_s
        self._save_interval_s = save_interval_s

    async def run(self) -> None:
        """Ship until cancelled."""
        resume = await asyncio.to_thread(self._state.load)
        if resume is not None and resume.path != str(self.path):
            log.warning(
                "state file was for %s, now shipping %s: from its start", resume.path, self.path
            )
            resume = None
        log.info("shipping queue_log %s of node %s from %s", self.path, self.node, resume)
        tailer = QueueLogTailer(self.path, resume=resume, poll_interval_s=self._poll_interval_s)
        unsaved: QueueLogPosition | None = None
        saved_at = float("-inf")
        loop = asyncio.get_running_loop()
        try:
            async for batch in tailer.batches():
                lines = lines_of_batch(batch)
                if lines:
                    self.stats.inserted += await self._deliver(lines)
                    self.stats.lines += len(lines)
                self.stats.batches += 1
                # Saved (write, fsync, rename, fsync) at most every save_interval_s: under
                # load a batch comes every poll. A crash then ships again what came since
                # the last save, which the lines' key makes harmless.
                unsaved = batch.position
                if loop.time() - saved_at >= self._save_interval_s:
                    await asyncio.to_thread(self._state.save, unsaved)
                    unsaved, saved_at = None, loop.time()
        finally:
            if unsaved is not None:
                self._save_at_exit(unsaved)
            await tailer.close()
            await self._sink.close()

    def _save_at_exit(self, position: QueueLogPosition) -> None:
        # Synchronous: the task may be cancelled already, and this is its last step.
        try:
            self._state.save(position)
        except OSError as exc:
            log.warning("queue_log %s: position not saved at exit (%s)", self.path, exc)

    async def _deliver(self, lines: list[ShippedLine]) -> int:
        while True:
            try:
                inserted = await self._sink.send(lines)
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # A connection left mid-operation by a failure (the sink drops it): seen once
                # as "cannot switch to state 15; another operation is in progress" while
                # PostgreSQL was stopped. The file holds the lines; retry on a new one.
                asyncpg.InternalClientError,
                TimeoutError,
            ) as exc:
                self.stats.failures += 1
                if self.stats.database_up or self.stats.failures == 1:
                    log.warning(
                        "queue_log %s: shipping failed (%s); the file holds the lines, retrying",
                        self.path,
                        exc,
                    )
                self.stats.database_up = False
                await asyncio.sleep(self._retry_s)
                continue
            if not self.stats.database_up:
                log.info("queue_log %s: shipping to the database", self.path)
            self.stats.database_up = True
            return inserted


async def run_shipper_cli(
    database_url: str, node: str, path: Path, state_path: Path, *, poll_interval_s: float
) -> int:
    """``callctl ship-queue-log``: runs until SIGTERM/SIGINT (0) or a bad argument (2)."""
    shipper = QueueLogShipper(
        node,
        path,
        PostgresLineSink(database_url, node),
        StateFile(state_path, node),
        poll_interval_s=poll_interval_s,
    )
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await shipper.run()
    except asyncio.CancelledError:
        log.info("shipper stopped: %d lines, %d new", shipper.stats.lines, shipper.stats.inserted)
        return 0
    return 0
