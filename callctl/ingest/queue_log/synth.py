"""A synthetic, realistic day of queue_log (deterministic for a seed).

Agents log in once at the start (sessions span the day) and a few take long
pauses, so that a reconcile window sees logins and pauses older than any call.
Calls arrive evenly; each is answered by a free agent (some after a
RINGNOANSWER, some transferred to the other queue), abandoned or timed out.
Answered calls end with the dialplan's ``acw`` pause (PAUSEALL + PAUSE), lifted
later (UNPAUSEALL + UNPAUSE). Line formats are Asterisk 22's (asterisk-notes.md).

Test and benchmark support (like ``ami.testing``): used by ``benchmarks/bench_reconcile.py``
and the windowed-fold tests; nothing in the service imports it.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

QUEUES = ("hotline", "expert")


@dataclass
class _Day:
    rng: random.Random
    start: int
    agents: list[str]
    lines: list[tuple[int, int, str]] = field(default_factory=list)
    free_at: dict[str, int] = field(default_factory=dict)
    seq: int = 0

    def emit(self, at: int, text: str) -> None:
        self.seq += 1
        self.lines.append((at, self.seq, f"{at}|{text}\n"))

    def free_agent(self, at: int) -> str | None:
        free = [a for a in self.agents if self.free_at.get(a, 0) < at]
        return self.rng.choice(free) if free else None

    def queue_stay(self, at: int, callid: str, queue: str, caller: str) -> int | None:
        """One stay; returns when the call moves on to the other queue, else None."""
        rng = self.rng
        self.emit(at, f"{callid}|{queue}|NONE|ENTERQUEUE||{caller}|1")
        wait = rng.randint(0, 40)
        if rng.random() < 0.12:
            kind = "ABANDON" if rng.random() < 0.7 else "EXITWITHTIMEOUT"
            self.emit(at + wait, f"{callid}|{queue}|NONE|{kind}|1|1|{wait}")
            return None
        agent = self.free_agent(at + wait)
        if agent is None:
            self.emit(at + wait, f"{callid}|{queue}|NONE|ABANDON|1|1|{wait}")
            return None
        if rng.random() < 0.2 and wait >= 15:
            self.emit(at + 15, f"{callid}|{queue}|{rng.choice(self.agents)}|RINGNOANSWER|15000")
        connected = at + wait
        self.emit(connected, f"{callid}|{queue}|{agent}|CONNECT|{wait}|{connected}.9|2")
        talk = rng.randint(20, 600)
        ended = connected + talk
        moved = rng.random() < 0.05
        if moved:
            other = QUEUES[1 - QUEUES.index(queue)]
            transfer = f"BLINDTRANSFER|{other}|transfer-to-queue|{wait}|{talk}|1"
            self.emit(ended, f"{callid}|{queue}|{agent}|{transfer}")
        else:
            who = rng.choice(("COMPLETECALLER", "COMPLETEAGENT"))
            self.emit(ended, f"{callid}|{queue}|{agent}|{who}|{wait}|{talk}|1")
        self.emit(ended, f"NONE|NONE|{agent}|PAUSEALL|acw")
        for name in QUEUES:
            self.emit(ended, f"NONE|{name}|{agent}|PAUSE|acw")
        back = ended + rng.randint(5, 200)
        self.emit(back, f"NONE|NONE|{agent}|UNPAUSEALL|")
        for name in QUEUES:
            self.emit(back, f"NONE|{name}|{agent}|UNPAUSE|")
        self.free_at[agent] = back + 1
        return ended if moved else None


def synth_queue_log(lines: int, *, start: int = 1_795_000_000, seed: int = 7) -> Iterator[str]:
    """About ``lines`` queue_log lines over one day, in time order."""
    rng = random.Random(seed)
    agents = [str(1001 + n) for n in range(160)]
    day = _Day(rng, start, agents)
    for agent in agents:
        for queue in QUEUES:
            day.emit(start, f"MANAGER|{queue}|{agent}|ADDMEMBER|")
    # Long pauses (training) from early on: older than any call in a late window.
    for number, agent in enumerate(agents[:4]):
        back = start + (5 if number % 2 else 20) * 3600
        day.emit(start + 60, f"NONE|NONE|{agent}|PAUSEALL|培训")
        day.emit(back, f"NONE|NONE|{agent}|UNPAUSEALL|")
        day.free_at[agent] = back + 1
    calls = max(1, lines // 8)
    step = 86_000 / calls
    for n in range(calls):
        at = start + 120 + int(n * step)
        callid = f"{at}.{n}"
        caller = f"138{rng.randint(0, 99_999_999):08d}"
        stay_queue = rng.choice(QUEUES)
        moved_at = day.queue_stay(at, callid, stay_queue, caller)
        while moved_at is not None:
            stay_queue = QUEUES[1 - QUEUES.index(stay_queue)]
            moved_at = day.queue_stay(moved_at, callid, stay_queue, caller)
    end = start + 86_300
    for agent in agents[-10:]:
        for queue in QUEUES:
            day.emit(end, f"MANAGER|{queue}|{agent}|REMOVEMEMBER|")
    heapq.heapify(day.lines)
    while day.lines:
        yield heapq.heappop(day.lines)[2]
