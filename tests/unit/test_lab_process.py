"""A lab process started by ``process.spawn`` holds no descriptor it was not given:
not the lab lock of ``flock LOCK pytest``, which it would otherwise keep after the run."""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

from callctl.lab import process


def test_spawned_process_does_not_inherit_the_callers_lock(tmp_path: Path) -> None:
    lock = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT)
    try:
        os.set_inheritable(lock, True)  # as flock(1) hands it to its command
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = process.spawn(["sleep", "30"], tmp_path / "pid", tmp_path / "log")
        try:
            assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2"]
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    finally:
        os.close(lock)
