"""Two Asterisk nodes behind Kamailio, started from ``callctl config render`` output:
calls spread over both; when one is SIGKILLed, new calls reach the other within
seconds, and the calls that were in flight on the dead node are lost (counted)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callctl.lab import kamailio, node, sipp
from callctl.lab.cluster import KAMAILIO_IP, Cluster, down, lab_cluster, up
from callctl.settings import Settings

pytestmark = pytest.mark.integration

TRUNK_IP = "127.0.0.2"
CALLS = 40
RATE_PER_S = 5.0
KILL_AFTER_S = 4.1  # between two calls' INVITEs (one every 0.2 s)
FAILOVER_LIMIT_S = 5.0
NODE_B = "sip:127.0.1.1:5060"
# queue_log events that end a queue entry; an entry without one was cut by the crash.
CLOSING = frozenset(
    {
        "COMPLETECALLER",
        "COMPLETEAGENT",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITEMPTY",
        "EXITWITHKEY",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
    }
)


@dataclass(frozen=True, slots=True)
class Entry:
    at: int
    callid: str
    caller: str


@dataclass(frozen=True, slots=True)
class NodeLog:
    entries: dict[str, Entry]  # caller number → entry
    closed: set[str]  # callids

    @property
    def open_callids(self) -> set[str]:
        return {e.callid for e in self.entries.values()} - self.closed


def read_queue_log(path: Path, offset: int) -> NodeLog:
    entries: dict[str, Entry] = {}
    closed: set[str] = set()
    with path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", errors="replace")
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) < 5:
            continue
        if fields[4] == "ENTERQUEUE" and len(fields) >= 7:
            entries[fields[6]] = Entry(int(fields[0]), fields[1], fields[6])
        elif fields[4] in CLOSING:
            closed.add(fields[1])
    return NodeLog(entries, closed)


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@pytest.fixture
def cluster(settings: Settings) -> Iterator[Cluster]:
    """Nodes a (127.0.2.1) and b (127.0.1.1) beside the shared lab's Asterisk, which
    is left alone; Kamailio on 127.0.0.9 in front of both. All stopped afterwards."""
    nodes = lab_cluster(settings)
    up(settings, nodes)
    try:
        yield nodes
    finally:
        down(nodes)


async def wait_flag(front: kamailio.LabKamailio, uri: str, flag: str, timeout_s: float) -> float:
    """Seconds until Kamailio's probing shows ``uri`` with ``flag`` first (``I`` inactive,
    ``A`` active)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        flags = await asyncio.to_thread(kamailio.destinations, front)
        if flags.get(uri, "").startswith(flag):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"{uri} not {flag} after {timeout_s} s: {flags}")


async def test_node_killed_mid_run_new_calls_go_to_the_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    flags = kamailio.destinations(cluster.front)
    assert set(flags) == {"sip:127.0.2.1:5060", "sip:127.0.1.1:5060"}
    assert all(f.startswith("A") for f in flags.values()), flags
    offsets = {n.node_id: size(n.queue_log) for n in (cluster.a, cluster.b)}
    uas = [
        await sipp.start_agents(
            work_dir=tmp_path / f"agents-{n.node_id}",
            local_ip=n.agents_ip,
            port=5060,
            ring_s=0.5,
            talk_s=2.0,
        )
        for n in (cluster.a, cluster.b)
    ]
    callers = [sipp.Caller(number=f"1390000{i:04d}", name="市民") for i in range(CALLS)]
    try:
        started = time.time()
        run = asyncio.create_task(
            sipp.run_callers(
                sipp.CallerRun(
                    calls=CALLS,
                    rate_per_s=RATE_PER_S,
                    patience_s=12,
                    talk_s=4,
                    callers=callers,
                    scenario="caller_via_proxy.xml",
                ),
                work_dir=tmp_path / "callers",
                local_ip=TRUNK_IP,
                remote=f"{KAMAILIO_IP}:5060",
                timeout_s=60,
            )
        )
        await asyncio.sleep(started + KILL_AFTER_S - time.time())
        killed_at = time.time()
        assert node.kill(cluster.b)
        detected_s = await wait_flag(cluster.front, NODE_B, "I", 10)
        result = await run
    finally:
        for proc in uas:
            await sipp.stop_agents(proc)

    log_a = read_queue_log(cluster.a.queue_log, offsets["a"])
    log_b = read_queue_log(cluster.b.queue_log, offsets["b"])
    sent = {c.number: started + i / RATE_PER_S for i, c in enumerate(callers)}
    # Both nodes took calls before the kill; no call was queued on both.
    assert log_a.entries and log_b.entries, (len(log_a.entries), len(log_b.entries))
    assert not set(log_a.entries) & set(log_b.entries)
    # Every call sent well before the kill was queued on one node or the other.
    before = [n for n, at in sent.items() if at < killed_at - 0.5]
    assert all(n in log_a.entries or n in log_b.entries for n in before)
    # Every call sent after the kill reached node a, none later than the limit.
    after = [n for n, at in sent.items() if at > killed_at]
    assert after and all(n in log_a.entries for n in after), sorted(set(after) - set(log_a.entries))
    delays = {n: log_a.entries[n].at - sent[n] for n in after}
    worst = max(delays.values())
    # queue_log has whole seconds: allow one more.
    assert worst <= FAILOVER_LIMIT_S + 1, delays
    assert detected_s <= FAILOVER_LIMIT_S
    # The calls in flight on b when it died never closed: lost, and counted here.
    lost = log_b.open_callids
    assert lost, "the kill should have cut calls in flight on b"
    # b back: Kamailio's probes see it and it takes calls again.
    await asyncio.to_thread(node.restart, cluster.b)
    back_s = await wait_flag(cluster.front, NODE_B, "A", 10)
    assert back_s <= FAILOVER_LIMIT_S
    print(
        f"\nkamailio failover: a {len(log_a.entries)} calls, b {len(log_b.entries)} "
        f"({len(lost)} in flight at the kill: lost); b marked inactive {detected_s:.1f} s "
        f"after the kill; worst post-kill call reached a {worst:.1f} s after it was sent; "
        f"sipp: {result.successful} ok, {result.failed} failed; b restarted and active "
        f"again {back_s:.1f} s after FullyBooted"
    )
