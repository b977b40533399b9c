"""Start and stop the lab's background processes, tracked by pid file."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    try:
        # First line only: PostgreSQL's postmaster.pid holds more after the pid.
        return int(pid_file.read_text().splitlines()[0].strip())
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def is_running(pid: int, name_part: str) -> bool:
    """True if ``pid`` is alive and its command line contains ``name_part``.

    Checking the command line keeps us from signalling a recycled pid.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return alive(pid) and name_part.encode() in cmdline


def running_pid(pid_file: Path, name_part: str) -> int | None:
    pid = read_pid(pid_file)
    if pid is not None and is_running(pid, name_part):
        return pid
    return None


def spawn(cmd: list[str], pid_file: Path, log_file: Path) -> int:
    """Start ``cmd`` detached (own session, output to ``log_file``) and record its pid.

    posix_spawn rather than Popen: the process outlives this one on purpose, and a
    dropped Popen object would warn that it is still running.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    executable = shutil.which(cmd[0])
    if executable is None:
        raise FileNotFoundError(cmd[0])
    pid = os.posix_spawn(
        executable,
        cmd,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
            *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()),
        ],
        setsid=True,
    )
    pid_file.write_text(f"{pid}\n")
    return pid


def _inherited_fds() -> list[int]:
    """This process's descriptors above stderr that a spawned child would inherit.

    posix_spawn passes on every descriptor not marked close-on-exec. A long-lived lab
    process must not keep one: a ``flock LOCK cmd`` around the test run hands its lock
    descriptor down, and an Asterisk holding it keeps the shared lab lock forever.
    """
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        with contextlib.suppress(OSError):  # the listing's own descriptor, now closed
            if os.get_inheritable(fd):
                fds.append(fd)
    return fds


def stop(pid_file: Path, name_part: str, timeout_s: float = 10.0) -> bool:
    """Stop what ``pid_file`` names (SIGTERM, then SIGKILL); True if something was stopped."""
    pid = running_pid(pid_file, name_part)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid, name_part):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        while is_running(pid, name_part):
            time.sleep(0.05)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
