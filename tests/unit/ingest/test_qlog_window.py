"""Reading only the part of queue_log a reconcile window needs gives the facts of a whole fold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callctl.ingest.queue_log.fold import FileFold, fold_file
from callctl.ingest.queue_log.synth import synth_queue_log
from callctl.ingest.queue_log.window import (
    AgentLines,
    ReadFrom,
    agent_lines,
    line_epoch,
    offset_of_time,
    plan_reads,
)

NODE = "ast1"
MARGIN = 2 * 3600
MAX_CALL = 4 * 3600
START = 1_795_000_000

LINES = [
    b"1795000000|MANAGER|hotline|1001|ADDMEMBER|\n",
    b"garbage without a time\n",
    b"1795000010|c1|hotline|NONE|ENTERQUEUE||138|1\n",
    b"1795000010|c2|hotline|NONE|ENTERQUEUE||139|1\n",
    b"1795000020|c1|hotline|1001|CONNECT|10|x.1|1\n",
    b"1795000030|NONE|NONE|1001|PAUSEALL|acw\n",
]
DATA = b"".join(LINES)


@pytest.fixture(scope="module")
def whole(day: Path) -> FileFold:
    return fold_file(day, NODE)


def start_of(index: int) -> int:
    return sum(len(line) for line in LINES[:index])


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("day") / "queue_log"
    path.write_text("".join(synth_queue_log(40_000, start=START)), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("target", "index"),
    [
        (0, 0),
        (1_795_000_000, 0),
        # An untimed line just before the first match is read too (and counted malformed).
        (1_795_000_001, 1),
        (1_795_000_010, 1),
        (1_795_000_011, 4),
        (1_795_000_030, 5),
        (1_795_000_031, 6),  # past the end
    ],
)
def test_offset_of_time(tmp_path: Path, target: int, index: int) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(DATA)
    with path.open("rb") as file:
        assert offset_of_time(file.fileno(), len(DATA), target) == start_of(index)


def test_offset_of_time_finds_the_first_line_of_a_second(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    data = LINES[0] + LINES[2] + LINES[3] + LINES[4]
    path.write_bytes(data)
    with path.open("rb") as file:
        assert offset_of_time(file.fileno(), len(data), 1_795_000_010) == len(LINES[0])


def test_line_epoch() -> None:
    assert line_epoch(b"1795000000|x|y") == 1_795_000_000
    assert line_epoch(b"|x") is None
    assert line_epoch(b"17950x0000|x") is None
    assert line_epoch(b"1795000000") is None  # cut before the first bar


def test_agent_lines_finds_agent_events_in_order() -> None:
    found = [line for _, line in agent_lines(DATA + b"1795000040|NONE|NONE|1001|UNPAUSEALL|\n")]
    assert found == [LINES[0].rstrip(), LINES[5].rstrip(), b"1795000040|NONE|NONE|1001|UNPAUSEALL|"]


def test_agent_lines_keeps_logins_and_each_agents_pauses_since_its_last_unpause() -> None:
    needed = AgentLines({"PJSIP/1002": "1002"})
    for line in (
        b"1|MANAGER|q|PJSIP/1002|ADDMEMBER|",
        b"2|NONE|NONE|1001|PAUSEALL|lunch",
        b"3|NONE|q|1001|UNPAUSE|",
        b"4|NONE|NONE|1002|PAUSEALL|training",
        b"5|NONE|NONE|1001|PAUSEALL|acw",
        b"6|NONE|q|1001|PAUSE|acw",
        b"7|MANAGER|q|PJSIP/1002|REMOVEMEMBER|",
        b"8|NONE|q|1003|UNPAUSE|",
    ):
        needed.add(line)

    assert needed.lines() == [
        b"1|MANAGER|q|PJSIP/1002|ADDMEMBER|",
        b"4|NONE|NONE|1002|PAUSEALL|training",
        b"5|NONE|NONE|1001|PAUSEALL|acw",
        b"6|NONE|q|1001|PAUSE|acw",
        b"7|MANAGER|q|PJSIP/1002|REMOVEMEMBER|",
    ]


@pytest.mark.parametrize("gap_hours_back", [1, 3, 8, 14, 30])
def test_windowed_fold_equals_the_whole_fold(
    day: Path, whole: FileFold, gap_hours_back: int
) -> None:
    assert whole.last_time is not None
    since = whole.last_time - gap_hours_back * 3600
    horizon = since - MARGIN

    windowed = fold_file(day, NODE, read_from=horizon - MAX_CALL)

    assert windowed.facts_since(horizon) == whole.facts_since(horizon)
    assert windowed.end_offset == whole.end_offset
    if gap_hours_back < 14:
        assert windowed.lines < whole.lines  # it did skip something
        assert windowed.read[0].offset > 0


def test_window_crosses_a_rotation(day: Path, whole: FileFold, tmp_path: Path) -> None:
    """queue_log.1 holds the morning, queue_log the rest: read the end of one, then the other."""
    data = day.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    current = tmp_path / "queue_log"
    (tmp_path / "queue_log.1").write_bytes(data[:cut])
    os.utime(tmp_path / "queue_log.1", (1, 1))
    (tmp_path / "queue_log.2").write_bytes(b"1|NONE|NONE|9999|PAUSEALL|stale\n")  # older
    os.utime(tmp_path / "queue_log.2", (0, 0))
    current.write_bytes(data[cut:])
    assert whole.first_time is not None and whole.last_time is not None
    first_of_current = int(data[cut : cut + 10])
    since = first_of_current + 3600  # the gap starts just after the rotation
    horizon = since - MARGIN

    windowed = fold_file(current, NODE, read_from=horizon - MAX_CALL)

    assert [r.path.name for r in windowed.read] == ["queue_log.1", "queue_log"]
    assert windowed.read[0].offset > 0 and windowed.read[1].offset == 0
    assert windowed.facts_since(horizon) == whole.facts_since(horizon)
    assert windowed.end_offset == len(data) - cut


def test_plan_reads_only_the_current_file_when_it_reaches_back_far_enough(day: Path) -> None:
    (day.parent / "queue_log.1").write_bytes(b"1|NONE|NONE|1|PAUSEALL|x\n")
    try:
        (plan,) = plan_reads(day, START + 3600)
        assert plan.path == day and plan.offset > 0
        assert plan_reads(day, 0) == [ReadFrom(day.parent / "queue_log.1", 0), ReadFrom(day, 0)]
    finally:
        (day.parent / "queue_log.1").unlink()
