"""Where a rotated queue_log went: its archived siblings, found by name (blocking, small).

Asterisk's ``logger rotate`` renames ``queue_log`` to ``queue_log.0`` (strategy
``rotate``; ``sequential`` and ``timestamp`` use other numbers), logrotate to
``queue_log.1`` or ``queue_log-20261121`` (``dateext``), and logrotate's
``copytruncate`` copies the file there and empties the original in place. A
sibling is a file of the same directory named ``<name>.<digits>`` or
``<name>-<digits>``; compressed archives (``.gz`` ...) do not match and are
never read.

- After a rename, the file the tailer was reading keeps its inode: ``by_inode``
  finds it among the siblings.
- After ``copytruncate`` the copy has a new inode, but the same bytes as the
  original up to the moment it was copied: ``copy_holding`` picks the newest
  sibling that is long enough and has a line boundary at the stored offset.
  That is a heuristic (nothing proves the bytes are the same); a sibling that
  fails it is not read, and the lines are left to ``reconcile``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_SUFFIX = re.compile(r"[.-][0-9]+")


@dataclass(frozen=True, slots=True)
class Sibling:
    path: Path
    inode: int
    size: int
    mtime_ns: int


def rotated_siblings(path: Path) -> list[Sibling]:
    """Archived copies of ``path`` in its directory, newest first (by mtime, then name)."""
    prefix = path.name
    found: list[Sibling] = []
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        if not name.startswith(prefix) or not _SUFFIX.fullmatch(name, len(prefix)):
            continue
        candidate = path.with_name(name)
        try:
            stat = candidate.stat()
        except FileNotFoundError:
            continue  # rotated away meanwhile
        found.append(Sibling(candidate, stat.st_ino, stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda s: (s.mtime_ns, _number(s.path.name[len(prefix) + 1 :])), reverse=True)
    return found


def _number(suffix: str) -> int:
    # queue_log.1 is newer than queue_log.2 with logrotate, older with Asterisk's
    # ``sequential``: the mtime decides; the suffix only breaks exact ties.
    return -int(suffix)


def by_inode(path: Path, inode: int) -> Sibling | None:
    """The sibling that is the file ``inode`` (renamed away by a rotation), if any."""
    for sibling in rotated_siblings(path):
        if sibling.inode == inode:
            return sibling
    return None


def copy_holding(path: Path, offset: int, *, exclude_inode: int) -> Sibling | None:
    """The newest sibling that can hold the first ``offset`` bytes of a truncated file."""
    for sibling in rotated_siblings(path):
        if sibling.inode == exclude_inode or sibling.size < offset:
            continue
        if offset == 0 or _byte_before(sibling.path, offset) == b"\n":
            return sibling
        return None  # the newest long-enough copy is not it: do not guess further back
    return None


def _byte_before(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as file:
            return os.pread(file.fileno(), 1, offset - 1)
    except FileNotFoundError:
        return b""
