"""Export (导出): a ZIP of chosen recordings with a manifest of their hashes, built in a
temporary file (recordings are too large to hold in memory)."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from recording.naming import is_safe_location

CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ExportItem:
    recording_id: int
    location: str
    sha256: str
    started_at: str


def build_bundle(store: Path, items: Sequence[ExportItem]) -> IO[bytes]:
    """The ZIP (FLAC files stored as they are, and ``manifest.json``), rewound."""
    # Handed to the response, whose chunks() closes it after the last byte.
    bundle = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_STORED) as archive:
            for item in items:
                if not is_safe_location(item.location):
                    raise ValueError(f"recording {item.recording_id}: location outside the store")
                archive.write(store / item.location, f"{item.recording_id}.flac")
            manifest = [
                {
                    "recording_id": i.recording_id,
                    "file": f"{i.recording_id}.flac",
                    "sha256": i.sha256,
                    "started_at": i.started_at,
                }
                for i in items
            ]
            archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    except BaseException:
        bundle.close()
        raise
    bundle.seek(0)
    return bundle


def chunks(bundle: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := bundle.read(CHUNK):
            yield block
    finally:
        bundle.close()
