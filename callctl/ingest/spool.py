"""An append-only, fsync'd on-disk spool of records, read back oldest first.

Records are opaque bytes (``fact_codec`` gives them meaning). The spool is a
directory of segment files ``<index>.spool``; each record is framed as
``>II`` (payload length, CRC-32 of the payload) then the payload, so a torn
write at the tail, the usual result of a crash mid-append, is detected by a
short frame or a CRC mismatch and reading that segment stops there.

Ordering: segments are numbered and read in index order; appends go to the
newest segment. Segments present when the spool is opened are never appended
to again (their tail may be torn), so opening always starts a fresh segment.

All methods do blocking file IO; the writer calls them through
``asyncio.to_thread`` so an fsync never stalls the event loop (and the AMI
reader that shares it). One caller at a time: the spool has no locking.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Self

_HEADER: Final = struct.Struct(">II")
SEGMENT_SUFFIX: Final = ".spool"
CORRUPT_SUFFIX: Final = ".corrupt"
DEAD_LETTER_NAME: Final = "rejected.jsonl"
MAX_RECORD_BYTES: Final = 16 << 20
"""A length above this is garbage, not a record: stop instead of allocating it."""


@dataclass(frozen=True, slots=True)
class SegmentContents:
    path: Path
    records: list[bytes]
    torn_bytes: int
    """Bytes after the last whole, CRC-valid record (0: the segment is intact)."""


def encode_frames(payloads: Sequence[bytes]) -> bytes:
    parts: list[bytes] = []
    for payload in payloads:
        parts.append(_HEADER.pack(len(payload), zlib.crc32(payload)))
        parts.append(payload)
    return b"".join(parts)


def decode_frames(data: bytes) -> tuple[list[bytes], int]:
    """Whole records in ``data`` and how many trailing bytes are torn or corrupt."""
    records: list[bytes] = []
    offset, size = 0, len(data)
    while offset < size:
        if size - offset < _HEADER.size:
            break
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + length
        if length > MAX_RECORD_BYTES or end > size:
            break
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            break
        records.append(payload)
        offset = end
    return records, size - offset


def _fsync_dir(directory: Path) -> None:
    # A new or removed file name is durable only once its directory is synced.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Segment files in ``directory``; see the module docstring."""

    def __init__(self, directory: Path, *, segment_max_bytes: int = 8 << 20) -> None:
        self.directory = directory
        self.segment_max_bytes = segment_max_bytes
        self._record_counts: dict[Path, int] = {}
        # Kept as a plain int rather than summed over ``_record_counts``: other
        # tasks read it while a worker thread may be inserting a segment.
        self._pending_records = 0
        self._next_index = 1
        self._active: BinaryIO | None = None
        self._active_path: Path | None = None
        self._active_size = 0
        self.corrupt_segments = 0
        """Segments found with a torn or corrupt tail when the spool was opened."""

    # --- lifecycle -----------------------------------------------------------

    def open(self) -> None:
        """Scan existing segments (count records, detect torn tails)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self._segment_paths():
            records, torn = decode_frames(path.read_bytes())
            self._record_counts[path] = len(records)
            self._pending_records += len(records)
            if torn:
                self.corrupt_segments += 1
            self._next_index = max(self._next_index, _segment_index(path) + 1)

    def close(self) -> None:
        self.seal()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- state ---------------------------------------------------------------

    @property
    def pending_records(self) -> int:
        return self._pending_records

    def segments(self) -> list[Path]:
        """Segments holding records not yet removed, oldest first."""
        return sorted(self._record_counts, key=_segment_index)

    # --- writing -------------------------------------------------------------

    def append(self, payloads: Sequence[bytes]) -> None:
        """Append records and fsync: when this returns they survive a crash."""
        if not payloads:
            return
        data = encode_frames(payloads)
        if self._active is None or self._active_size >= self.segment_max_bytes:
            self._start_segment()
        assert self._active is not None and self._active_path is not None
        try:
            self._active.write(data)
            self._active.flush()
            os.fsync(self._active.fileno())
        except OSError:
            # Leave no half frame behind (disk full, ...) and start afresh next
            # time; the caller still holds the records and retries.
            self._rollback_active()
            raise
        self._active_size += len(data)
        self._record_counts[self._active_path] += len(payloads)
        self._pending_records += len(payloads)

    def seal(self) -> None:
        """Close the active segment: the next append starts a new one.

        The drainer seals before reading so that it never deletes a segment
        that is still being appended to.
        """
        if self._active is not None:
            self._active.close()
        self._active = None
        self._active_path = None
        self._active_size = 0

    def _start_segment(self) -> None:
        self.seal()
        path = self.directory / f"{self._next_index:016d}{SEGMENT_SUFFIX}"
        self._next_index += 1
        self._active = path.open("xb")
        self._active_path = path
        self._record_counts[path] = 0
        _fsync_dir(self.directory)

    def _rollback_active(self) -> None:
        assert self._active is not None
        # If even the truncate fails, the CRC framing still rejects the partial frame.
        with contextlib.suppress(OSError):
            self._active.truncate(self._active_size)
        self.seal()

    # --- reading and removal -------------------------------------------------

    def read_segment(self, path: Path) -> SegmentContents:
        if path == self._active_path:
            self.seal()
        return read_segment_file(path)

    def remove(self, contents: SegmentContents) -> None:
        """Forget a segment whose records are all committed.

        A segment with a corrupt tail is kept, renamed ``*.corrupt``, for
        inspection: its unreadable bytes are not ours to throw away.
        """
        if contents.torn_bytes:
            contents.path.rename(contents.path.with_name(contents.path.name + CORRUPT_SUFFIX))
        else:
            contents.path.unlink()
        _fsync_dir(self.directory)
        self._pending_records -= self._record_counts.pop(contents.path)

    def _segment_paths(self) -> list[Path]:
        # Only our own names: a stray "notes.spool" is not a segment.
        paths = self.directory.glob(f"*{SEGMENT_SUFFIX}")
        ours = [p for p in paths if p.name.removesuffix(SEGMENT_SUFFIX).isdigit()]
        return sorted(ours, key=_segment_index)


def read_segment_file(path: Path) -> SegmentContents:
    """Records of a segment file, stopping at a torn or corrupt tail."""
    records, torn = decode_frames(path.read_bytes())
    return SegmentContents(path=path, records=records, torn_bytes=torn)


def _segment_index(path: Path) -> int:
    return int(path.name.removesuffix(SEGMENT_SUFFIX))


class DeadLetters:
    """Records PostgreSQL refused as data (a CHECK, a bad value): kept, not retried.

    JSON lines ``{"error": ..., "record": ...}`` in ``rejected.jsonl`` next to the
    spool, so a refused fact is never silently dropped nor retried forever.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / DEAD_LETTER_NAME

    def append(self, payload: bytes, error: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"error": error, "record": payload.decode(errors="replace")})
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())
