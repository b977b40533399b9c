"""Rotated queue_log siblings: which files count, in which order, and which is which."""

from __future__ import annotations

import os
from pathlib import Path

from callctl.ingest.queue_log.rotation import by_inode, copy_holding, rotated_siblings


def make(path: Path, data: bytes, mtime: int) -> Path:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def test_siblings_are_numbered_or_dated_uncompressed_files_newest_first(tmp_path: Path) -> None:
    current = make(tmp_path / "queue_log", b"", 400)
    make(tmp_path / "queue_log.2", b"", 100)
    make(tmp_path / "queue_log.1", b"", 200)
    make(tmp_path / "queue_log-20261121", b"", 300)
    for other in ("queue_log.3.gz", "queue_log.old", "queue_logs.1", "messages.1"):
        make(tmp_path / other, b"", 500)

    names = [s.path.name for s in rotated_siblings(current)]

    assert names == ["queue_log-20261121", "queue_log.1", "queue_log.2"]


def test_same_mtime_logrotate_numbering_breaks_the_tie(tmp_path: Path) -> None:
    current = make(tmp_path / "queue_log", b"", 400)
    make(tmp_path / "queue_log.2", b"", 100)
    make(tmp_path / "queue_log.1", b"", 100)

    assert [s.path.name for s in rotated_siblings(current)] == ["queue_log.1", "queue_log.2"]


def test_by_inode_finds_the_renamed_file(tmp_path: Path) -> None:
    current = make(tmp_path / "queue_log", b"a\n", 100)
    inode = os.stat(current).st_ino
    current.rename(tmp_path / "queue_log.0")
    make(current, b"", 200)

    found = by_inode(current, inode)
    assert found is not None and found.path.name == "queue_log.0"
    assert by_inode(current, inode + 12345) is None


def test_copy_holding_needs_the_length_and_a_line_boundary(tmp_path: Path) -> None:
    current = make(tmp_path / "queue_log", b"x\n", 300)
    inode = os.stat(current).st_ino
    make(tmp_path / "queue_log.1", b"line one\nline two\n", 200)

    found = copy_holding(current, 9, exclude_inode=inode)
    assert found is not None and found.path.name == "queue_log.1"
    assert copy_holding(current, 10, exclude_inode=inode) is None  # mid-line
    assert copy_holding(current, 100, exclude_inode=inode) is None  # too short


def test_no_directory_no_siblings(tmp_path: Path) -> None:
    assert rotated_siblings(tmp_path / "missing" / "queue_log") == []
