"""Follow Asterisk's queue_log as it grows: complete lines only, across rotations.

``QueueLogTailer`` polls the file and hands out ``TailBatch``es: the parsed
lines read since the previous batch and the ``QueueLogPosition`` just after the
last of them. A line is read only once its ``\\n`` is on disk; a partial last
line stays in the file until Asterisk finishes it, so the position always sits
on a line boundary and a UTF-8 character (a Chinese pause reason, a caller
name) is never cut in two.

The position is what the caller persists (``queue_log.offsets``), and only after the
facts folded from the batch are committed: a crash in between replays the
batch, which the idempotent upserts make harmless; saving first would lose it.

Rotation and truncation (nothing lost, nothing read twice):

* the path now names another inode (logger rotate, logrotate ``create``): the
  old file, still open, is read to its last complete line, then the new one
  from offset 0;
* the file is shorter than the position, or the byte before the position is no
  longer a ``\\n`` (logrotate ``copytruncate`` followed by new writes): the
  rest of the copy (``queue_log.1`` or the like, see ``queue_log.rotation``) is read
  from the position, then the file from offset 0. Without such a copy it is
  read again from offset 0;
* at start, the saved position names a file that is no longer at the path
  (rotated while callctl was down): the rest of that file, found by its inode
  among the rotated siblings (or a ``copytruncate`` copy, as above), is read
  from the saved offset first, then the new file from offset 0. Without it the
  new file is read from 0 and the lines in between are for ``reconcile``.

The first batch from the new file is flagged ``restarted``. While a rotated
file is read, positions carry its inode, so a restart in the middle resumes it.

File reads run in a worker thread (``asyncio.to_thread``): a slow disk must not
stall the event loop that reads AMI (design principle 1).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Self

from callctl.facts.queue_log import Malformed, QueueLogEvent, parse_line
from callctl.ingest.queue_log.rotation import Sibling, by_inode, copy_holding
from callctl.ingest.queue_log.window import line_epoch

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 0.2
DEFAULT_MAX_BATCH_BYTES = 1 << 20

_COUNT_CHUNK = 1 << 20
_PROBE = 64
"""Bytes read to find a file's first epoch (``1795291045|`` is 11)."""

ParsedLine = QueueLogEvent | Malformed


@dataclass(frozen=True, slots=True)
class QueueLogPosition:
    """Where reading stopped: just after a complete line of the file ``inode``."""

    path: str
    inode: int
    offset: int


@dataclass(frozen=True, slots=True)
class TailedLine:
    """One parsed line and the byte offset just after its ``\\n``."""

    end_offset: int
    item: ParsedLine
    text: str = field(default="", compare=False)
    """The line as decoded, without its ``\\n`` (what a shipper sends)."""


@dataclass(frozen=True, slots=True)
class TailBatch:
    """Lines read in one go, in file order, and the position after the last one."""

    lines: tuple[TailedLine, ...]
    position: QueueLogPosition
    restarted: bool = False
    """Read from offset 0 of a new or truncated file (see the module docstring)."""
    replay: bool = False
    """Lines at or before the resume position: already committed by an earlier
    run, handed out again only to rebuild the folder's state (``warm_up``)."""
    file_start: int = 0
    """Epoch of the first line of the file read (0 if it has none): with the inode,
    it tells a file apart from a later one that reuses its inode or, after
    ``copytruncate``, its bytes."""

    @property
    def events(self) -> list[QueueLogEvent]:
        return [line.item for line in self.lines if not isinstance(line.item, Malformed)]

    @property
    def malformed(self) -> list[Malformed]:
        return [line.item for line in self.lines if isinstance(line.item, Malformed)]


@dataclass(slots=True)
class TailMetrics:
    lines: int = 0
    """Non-blank lines parsed (malformed included)."""
    malformed: int = 0
    rotations: int = 0
    truncations: int = 0
    missing_polls: int = 0
    """Polls that found no file at the path."""
    torn_tails: int = 0
    """Rotated files left with an incomplete last line (it is dropped)."""
    rotated_reads: int = 0
    """Rotated files (found by inode, or a copytruncate copy) read to their end
    before the new file."""


@dataclass(frozen=True, slots=True)
class SplitLines:
    """``split_complete_lines``' answer."""

    lines: list[TailedLine]
    consumed: int
    """Bytes up to and including the last ``\\n``; the rest is an incomplete line."""
    newlines: int
    """Line ends consumed, blank lines included: advances the line number."""


def split_complete_lines(data: bytes, start_offset: int, first_line_no: int) -> SplitLines:
    """Parse the complete lines of ``data``, read from ``start_offset`` (pure).

    Lines are split on ``\\n`` only, then decoded one by one: a UTF-8 sequence
    never contains the byte ``\\n``, so no character is cut, and undecodable
    bytes become U+FFFD instead of an error. Blank lines are numbered, not parsed.
    """
    consumed = data.rfind(b"\n") + 1
    lines: list[TailedLine] = []
    offset = start_offset
    raw_lines = data[:consumed].split(b"\n")[:-1]
    for line_no, raw in enumerate(raw_lines, start=first_line_no):
        offset += len(raw) + 1
        text = raw.decode("utf-8", errors="replace")
        if text.strip():
            lines.append(TailedLine(offset, parse_line(text, line_no), text))
    return SplitLines(lines, consumed, len(raw_lines))


class _Follower:
    """The blocking side of the tailer: one open file, its inode and position.

    Every method runs in a worker thread, one at a time.
    """

    def __init__(
        self,
        path: Path,
        resume: QueueLogPosition | None,
        *,
        warm_up: bool,
        max_batch_bytes: int,
        metrics: TailMetrics,
    ) -> None:
        self._path = path
        self._resume = resume
        self._warm_up = warm_up
        self._max_batch_bytes = max_batch_bytes
        self._metrics = metrics
        self._file: BinaryIO | None = None
        self._inode = 0
        self._offset = 0
        self._line_no = 1
        self._replay_until = 0
        self._restarted = False
        self._opened = False
        self._draining = False
        """Reading a rotated file to its end; the file at the path comes next."""

    @property
    def position(self) -> QueueLogPosition | None:
        if not self._opened:
            return None
        return QueueLogPosition(str(self._path), self._inode, self._offset)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def read(self) -> TailBatch | None:
        if self._file is None:
            if self._opened:
                raise RuntimeError("queue_log tailer is closed")
            if not self._open_first():
                return None
        batch = self._read_current()
        if batch is not None:
            return batch
        if self._draining:
            # The rotated file is read to its end: on to the file at the path.
            self._draining = False
            return self._read_current() if self._switch() else None
        if not self._replaced():
            return batch
        # Lines may have reached the old file between the read and the stat.
        batch = self._read_current()
        if batch is not None or not self._switch():
            return batch
        return self._read_current()

    # --- opening -------------------------------------------------------------

    def _open_first(self) -> bool:
        file = self._open_path()
        if file is None:
            return False
        self._file = file
        self._opened = True
        stat = os.fstat(file.fileno())
        self._inode = stat.st_ino
        resume = self._resume
        if resume is None:
            return True
        if resume.inode != stat.st_ino or not _ends_line(file, resume.offset, stat.st_size):
            # The file the stored offset belongs to was rotated away or rewritten.
            rotated = by_inode(self._path, resume.inode)
            if rotated is None:
                rotated = copy_holding(self._path, resume.offset, exclude_inode=stat.st_ino)
            if rotated is not None and self._drain_first(rotated, resume.offset, self._warm_up):
                return True
            log.warning(
                "queue_log %s: stored position (inode %d, offset %d) is not in the current "
                "file (inode %d, %d bytes): reading it from the start",
                self._path,
                resume.inode,
                resume.offset,
                stat.st_ino,
                stat.st_size,
            )
            self._restarted = True
            return True
        self._start_at(resume.offset, self._warm_up)
        return True

    def _start_at(self, offset: int, replay: bool) -> None:
        """Go to ``offset``, or with ``replay`` hand out the lines before it as replays."""
        assert self._file is not None
        if replay:
            self._replay_until = offset
        else:
            self._offset = offset
            self._line_no = 1 + _count_newlines(self._file, offset)

    def _drain_first(self, rotated: Sibling, offset: int, replay: bool) -> bool:
        """Read ``rotated`` from ``offset`` to its end before the file at the path."""
        try:
            file = rotated.path.open("rb")
        except FileNotFoundError:
            return False
        stat = os.fstat(file.fileno())
        if stat.st_ino != rotated.inode or not _ends_line(file, offset, stat.st_size):
            file.close()  # rotated further meanwhile, or not the copy it looked like
            return False
        if self._file is not None:
            self._file.close()
        self._file = file
        self._inode = stat.st_ino
        self._offset = 0
        self._line_no = 1
        self._replay_until = 0
        self._draining = True
        self._metrics.rotated_reads += 1
        log.warning(
            "queue_log %s was rotated: reading the rest of %s from offset %d first",
            self._path,
            rotated.path,
            offset,
        )
        self._start_at(offset, replay)
        return True

    def _open_path(self) -> BinaryIO | None:
        try:
            return self._path.open("rb")
        except FileNotFoundError:
            self._metrics.missing_polls += 1
            if self._metrics.missing_polls == 1:
                log.warning("queue_log %s does not exist (yet)", self._path)
            return None

    # --- reading -------------------------------------------------------------

    def _read_current(self) -> TailBatch | None:
        assert self._file is not None
        fd = self._file.fileno()
        if not _ends_line(self._file, self._offset, os.fstat(fd).st_size):
            copy = None
            if not self._draining:
                copy = copy_holding(self._path, self._offset, exclude_inode=self._inode)
            if copy is not None and self._drain_first(copy, self._offset, replay=False):
                self._metrics.truncations += 1
                return self._read_current()
            self._restart_same_file()
        replay = self._replay_until > self._offset
        limit = self._max_batch_bytes
        if replay:
            # The resume offset ends a line: a replay batch never crosses it.
            limit = min(limit, self._replay_until - self._offset)
        data = _read_to_line_end(fd, self._offset, limit)
        split = split_complete_lines(data, self._offset, self._line_no)
        if split.consumed == 0:
            return None
        self._offset += split.consumed
        self._line_no += split.newlines
        self._count(split.lines)
        restarted, self._restarted = self._restarted, False
        return TailBatch(
            tuple(split.lines),
            QueueLogPosition(str(self._path), self._inode, self._offset),
            restarted=restarted,
            replay=replay,
            file_start=line_epoch(os.pread(fd, _PROBE, 0)) or 0,
        )

    def _count(self, lines: Sequence[TailedLine]) -> None:
        self._metrics.lines += len(lines)
        for line in lines:
            if isinstance(line.item, Malformed):
                self._metrics.malformed += 1
                log.warning(
                    "queue_log %s line %d malformed (%s): %.200r",
                    self._path,
                    line.item.line_no,
                    line.item.why,
                    line.item.raw,
                )

    def _restart_same_file(self) -> None:
        log.warning("queue_log %s was truncated: reading it from the start", self._path)
        self._metrics.truncations += 1
        self._reset(self._inode)

    def _replaced(self) -> bool:
        """Whether the path names another file than the one being read."""
        try:
            return self._path.stat().st_ino != self._inode
        except FileNotFoundError:
            return False  # rotated away, the new file not created yet

    def _switch(self) -> bool:
        """Leave the (fully read) rotated file for the one now at the path."""
        assert self._file is not None
        new_file = self._open_path()
        if new_file is None:
            return False
        size = os.fstat(self._file.fileno()).st_size
        if size > self._offset:
            self._metrics.torn_tails += 1
            log.warning(
                "queue_log %s rotated with an incomplete last line (%d bytes dropped)",
                self._path,
                size - self._offset,
            )
        self._file.close()
        self._file = new_file
        self._metrics.rotations += 1
        log.info("queue_log %s rotated: following the new file", self._path)
        self._reset(os.fstat(new_file.fileno()).st_ino)
        return True

    def _reset(self, inode: int) -> None:
        self._inode = inode
        self._offset = 0
        self._line_no = 1
        self._replay_until = 0
        self._restarted = True


def _ends_line(file: BinaryIO, offset: int, size: int) -> bool:
    """Whether ``offset`` can be a line boundary of this file as it is now."""
    if offset == 0:
        return True
    if size < offset:
        return False
    return os.pread(file.fileno(), 1, offset - 1) == b"\n"


def _read_to_line_end(fd: int, offset: int, limit: int) -> bytes:
    """Up to ``limit`` bytes; more if needed to reach the end of a line longer than that."""
    data = os.pread(fd, limit, offset)
    while len(data) >= limit and b"\n" not in data:
        more = os.pread(fd, max(limit, len(data)), offset + len(data))
        if not more:
            break
        data += more
    return data


def _count_newlines(file: BinaryIO, end: int) -> int:
    count, offset = 0, 0
    while offset < end:
        chunk = os.pread(file.fileno(), min(_COUNT_CHUNK, end - offset), offset)
        if not chunk:
            break
        count += chunk.count(b"\n")
        offset += len(chunk)
    return count


class QueueLogTailer:
    """Polls one queue_log; see the module docstring.

    ``resume`` is the position saved after the last committed batch. With
    ``warm_up`` the tailer reads the same file from its start anyway and flags
    the batches up to ``resume`` as ``replay``: the folder needs the
    ENTERQUEUE of calls still open at the resume point, and the caller can
    skip writing what was already committed. Without it, reading starts at
    ``resume`` and events of calls that began earlier are the folder's orphans.

    One consumer at a time: ``async for batch in tailer.batches(): ...`` runs
    until cancelled; ``close()`` afterwards (or ``async with``).
    """

    def __init__(
        self,
        path: Path,
        *,
        resume: QueueLogPosition | None = None,
        warm_up: bool = False,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        if poll_interval_s <= 0 or max_batch_bytes <= 0:
            raise ValueError("poll_interval_s and max_batch_bytes must be positive")
        self.path = path
        self.poll_interval_s = poll_interval_s
        self.metrics = TailMetrics()
        self._follower = _Follower(
            path,
            resume,
            warm_up=warm_up,
            max_batch_bytes=max_batch_bytes,
            metrics=self.metrics,
        )

    @property
    def position(self) -> QueueLogPosition | None:
        """Just after the last line handed out; ``None`` until the file was opened."""
        return self._follower.position

    async def read_batch(self) -> TailBatch | None:
        """One poll: the complete lines written since the last one, or ``None``."""
        return await asyncio.to_thread(self._follower.read)

    async def batches(self) -> AsyncIterator[TailBatch]:
        """Batches as they come, polling every ``poll_interval_s`` while idle."""
        while True:
            batch = await self.read_batch()
            if batch is None:
                await asyncio.sleep(self.poll_interval_s)
            else:
                yield batch

    async def close(self) -> None:
        await asyncio.to_thread(self._follower.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
