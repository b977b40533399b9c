"""Backups of the kept recordings (语音数据备份), and the restore drill.

``backup(..., full=False)`` copies each kept recording whose copy in the target
is missing or whose hash there differs from the one stored at capture (a hash the
target's ``MANIFEST.tsv`` records, so an unchanged file is not read again); a
full backup re-copies and re-hashes everything. Copies go to a temporary name,
are hashed, then renamed, and the manifest is rewritten atomically last: an
interrupted run is finished by the next.

The drill reads a backup as a restore would: every file in the manifest must
exist, hash to the metadata's SHA-256 and decode (``sox ... -n``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from recording.audio import sha256_file, sox_binary
from recording.naming import is_safe_location

MANIFEST = "MANIFEST.tsv"


@dataclass
class BackupReport:
    copied: int = 0
    unchanged: int = 0
    bytes_copied: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass
class DrillReport:
    checked: int = 0
    bad_hash: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked > 0 and not (self.bad_hash or self.missing or self.undecodable)


def read_manifest(target: Path) -> dict[str, str]:
    """location → sha256 of what the target holds."""
    path = target / MANIFEST
    if not path.is_file():
        return {}
    entries: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        sha, _, location = line.partition("\t")
        if location and is_safe_location(location):
            entries[location] = sha
    return entries


def write_manifest(target: Path, entries: dict[str, str]) -> None:
    tmp = target / f".{MANIFEST}.tmp"
    tmp.write_text(
        "".join(f"{sha}\t{loc}\n" for loc, sha in sorted(entries.items())), encoding="utf-8"
    )
    os.replace(tmp, target / MANIFEST)


def copy_one(store: Path, target: Path, location: str, sha256: str) -> bool:
    """Copy and verify one file; False when the source does not match its hash."""
    dest = target / location
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(store / location, tmp)
    if sha256_file(tmp) != sha256:
        tmp.unlink()
        return False
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    return True


def _backup_sync(
    store: Path, target: Path, rows: list[tuple[str, str]], full: bool
) -> BackupReport:
    target.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(target)
    report = BackupReport()
    for location, sha in rows:
        if not is_safe_location(location):
            report.failed.append(location)
            continue
        if not full and manifest.get(location) == sha and (target / location).is_file():
            report.unchanged += 1
            continue
        try:
            ok = copy_one(store, target, location, sha)
        except FileNotFoundError:
            ok = False
        if not ok:
            report.failed.append(location)
            continue
        manifest[location] = sha
        report.copied += 1
        report.bytes_copied += (target / location).stat().st_size
    write_manifest(target, manifest)
    return report


async def backup(pool: asyncpg.Pool, store: Path, target: Path, *, full: bool) -> BackupReport:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT location, sha256 FROM recordings WHERE deleted_at IS NULL ORDER BY id"
        )
    pairs = [(r["location"], r["sha256"]) for r in rows]
    return await asyncio.to_thread(_backup_sync, store, target, pairs, full)


async def _decodes(path: Path) -> bool:
    proc = await asyncio.create_subprocess_exec(
        sox_binary(),
        str(path),
        "-n",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await proc.wait() == 0


async def restore_drill(pool: asyncpg.Pool, source: Path) -> DrillReport:
    """Check a backup against the metadata: present, same hash, decodes."""
    manifest = await asyncio.to_thread(read_manifest, source)
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT location, sha256 FROM recordings WHERE deleted_at IS NULL")
    expected = {r["location"]: r["sha256"] for r in rows}
    report = DrillReport()
    for location, sha in sorted(expected.items()):
        report.checked += 1
        path = source / location
        if location not in manifest or not await asyncio.to_thread(path.is_file):
            report.missing.append(location)
        elif await asyncio.to_thread(sha256_file, path) != sha:
            report.bad_hash.append(location)
        elif not await _decodes(path):
            report.undecodable.append(location)
    return report
