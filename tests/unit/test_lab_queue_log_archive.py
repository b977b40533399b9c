"""The lab's queue_log started afresh at a test run, its history kept compressed."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from callctl.ingest.queue_log.rotation import rotated_siblings
from callctl.lab.lab import archive_queue_log
from callctl.settings import Settings

LINES = b"1764766000|1764766000.1|hotline|NONE|ENTERQUEUE||13900000001|1\n" * 3


def test_history_is_kept_compressed_and_the_log_starts_empty(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_bytes(LINES)
    inode = log.stat().st_ino
    settings = Settings(queue_log_path=log)
    archive = archive_queue_log(settings, now=datetime(2026, 12, 3, 17, 30, tzinfo=UTC))
    assert archive == tmp_path / "queue_log.20261203T173000.gz"
    assert gzip.decompress(archive.read_bytes()) == LINES
    # Emptied in place: the file Asterisk holds open (O_APPEND) is the same one.
    assert log.read_bytes() == b"" and log.stat().st_ino == inode
    # Reconcile never takes the archive for a rotated sibling of the log.
    assert rotated_siblings(log) == []


def test_nothing_to_keep(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    assert archive_queue_log(Settings(queue_log_path=log)) is None
    log.write_bytes(b"")
    assert archive_queue_log(Settings(queue_log_path=log)) is None
    assert list(tmp_path.iterdir()) == [log]
