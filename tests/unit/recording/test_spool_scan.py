"""Which spool files are finished recordings: a ``.raw`` is complete once its hangup
handler's end marker and the raw file have both been left alone for the settle time;
``.done`` (an earlier dialplan's rename) is complete as it is; a ``.raw`` without a
marker is an orphan only after ``orphan_after_s``; a marker left without a recording is
stale after that age, never before."""

from __future__ import annotations

import os
from pathlib import Path

from recording.spool import SETTLE_S, remove_stale_markers, scan_spool

NOW = 1_800_000_000.0
ORPHAN_S = 3600.0


def _stem(n: int) -> str:
    return f"1733000000.{n}+hotline+12345+1001+1733000000.{n + 100}"


def _file(spool: Path, name: str, age_s: float) -> Path:
    path = spool / name
    path.write_bytes(b"\x01\x00" * 16)
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


def _scan(spool: Path):  # type: ignore[no-untyped-def]
    return scan_spool("a", spool, now=NOW, orphan_after_s=ORPHAN_S)


def test_a_raw_file_is_complete_once_its_marker_and_itself_have_settled(tmp_path: Path) -> None:
    raw = _file(tmp_path, f"{_stem(1)}.raw", 30)
    marker = _file(tmp_path, f"{_stem(1)}.end", SETTLE_S + 0.1)
    scan = _scan(tmp_path)
    assert [(f.path, f.complete, f.marker) for f in scan.ready] == [(raw, True, marker)]
    assert scan.ready[0].upload_name == f"{_stem(1)}.done"
    assert scan.busy == 0 and scan.stale_markers == []


def test_a_fresh_marker_or_a_raw_file_still_written_waits(tmp_path: Path) -> None:
    _file(tmp_path, f"{_stem(1)}.raw", 30)
    _file(tmp_path, f"{_stem(1)}.end", SETTLE_S - 0.5)  # the hangup just now
    _file(tmp_path, f"{_stem(2)}.raw", 0.5)  # MixMonitor's last frames after the marker
    _file(tmp_path, f"{_stem(2)}.end", 5)
    _file(tmp_path, f"{_stem(3)}.raw", ORPHAN_S - 1)  # a long call, no marker yet
    scan = _scan(tmp_path)
    assert scan.ready == [] and scan.busy == 3


def test_done_files_and_old_orphans_are_finished_oldest_first(tmp_path: Path) -> None:
    orphan = _file(tmp_path, f"{_stem(1)}.raw", ORPHAN_S + 1)
    done = _file(tmp_path, f"{_stem(2)}.done", 10)
    scan = _scan(tmp_path)
    assert [(f.path, f.complete) for f in scan.ready] == [(orphan, False), (done, True)]
    assert scan.ready[0].upload_name == f"{_stem(1)}.raw"


def test_removing_a_finished_recording_takes_its_marker(tmp_path: Path) -> None:
    _file(tmp_path, f"{_stem(1)}.raw", 30)
    _file(tmp_path, f"{_stem(1)}.end", 30)
    _scan(tmp_path).ready[0].remove()
    assert list(tmp_path.iterdir()) == []


def test_markers_without_a_recording_are_removed_only_when_stale(tmp_path: Path) -> None:
    stale = _file(tmp_path, f"{_stem(1)}.end", ORPHAN_S + 1)
    recent = _file(tmp_path, f"{_stem(2)}.end", 60)
    foreign = _file(tmp_path, "notes.end", ORPHAN_S + 1)  # not a recording name: not ours
    scan = _scan(tmp_path)
    assert scan.stale_markers == [stale]
    assert remove_stale_markers(scan) == 1
    assert sorted(tmp_path.iterdir()) == sorted([recent, foreign])


def test_a_missing_spool_is_empty(tmp_path: Path) -> None:
    scan = _scan(tmp_path / "absent")
    assert (scan.ready, scan.busy, scan.stale_markers) == ([], 0, [])
