"""Bytes per call-hour of a kept recording (FLAC stereo, 8 kHz, 16 bit), measured by
converting call-like audio with the same sox command callctl uses.

The speech is SIPp's own sample (``/usr/share/sip-tester/g711a.pcap``, A-law RTP),
looped. Two cases: *turns* (each party speaks half the time, line noise at about
-60 dBFS while listening: what a hotline call looks like) and *both* (both channels
speech all the time: an upper bound). Also the raw MixMonitor bytes and the G.711
bytes for comparison. Prints the figures and a Haikou-sized year.

    .venv/bin/python benchmarks/bench_recording_storage.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import array
import random
import struct
import subprocess
import tempfile
from pathlib import Path

from recording.audio import sox_binary, sox_command

PCAP = Path("/usr/share/sip-tester/g711a.pcap")
RATE = 8000


def speech_samples() -> list[int]:
    """The pcap's RTP payloads (A-law), decoded to 16-bit PCM by sox."""
    data = PCAP.read_bytes()
    offset, payload = 24, bytearray()
    while offset + 16 <= len(data):
        incl = struct.unpack("<I", data[offset + 8 : offset + 12])[0]
        packet = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        payload += packet[14 + 20 + 8 + 12 :]  # Ethernet, IPv4, UDP, RTP headers
    pcm = subprocess.run(
        [sox_binary(), "-t", "al", "-r", str(RATE), "-c", "1", "-", "-t", "raw", "-e",
         "signed-integer", "-b", "16", "-L", "-"],
        input=bytes(payload), check=True, capture_output=True,
    ).stdout  # fmt: skip
    samples = array.array("h")
    samples.frombytes(pcm)
    return list(samples)


def noise(n: int, rng: random.Random, level: int = 30) -> list[int]:
    return [int(rng.gauss(0, level)) for _ in range(n)]


def channel(
    speech: list[int], seconds: int, turn_s: float, speaks_first: bool, rng: random.Random
) -> list[int]:
    out: list[int] = []
    total = seconds * RATE
    turn = int(turn_s * RATE)
    talking = speaks_first
    pos = 0
    while len(out) < total:
        if talking:
            chunk = [speech[(pos + i) % len(speech)] for i in range(turn)]
            pos += turn
        else:
            chunk = noise(turn, rng)
        out.extend(chunk)
        talking = not talking
    return out[:total]


def flac_bytes(left: list[int], right: list[int], work: Path) -> int:
    raw = work / "call.raw"
    pcm = array.array("h")
    for a, b in zip(left, right, strict=True):
        pcm.extend((a, b))
    raw.write_bytes(pcm.tobytes())
    out = work / "call.flac"
    subprocess.run(sox_command(sox_binary(), raw, out), check=True)
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--calls-per-day", type=int, default=10_000, help="Haikou-sized")
    parser.add_argument("--talk-s", type=float, default=240, help="average talk time")
    args = parser.parse_args()
    rng = random.Random(14)
    speech = speech_samples()
    seconds = args.minutes * 60
    hours = seconds / 3600
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        turns = flac_bytes(
            channel(speech, seconds, 6.0, True, rng),
            channel(speech[len(speech) // 2 :], seconds, 6.0, False, rng),
            work,
        )
        both = flac_bytes(
            [speech[i % len(speech)] for i in range(seconds * RATE)],
            [speech[(i + len(speech) // 2) % len(speech)] for i in range(seconds * RATE)],
            work,
        )
    raw_per_h = RATE * 2 * 2 * 3600
    g711_per_h = RATE * 2 * 3600
    per_h_turns = turns / hours
    per_h_both = both / hours
    print(f"audio measured: {args.minutes} min, 8 kHz stereo")
    print(f"raw MixMonitor (16-bit stereo): {raw_per_h / 1e6:.1f} MB per call-hour")
    print(f"G.711 stereo (8 bit):           {g711_per_h / 1e6:.1f} MB per call-hour")
    print(f"FLAC stereo, turns:             {per_h_turns / 1e6:.1f} MB per call-hour")
    print(f"FLAC stereo, both talking:      {per_h_both / 1e6:.1f} MB per call-hour")
    call_hours_year = args.calls_per_day * 365 * args.talk_s / 3600
    print(
        f"year at {args.calls_per_day} answered calls/day x {args.talk_s:.0f} s: "
        f"{call_hours_year:,.0f} call-hours -> FLAC (turns) "
        f"{call_hours_year * per_h_turns / 1e12:.2f} TB, (both) "
        f"{call_hours_year * per_h_both / 1e12:.2f} TB; 3 years kept: "
        f"{3 * call_hours_year * per_h_turns / 1e12:.2f} TB (turns)"
    )


if __name__ == "__main__":
    main()
