"""The on-disk spool: append, read back in order, torn tails, restart."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callctl.ingest.spool import (
    CORRUPT_SUFFIX,
    MAX_RECORD_BYTES,
    DeadLetters,
    Spool,
    decode_frames,
    encode_frames,
)

OpenSpool = Callable[..., Spool]


def records(start: int, count: int) -> list[bytes]:
    return [f'{{"n": {i}}}'.encode() for i in range(start, start + count)]


def read_all(spool: Spool) -> list[bytes]:
    return [r for path in spool.segments() for r in spool.read_segment(path).records]


@pytest.fixture
def open_spool() -> Iterator[OpenSpool]:
    """Opens spools and closes them after the test (an open segment is a file handle)."""
    opened: list[Spool] = []

    def open_(directory: Path, segment_max_bytes: int = 1 << 20) -> Spool:
        spool = Spool(directory, segment_max_bytes=segment_max_bytes)
        spool.open()
        opened.append(spool)
        return spool

    yield open_
    for spool in opened:
        spool.close()


def test_frames_round_trip() -> None:
    payloads = [b"", b"a", b"x" * 1000]
    assert decode_frames(encode_frames(payloads)) == (payloads, 0)


def test_append_then_read_back_in_order_across_segments(
    tmp_path: Path, open_spool: OpenSpool
) -> None:
    spool = open_spool(tmp_path, segment_max_bytes=64)
    for start in range(0, 50, 10):
        spool.append(records(start, 10))
    assert spool.pending_records == 50
    assert len(spool.segments()) > 1
    assert read_all(spool) == records(0, 50)


def test_empty_append_creates_nothing(tmp_path: Path, open_spool: OpenSpool) -> None:
    spool = open_spool(tmp_path)
    spool.append([])
    assert spool.segments() == []
    assert list(tmp_path.iterdir()) == []


def test_remove_forgets_a_segment(tmp_path: Path, open_spool: OpenSpool) -> None:
    spool = open_spool(tmp_path, segment_max_bytes=1)
    spool.append(records(0, 3))
    spool.append(records(3, 2))
    first, second = spool.segments()
    spool.remove(spool.read_segment(first))
    assert not first.exists()
    assert spool.segments() == [second]
    assert spool.pending_records == 2


def test_reading_the_active_segment_seals_it(tmp_path: Path, open_spool: OpenSpool) -> None:
    # The drainer deletes what it read: later appends must not land in that file.
    spool = open_spool(tmp_path)
    spool.append(records(0, 2))
    (active,) = spool.segments()
    contents = spool.read_segment(active)
    spool.append(records(2, 1))
    spool.remove(contents)
    assert read_all(spool) == records(2, 1)


def test_restart_sees_old_records_first_and_appends_after_them(
    tmp_path: Path, open_spool: OpenSpool
) -> None:
    with Spool(tmp_path) as first:
        first.append(records(0, 3))

    second = open_spool(tmp_path)
    assert second.pending_records == 3
    second.append(records(3, 2))
    assert len(second.segments()) == 2
    assert read_all(second) == records(0, 5)


def test_torn_tail_is_detected_counted_and_kept(tmp_path: Path, open_spool: OpenSpool) -> None:
    spool = open_spool(tmp_path)
    spool.append(records(0, 3))
    spool.close()
    (segment,) = tmp_path.glob("*.spool")
    data = segment.read_bytes()
    segment.write_bytes(data[:-4])  # a crash in the middle of the last record

    reopened = open_spool(tmp_path)
    assert reopened.corrupt_segments == 1
    assert reopened.pending_records == 2
    contents = reopened.read_segment(segment)
    assert contents.records == records(0, 2)
    assert contents.torn_bytes > 0
    reopened.remove(contents)
    assert not segment.exists()
    assert segment.with_name(segment.name + CORRUPT_SUFFIX).exists()
    assert reopened.segments() == []


def test_crc_mismatch_stops_reading(tmp_path: Path, open_spool: OpenSpool) -> None:
    frames = bytearray(encode_frames(records(0, 3)))
    frames[-2] ^= 0xFF  # flip a bit inside the last payload
    assert decode_frames(bytes(frames)) == (records(0, 2), len(encode_frames(records(2, 1))))


def test_absurd_length_is_not_allocated() -> None:
    header = (MAX_RECORD_BYTES + 1).to_bytes(4, "big") + b"\0\0\0\0"
    assert decode_frames(header + b"x" * 10) == ([], 18)


def test_foreign_files_are_ignored(tmp_path: Path, open_spool: OpenSpool) -> None:
    (tmp_path / "notes.spool").write_text("not a segment")
    (tmp_path / "0000000000000001.spool.corrupt").write_bytes(b"\0\0")
    spool = open_spool(tmp_path)
    assert spool.segments() == []
    spool.append(records(0, 1))
    assert read_all(spool) == records(0, 1)


def test_failed_append_leaves_no_partial_frame(
    tmp_path: Path, open_spool: OpenSpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = open_spool(tmp_path)
    spool.append(records(0, 2))

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        spool.append(records(2, 5))
    monkeypatch.undo()

    assert spool.pending_records == 2
    spool.append(records(7, 1))
    assert read_all(spool) == records(0, 2) + records(7, 1)
    assert open_spool(tmp_path).corrupt_segments == 0


def test_dead_letters_are_json_lines(tmp_path: Path) -> None:
    dead = DeadLetters(tmp_path)
    dead.append(b'{"s": "ami"}', "CHECK wait_s >= 0")
    dead.append(b"\xff", "bad")
    lines = [json.loads(line) for line in dead.path.read_text().splitlines()]
    assert lines[0] == {"error": "CHECK wait_s >= 0", "record": '{"s": "ami"}'}
    assert lines[1]["error"] == "bad"
