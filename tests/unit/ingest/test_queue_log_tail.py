"""The queue_log tailer on real files: complete lines only, rotation, truncation, resume."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callctl.facts.queue_log import (
    EnterQueue,
    Malformed,
    Pause,
    QueueLogEvent,
)
from callctl.ingest.queue_log.tail import (
    QueueLogPosition,
    QueueLogTailer,
    TailBatch,
    split_complete_lines,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "queue_log"

ENTER = b"1732150900|1732150893.5|general|NONE|ENTERQUEUE||13800138000|1\n"
CONNECT = b"1732150904|1732150893.5|general|1001|CONNECT|4|1732150900.6|4\n"
COMPLETE = b"1732151024|1732150893.5|general|1001|COMPLETECALLER|4|120|1\n"
PAUSE_CN = "1795291057|NONE|hotline|1005|PAUSE|小休\n".encode()


@pytest.fixture
def queue_log(tmp_path: Path) -> Path:
    path = tmp_path / "queue_log"
    path.write_bytes(b"")
    return path


@pytest.fixture
async def tailer(queue_log: Path) -> AsyncIterator[QueueLogTailer]:
    async with QueueLogTailer(queue_log, poll_interval_s=0.01) as tailer:
        yield tailer


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


def overwrite(path: Path, data: bytes) -> None:
    """Truncate and write, as logrotate's copytruncate then Asterisk would."""
    path.write_bytes(data)


def rotate(path: Path, archive: str = ".0") -> None:
    path.rename(path.with_name(path.name + archive))


def names(batch: TailBatch | None) -> list[str]:
    assert batch is not None
    return [line.item.event for line in batch.lines if isinstance(line.item, QueueLogEvent)]


async def test_reads_complete_lines_with_their_end_offsets(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, ENTER + CONNECT)

    batch = await tailer.read_batch()

    assert batch is not None
    assert names(batch) == ["ENTERQUEUE", "CONNECT"]
    assert [line.end_offset for line in batch.lines] == [len(ENTER), len(ENTER + CONNECT)]
    assert batch.position == QueueLogPosition(
        str(queue_log), os.stat(queue_log).st_ino, len(ENTER + CONNECT)
    )
    assert not batch.restarted and not batch.replay
    assert await tailer.read_batch() is None


async def test_partial_last_line_waits_for_its_newline(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, ENTER + CONNECT[:20])

    first = await tailer.read_batch()
    assert names(first) == ["ENTERQUEUE"]
    assert first is not None and first.position.offset == len(ENTER)
    assert await tailer.read_batch() is None

    append(queue_log, CONNECT[20:-1])
    assert await tailer.read_batch() is None

    append(queue_log, b"\n")
    second = await tailer.read_batch()
    assert names(second) == ["CONNECT"]
    assert second is not None and second.position.offset == len(ENTER + CONNECT)


async def test_chinese_reason_split_inside_a_character(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    cut = PAUSE_CN.index("小".encode()) + 1  # one byte into the three of 小
    append(queue_log, PAUSE_CN[:cut])
    assert await tailer.read_batch() is None

    append(queue_log, PAUSE_CN[cut:])
    batch = await tailer.read_batch()

    assert batch is not None
    [line] = batch.lines
    assert isinstance(line.item, Pause)
    assert line.item.reason == "小休"
    assert line.end_offset == len(PAUSE_CN)


async def test_undecodable_bytes_do_not_stop_the_tail(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, b"1795291057|NONE|hotline|1005|PAUSE|\xe5\xb0\n" + ENTER)

    batch = await tailer.read_batch()

    assert batch is not None
    first, second = (line.item for line in batch.lines)
    assert isinstance(first, Pause) and first.reason == "\ufffd"
    assert isinstance(second, EnterQueue)


async def test_malformed_lines_are_counted_and_skipped(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, (FIXTURES / "malformed.log").read_bytes())

    batch = await tailer.read_batch()

    assert batch is not None
    assert len(batch.malformed) == 5
    assert {m.line_no for m in batch.malformed} == {2, 4, 5, 7, 8}
    assert len(batch.events) == 6  # the blank line is numbered, not parsed
    assert tailer.metrics.malformed == 5
    assert tailer.metrics.lines == 11


async def test_rotation_drains_the_old_file_then_reads_the_new_one(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, ENTER)
    assert names(await tailer.read_batch()) == ["ENTERQUEUE"]
    old_inode = os.stat(queue_log).st_ino
    # Asterisk writes a last line, then `logger rotate` renames and reopens.
    append(queue_log, CONNECT)
    rotate(queue_log)
    overwrite(queue_log, COMPLETE)

    drained = await tailer.read_batch()
    assert names(drained) == ["CONNECT"]
    assert drained is not None and drained.position.inode == old_inode
    assert not drained.restarted

    fresh = await tailer.read_batch()
    assert names(fresh) == ["COMPLETECALLER"]
    assert fresh is not None and fresh.restarted
    assert fresh.position == QueueLogPosition(
        str(queue_log), os.stat(queue_log).st_ino, len(COMPLETE)
    )
    assert fresh.lines[0].item.line_no == 1
    assert tailer.metrics.rotations == 1


async def test_rotated_away_without_a_new_file_yet(queue_log: Path, tailer: QueueLogTailer) -> None:
    append(queue_log, ENTER)
    await tailer.read_batch()
    rotate(queue_log)

    assert await tailer.read_batch() is None

    overwrite(queue_log, CONNECT)
    assert names(await tailer.read_batch()) == ["CONNECT"]


async def test_truncation_restarts_from_the_beginning(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, ENTER + CONNECT)
    await tailer.read_batch()

    overwrite(queue_log, COMPLETE)  # shorter than the position: copytruncate
    batch = await tailer.read_batch()

    assert names(batch) == ["COMPLETECALLER"]
    assert batch is not None and batch.restarted
    assert batch.position.offset == len(COMPLETE)
    assert tailer.metrics.truncations == 1


async def test_truncated_and_regrown_past_the_position_is_noticed(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, ENTER)
    await tailer.read_batch()

    # Truncated, then refilled beyond the old offset before the next poll:
    # the size alone cannot tell, the byte before the offset is no longer \n.
    overwrite(queue_log, COMPLETE + CONNECT)
    batch = await tailer.read_batch()

    assert names(batch) == ["COMPLETECALLER", "CONNECT"]
    assert batch is not None and batch.restarted


async def test_resume_from_a_saved_position(queue_log: Path) -> None:
    append(queue_log, ENTER + CONNECT + COMPLETE)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino, len(ENTER))

    async with QueueLogTailer(queue_log, resume=saved) as tailer:
        batch = await tailer.read_batch()

    assert names(batch) == ["CONNECT", "COMPLETECALLER"]
    assert batch is not None and not batch.restarted
    assert [line.item.line_no for line in batch.lines] == [2, 3]


async def test_resume_on_another_file_starts_over(queue_log: Path) -> None:
    append(queue_log, ENTER + CONNECT)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino + 1, len(ENTER))

    async with QueueLogTailer(queue_log, resume=saved) as tailer:
        batch = await tailer.read_batch()

    assert names(batch) == ["ENTERQUEUE", "CONNECT"]
    assert batch is not None and batch.restarted


async def test_resume_past_the_end_starts_over(queue_log: Path) -> None:
    append(queue_log, ENTER)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino, 10_000)

    async with QueueLogTailer(queue_log, resume=saved) as tailer:
        batch = await tailer.read_batch()

    assert names(batch) == ["ENTERQUEUE"]
    assert batch is not None and batch.restarted


async def test_warm_up_replays_up_to_the_saved_position(queue_log: Path) -> None:
    append(queue_log, ENTER + CONNECT + COMPLETE)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino, len(ENTER + CONNECT))

    async with QueueLogTailer(
        queue_log, resume=saved, warm_up=True, max_batch_bytes=len(ENTER) + 5
    ) as tailer:
        batches = [await tailer.read_batch() for _ in range(3)]
        assert await tailer.read_batch() is None

    assert [names(b) for b in batches] == [["ENTERQUEUE"], ["CONNECT"], ["COMPLETECALLER"]]
    assert [b.replay for b in batches if b is not None] == [True, True, False]
    assert [b.position.offset for b in batches if b is not None] == [
        len(ENTER),
        len(ENTER + CONNECT),
        len(ENTER + CONNECT + COMPLETE),
    ]


async def test_small_batches_and_a_line_longer_than_a_batch(queue_log: Path) -> None:
    long_caller = b"1732150900|1.1|general|NONE|ENTERQUEUE||" + b"9" * 300 + b"|1\n"
    append(queue_log, ENTER + long_caller + CONNECT)

    async with QueueLogTailer(queue_log, max_batch_bytes=64) as tailer:
        seen: list[str] = []
        while (batch := await tailer.read_batch()) is not None:
            seen += names(batch)

    assert seen == ["ENTERQUEUE", "ENTERQUEUE", "CONNECT"]
    assert tailer.position is not None
    assert tailer.position.offset == len(ENTER + long_caller + CONNECT)


async def test_missing_file_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    async with QueueLogTailer(path) as tailer:
        assert await tailer.read_batch() is None
        assert tailer.position is None
        overwrite(path, ENTER)
        assert names(await tailer.read_batch()) == ["ENTERQUEUE"]
    assert tailer.metrics.missing_polls == 1


async def test_batches_follows_a_growing_file(queue_log: Path, tailer: QueueLogTailer) -> None:
    async def write_slowly() -> None:
        for chunk in (ENTER, CONNECT[:10], CONNECT[10:], COMPLETE):
            append(queue_log, chunk)
            await asyncio.sleep(0.02)

    seen: list[str] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(write_slowly())
        async with asyncio.timeout(2):
            async for batch in tailer.batches():
                seen += names(batch)
                if len(seen) == 3:
                    break

    assert seen == ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"]


def test_split_complete_lines_is_pure() -> None:
    data = b"\n" + ENTER + b"garbage\n" + CONNECT[:5]

    split = split_complete_lines(data, start_offset=100, first_line_no=7)

    assert split.consumed == len(data) - 5
    assert split.newlines == 3
    assert [line.end_offset for line in split.lines] == [101 + len(ENTER), 100 + split.consumed]
    first, second = (line.item for line in split.lines)
    assert isinstance(first, EnterQueue) and first.line_no == 8
    assert isinstance(second, Malformed) and second.line_no == 9


def test_poll_interval_must_be_positive(queue_log: Path) -> None:
    with pytest.raises(ValueError):
        QueueLogTailer(queue_log, poll_interval_s=0)


# --- rotated files read to their end first ------------------------------------------------


def copytruncate(path: Path, data: bytes, archive: str = ".1") -> None:
    """logrotate's copytruncate, then Asterisk writing ``data`` to the emptied file."""
    path.with_name(path.name + archive).write_bytes(path.read_bytes())
    overwrite(path, data)


async def read_all(tailer: QueueLogTailer) -> list[TailBatch]:
    batches = []
    while (batch := await tailer.read_batch()) is not None:
        batches.append(batch)
    return batches


@pytest.mark.parametrize("archive", [".1", ".0", "-20261121"])
async def test_rotated_while_down_reads_the_rest_of_the_old_file_first(
    queue_log: Path, archive: str
) -> None:
    append(queue_log, ENTER + CONNECT)
    old_inode = os.stat(queue_log).st_ino
    saved = QueueLogPosition(str(queue_log), old_inode, len(ENTER))
    rotate(queue_log, archive)
    append(queue_log, COMPLETE)

    async with QueueLogTailer(queue_log, resume=saved) as tailer:
        batches = await read_all(tailer)

    assert [names(b) for b in batches] == [["CONNECT"], ["COMPLETECALLER"]]
    assert [b.restarted for b in batches] == [False, True]
    assert batches[0].position == QueueLogPosition(str(queue_log), old_inode, len(ENTER + CONNECT))
    assert batches[1].position == QueueLogPosition(
        str(queue_log), os.stat(queue_log).st_ino, len(COMPLETE)
    )
    assert [line.item.line_no for line in batches[0].lines] == [2]
    assert tailer.metrics.rotated_reads == 1


async def test_a_restart_while_reading_the_rotated_file_resumes_it(queue_log: Path) -> None:
    append(queue_log, ENTER + CONNECT + COMPLETE)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino, len(ENTER))
    rotate(queue_log)
    append(queue_log, PAUSE_CN)
    async with QueueLogTailer(queue_log, resume=saved, max_batch_bytes=len(CONNECT)) as first:
        batch = await first.read_batch()
    assert names(batch) == ["CONNECT"]
    assert batch is not None

    async with QueueLogTailer(queue_log, resume=batch.position) as second:
        batches = await read_all(second)

    assert [names(b) for b in batches] == [["COMPLETECALLER"], ["PAUSE"]]


async def test_copytruncate_while_down_reads_the_rest_of_the_copy_first(queue_log: Path) -> None:
    append(queue_log, ENTER + CONNECT)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino, len(ENTER))
    copytruncate(queue_log, COMPLETE)

    async with QueueLogTailer(queue_log, resume=saved) as tailer:
        batches = await read_all(tailer)

    assert [names(b) for b in batches] == [["CONNECT"], ["COMPLETECALLER"]]


async def test_copytruncate_while_following_loses_nothing_and_repeats_nothing(
    queue_log: Path, tailer: QueueLogTailer
) -> None:
    append(queue_log, ENTER)
    assert names(await tailer.read_batch()) == ["ENTERQUEUE"]
    append(queue_log, CONNECT)  # written, not read yet, when logrotate copies
    copytruncate(queue_log, COMPLETE)

    batches = await read_all(tailer)

    assert [names(b) for b in batches] == [["CONNECT"], ["COMPLETECALLER"]]
    assert [b.restarted for b in batches] == [False, True]
    assert tailer.metrics.truncations == 1


async def test_warm_up_replays_the_rotated_file_from_its_start(queue_log: Path) -> None:
    append(queue_log, ENTER + CONNECT)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino, len(ENTER))
    rotate(queue_log)
    append(queue_log, COMPLETE)

    async with QueueLogTailer(queue_log, resume=saved, warm_up=True) as tailer:
        batches = await read_all(tailer)

    assert [(names(b), b.replay) for b in batches] == [
        (["ENTERQUEUE"], True),
        (["CONNECT"], False),
        (["COMPLETECALLER"], False),
    ]


async def test_a_sibling_that_cannot_be_the_copy_is_not_read(queue_log: Path) -> None:
    append(queue_log, ENTER + CONNECT)
    saved = QueueLogPosition(str(queue_log), os.stat(queue_log).st_ino, len(ENTER) + 3)
    copytruncate(queue_log, COMPLETE)  # no line boundary at the saved offset in the copy
    queue_log.with_name("queue_log.2.gz").write_bytes(ENTER + CONNECT)  # never read

    async with QueueLogTailer(queue_log, resume=saved) as tailer:
        batches = await read_all(tailer)

    assert [names(b) for b in batches] == [["COMPLETECALLER"]]
    assert batches[0].restarted
    assert tailer.metrics.rotated_reads == 0
