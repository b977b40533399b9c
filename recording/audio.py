"""The audio itself: MixMonitor's raw stereo, its conversion by sox, its hash.

MixMonitor with option ``D`` on the agent's channel writes interleaved stereo,
8 kHz signed 16-bit little-endian: the left channel is what the agent's channel
sends (the agent's voice), the right what it is sent (the caller's). The kept
FLAC puts the **caller on channel 1 (left) and the agent on channel 2 (right)**:
sox's ``remix 2 1`` swaps them. ``tests/integration/test_recording_capture.py``
checks this way round with a tone on each side.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

RAW_RATE: Final = 8000
RAW_CHANNELS: Final = 2
RAW_SAMPLE_BYTES: Final = 2
CODEC: Final = "flac"
CALLER_CHANNEL: Final = 1
AGENT_CHANNEL: Final = 2


class ConversionError(RuntimeError):
    error_id = "recording.conversion_failed"


@dataclass(frozen=True, slots=True)
class Converted:
    duration_s: float
    channels: int
    sample_rate: int
    codec: str
    size_bytes: int
    sha256: str


def raw_duration_s(size_bytes: int) -> float:
    return size_bytes / (RAW_RATE * RAW_CHANNELS * RAW_SAMPLE_BYTES)


def sox_command(sox: str, raw: Path, out: Path) -> list[str]:
    return [
        sox,
        "-t", "raw", "-r", str(RAW_RATE), "-e", "signed-integer", "-b", "16",
        "-c", str(RAW_CHANNELS), "-L", str(raw),
        "-t", "flac", "-C", "8", str(out),
        "remix", "2", "1",
    ]  # fmt: skip


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sox_binary() -> str:
    path = shutil.which("sox")
    if path is None:
        raise ConversionError("sox not found (Debian package sox; run scripts/setup)")
    return path


def _finish(tmp: Path, out: Path, raw_size: int) -> Converted:
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(out)
    usable = raw_size - raw_size % (RAW_CHANNELS * RAW_SAMPLE_BYTES)  # a torn last frame
    return Converted(
        duration_s=raw_duration_s(usable),
        channels=RAW_CHANNELS,
        sample_rate=RAW_RATE,
        codec=CODEC,
        size_bytes=out.stat().st_size,
        sha256=sha256_file(out),
    )


def convert_blocking(raw: Path, out: Path) -> Converted:
    """``raw`` → ``out`` (FLAC, stereo, caller left), written to a temporary name and
    renamed into place only when sox succeeded. Blocks: run it in a worker thread, where
    starting sox and waiting for it costs the event loop one hand-off instead of a
    subprocess transport, its pipes and a child-watcher thread."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    raw_size = raw.stat().st_size
    proc = subprocess.run(
        sox_command(sox_binary(), raw, tmp),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConversionError(f"sox failed on {raw.name}: {message[-1] if message else '?'}")
    return _finish(tmp, out, raw_size)


async def convert(raw: Path, out: Path) -> Converted:
    """:func:`convert_blocking` in a worker thread."""
    return await asyncio.to_thread(convert_blocking, raw, out)
