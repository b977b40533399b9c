"""Which files in a node's recording spool are finished (read by the collector and the
shipper alike).

A recording is finished when:
- its ``.raw`` has an end marker (``.end``, written by the channel's hangup handler)
  and both have been left alone for ``settle_s``: MixMonitor closes the raw file on
  its own thread just after the hangup, so the marker may land a moment before the
  last frames do;
- or it was renamed ``.done`` (earlier dialplans did it with a MixMonitor post-command,
  which forks Asterisk once per recording);
- or its ``.raw`` has had no marker for ``orphan_after_s`` (Asterisk died during the
  call: the hangup handler never ran).

A marker whose recording is gone (collected, then callctl stopped before removing the
marker; or a channel hung up before MixMonitor made its file) is stale after
``orphan_after_s`` too, and is listed for removal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recording.naming import marker_stem, spool_stem, upload_name

SETTLE_S = 2.0


@dataclass(frozen=True, slots=True)
class SpoolFile:
    node: str
    path: Path
    stem: str
    complete: bool = True
    marker: Path | None = None

    @property
    def upload_name(self) -> str:
        return upload_name(self.stem, complete=self.complete)

    def remove(self) -> None:
        """The recording and its marker, once the recording is stored."""
        self.path.unlink(missing_ok=True)
        if self.marker is not None:
            self.marker.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class SpoolScan:
    ready: list[SpoolFile]
    busy: int
    stale_markers: list[Path]


def scan_spool(
    node: str, spool: Path, *, now: float, orphan_after_s: float, settle_s: float = SETTLE_S
) -> SpoolScan:
    """The node's finished recordings (oldest first), how many are still being written,
    and end markers left without a recording."""
    try:
        entries = list(os.scandir(spool))
    except FileNotFoundError:
        return SpoolScan([], 0, [])
    recordings: dict[str, tuple[Path, bool, float]] = {}
    markers: dict[str, tuple[Path, float]] = {}
    for entry in entries:
        if not entry.is_file():
            continue
        stem = marker_stem(entry.name)
        if stem is not None:
            markers[stem] = (Path(entry.path), entry.stat().st_mtime)
            continue
        parsed = spool_stem(entry.name)
        if parsed is not None:
            stem, renamed = parsed
            recordings[stem] = (Path(entry.path), renamed, entry.stat().st_mtime)
    ready: list[tuple[float, SpoolFile]] = []
    busy = 0
    for stem, (path, renamed, mtime) in recordings.items():
        marker = markers.get(stem)
        ended = marker is not None and now - marker[1] >= settle_s and now - mtime >= settle_s
        if renamed or ended:
            ready.append((mtime, SpoolFile(node, path, stem, True, marker[0] if marker else None)))
        elif marker is None and now - mtime > orphan_after_s:
            ready.append((mtime, SpoolFile(node, path, stem, False)))
        else:
            busy += 1
    stale = [
        path
        for stem, (path, mtime) in markers.items()
        if stem not in recordings and now - mtime > orphan_after_s
    ]
    return SpoolScan([f for _, f in sorted(ready, key=lambda item: item[0])], busy, stale)


def remove_stale_markers(scan: SpoolScan) -> int:
    for path in scan.stale_markers:
        path.unlink(missing_ok=True)
    return len(scan.stale_markers)
