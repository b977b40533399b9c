"""Tones in, tones out: raw stereo like MixMonitor's, and a Goertzel detector."""

from __future__ import annotations

import array
import math
import subprocess
from pathlib import Path

RATE = 8000


def tone(freq: float, seconds: float, amplitude: int = 8000) -> list[int]:
    n = int(RATE * seconds)
    if freq == 0:
        return [0] * n
    return [int(amplitude * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n)]


def interleave(left: list[int], right: list[int]) -> bytes:
    samples = array.array("h")
    for a, b in zip(left, right, strict=True):
        samples.extend((a, b))
    return samples.tobytes()  # little-endian on x86, as Asterisk writes it


def goertzel(samples: list[int], freq: float) -> float:
    """The power of ``freq`` in ``samples``, normalised by their count."""
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(1, len(samples))


def decode_channels(flac: Path) -> tuple[list[int], list[int]]:
    """A kept recording's two channels (1 = left, 2 = right), decoded by sox."""
    raw = subprocess.run(
        ["sox", str(flac), "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-"],
        check=True,
        capture_output=True,
    ).stdout
    samples = array.array("h")
    samples.frombytes(raw)
    return list(samples[0::2]), list(samples[1::2])


def ulaw_tone_wav(path: Path, freq: float, seconds: float) -> Path:
    """A mu-law WAV (format tag 7) of a tone: what SIPp's rtp_stream sends as PCMU."""
    pcm = tone(freq, seconds)
    body = bytes(_ulaw(s) for s in pcm)
    fmt = (
        b"fmt "
        + (18).to_bytes(4, "little")
        + (7).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + RATE.to_bytes(4, "little")
        + RATE.to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (8).to_bytes(2, "little")
        + (0).to_bytes(2, "little")
    )
    fact = b"fact" + (4).to_bytes(4, "little") + len(body).to_bytes(4, "little")
    data = b"data" + len(body).to_bytes(4, "little") + body
    chunks = fmt + fact + data
    path.write_bytes(b"RIFF" + (4 + len(chunks)).to_bytes(4, "little") + b"WAVE" + chunks)
    return path


def _ulaw(sample: int) -> int:
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    for exp in range(7, -1, -1):
        if magnitude & (0x4000 >> (7 - exp)):
            exponent = exp
            break
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF
