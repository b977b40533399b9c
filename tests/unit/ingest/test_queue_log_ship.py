"""The shipper's pure parts: rows of a batch, the state file, node ids; and the fold of
shipped lines, which must equal the fold of the file they came from."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from callctl.ingest.queue_log.fold import fold_file, fold_lines
from callctl.ingest.queue_log.ship import (
    PostgresLineSink,
    QueueLogShipper,
    ShipperState,
    StateFile,
    StateFileError,
    decode_state,
    encode_state,
)
from callctl.ingest.queue_log.shipped import (
    InvalidNodeIdError,
    ShippedLine,
    check_node_id,
    lines_of_batch,
)
from callctl.ingest.queue_log.tail import QueueLogPosition, QueueLogTailer

ENTER = b"1732150900|1732150893.5|general|NONE|ENTERQUEUE||13800138000|1\n"
CONNECT = b"1732150904|1732150893.5|general|1001|CONNECT|4|1732150900.6|4\n"
COMPLETE = b"1732151024|1732150893.5|general|1001|COMPLETECALLER|4|120|1\n"
PAUSE_CN = "1732151030|NONE|general|1001|PAUSE|小休\n".encode()
ENTER_2 = b"1732151100|1732151099.7|general|NONE|ENTERQUEUE||13900139000|1\n"


async def test_rows_carry_file_identity_offsets_and_times(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(ENTER + b"garbage\n" + PAUSE_CN)
    async with QueueLogTailer(path) as tailer:
        batch = await tailer.read_batch()
    assert batch is not None
    rows = lines_of_batch(batch)
    inode = os.stat(path).st_ino
    assert [(r.inode, r.file_start) for r in rows] == [(inode, 1732150900)] * 3
    assert [r.end_offset for r in rows] == [
        len(ENTER),
        len(ENTER) + 8,
        len(ENTER) + 8 + len(PAUSE_CN),
    ]
    assert [r.logged_at for r in rows] == [1732150900, None, 1732151030]
    assert rows[2].line == "1732151030|NONE|general|1001|PAUSE|小休"  # no newline, decoded


async def test_copytruncate_gives_the_refilled_file_another_identity(tmp_path: Path) -> None:
    # Same inode, offsets from 0 again: without the file's first epoch in the key the
    # new lines would collide with the old ones and be dropped as replays.
    path = tmp_path / "queue_log"
    path.write_bytes(ENTER + CONNECT)
    async with QueueLogTailer(path) as tailer:
        first = await tailer.read_batch()
        (tmp_path / "queue_log.1").write_bytes(path.read_bytes())
        path.write_bytes(ENTER_2)
        second = await tailer.read_batch()
        while second is not None and not second.lines:
            second = await tailer.read_batch()
    assert first is not None and second is not None
    old = {(r.inode, r.file_start, r.end_offset) for r in lines_of_batch(first)}
    new = {(r.inode, r.file_start, r.end_offset) for r in lines_of_batch(second)}
    assert {r[0] for r in old} == {r[0] for r in new}  # the same inode
    assert len(ENTER_2) in {r[2] for r in new} and not old & new


def test_state_round_trip_and_atomic_file(tmp_path: Path) -> None:
    position = QueueLogPosition("/var/log/asterisk/queue_log", 1234, 5678)
    assert decode_state(encode_state(ShipperState("node-b", position)), node="node-b") == position
    state = StateFile(tmp_path / "state" / "ship.json", "node-b")
    assert state.load() is None
    state.save(position)
    state.save(QueueLogPosition(position.path, 1234, 9999))
    assert state.load() == QueueLogPosition(position.path, 1234, 9999)
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["ship.json"]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"node": "a", "path": "/q", "inode": 1, "offset": 2}', "for node 'a'"),
        (b'{"node": "b", "path": "/q", "inode": -1, "offset": 2}', "inode and offset"),
        (b'{"node": "b", "path": "/q", "inode": 1, "offset": true}', "inode and offset"),
        (b'{"node": "b", "inode": 1, "offset": 2}', "needs a path"),
    ],
)
def test_a_bad_state_file_is_refused_with_a_clear_error(data: bytes, why: str) -> None:
    with pytest.raises(StateFileError, match=why):
        decode_state(data, node="b")


@pytest.mark.parametrize("node", ["lab", "node-b", "ast01.bj", "A_1"])
def test_plain_node_ids_pass(node: str) -> None:
    assert check_node_id(node) == node


@pytest.mark.parametrize("node", ["", "-x", "a b", "a\r\nAction: Originate", "é", "x" * 64])
def test_other_node_ids_are_refused(node: str) -> None:
    with pytest.raises(InvalidNodeIdError):
        check_node_id(node)


def test_fold_of_shipped_lines_equals_fold_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    data = ENTER + CONNECT + COMPLETE + PAUSE_CN + ENTER_2
    path.write_bytes(data)
    from_file = fold_file(path, "lab")
    texts = data.decode().splitlines()
    shipped = fold_lines(Path("shipped:lab"), "lab", (), texts)
    assert shipped.facts == from_file.facts
    assert (shipped.first_time, shipped.last_time, shipped.lines) == (
        from_file.first_time,
        from_file.last_time,
        from_file.lines,
    )


def test_fold_of_shipped_lines_in_two_batches_keeps_the_folder_state() -> None:
    from callctl.facts.from_queue_log import QueueLogFolder

    folder = QueueLogFolder("lab")
    texts = (ENTER + CONNECT + COMPLETE).decode().splitlines()
    fold_lines(Path("x"), "lab", (), texts[:1], folder=folder)
    second = fold_lines(Path("x"), "lab", (), texts[1:], folder=folder)
    (entry,) = second.entries
    assert (entry.outcome, entry.wait_s, entry.talk_s, entry.caller_num) == (
        "answered",
        4,
        120,
        "13800138000",
    )
    assert folder.stats.orphans == 0


def test_agent_lines_before_a_window_restore_a_pause() -> None:
    window = fold_lines(Path("x"), "lab", [PAUSE_CN.decode().rstrip("\n")], [])
    assert any(type(f).__name__ == "AgentStateInterval" for f in window.facts)


class _MemorySink(PostgresLineSink):
    """Keeps the lines it is sent (the shipper's loop without a database)."""

    def __init__(self) -> None:
        super().__init__("postgresql://unused@127.0.0.1/unused", "node-b")
        self.lines: list[ShippedLine] = []

    async def send(self, lines: list[ShippedLine]) -> int:
        self.lines += lines
        return len(lines)

    async def close(self) -> None:
        return None


async def _until(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_position_saved_at_most_every_interval_and_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(ENTER)
    state = StateFile(tmp_path / "ship.state", "node-b")
    sink = _MemorySink()
    shipper = QueueLogShipper(
        "node-b", path, sink, state, poll_interval_s=0.01, save_interval_s=3600
    )
    task = asyncio.create_task(shipper.run())
    try:
        await _until(lambda: shipper.stats.lines == 1)
        await _until(lambda: state.load() is not None)  # saved in a thread after the count
        first = state.load()
        assert first is not None and first.offset == len(ENTER)
        with path.open("ab") as log_file:
            log_file.write(CONNECT)
        await _until(lambda: shipper.stats.lines == 2)
        with path.open("ab") as log_file:
            log_file.write(COMPLETE)
        await _until(lambda: shipper.stats.lines == 3)
        assert state.load() == first  # two batches since: not saved again yet
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    last = state.load()
    assert last is not None and last.offset == len(ENTER + CONNECT + COMPLETE)
    assert [line.end_offset for line in sink.lines] == [
        len(ENTER),
        len(ENTER + CONNECT),
        len(ENTER + CONNECT + COMPLETE),
    ]
