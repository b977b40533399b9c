"""A lab process spawned from under ``flock LOCK cmd`` must not keep the lock."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from callctl.lab import process


def test_spawned_process_inherits_no_descriptor_but_stdio(tmp_path: Path) -> None:
    lock = os.open(tmp_path / "lab.lock", os.O_RDONLY | os.O_CREAT)
    os.set_inheritable(lock, True)  # as flock(1) hands it to the command it runs
    try:
        pid = process.spawn(["sleep", "30"], tmp_path / "sleep.pid", tmp_path / "sleep.log")
        try:
            # Poll: while the child execs, the loader briefly holds libraries open.
            deadline = time.monotonic() + 3
            while True:
                fds = {n: _target(pid, n) for n in os.listdir(f"/proc/{pid}/fd")}
                if sorted(fds) == ["0", "1", "2"] or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert sorted(fds) == ["0", "1", "2"], fds
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    finally:
        os.close(lock)


def _target(pid: int, fd: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return "closed"
