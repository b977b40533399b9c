"""callctl's CPU per call against Asterisk's: callctl CPU ÷ Asterisk CPU under real calls.

Runs ``callctl serve`` as a process (configured by its settings, here the environment,
against a scratch database of its own) while SIPp places calls into each Asterisk node
at ``--calls-per-s`` for ``--seconds``, answered by the agents' SIPp UAS after a short
ring and a short talk. CPU is utime+stime from ``/proc`` for each process tree (callctl,
every node's Asterisk, PostgreSQL with its backends), over the load window. The goal is
callctl ÷ Asterisk ≤ 0.5. CPU time per process is meaningful on a shared machine; the
load average is printed so that contention can be judged.

    flock /tmp/callctl-lab.lock .venv/bin/python -m benchmarks.bench_cpu_ratio \
        [--calls-per-s 10] [--seconds 60] [--cluster | --node ID=PID@HOST:PORT ...] \
        [--py-spy OUT]

``--cluster`` is the issue's case: the lab's two-node cluster (``callctl.lab.cluster``,
nodes a and b with Kamailio in front; started when not running, and stopped again
afterwards if the benchmark started it), callctl serving both from the cluster's nodes
file, and the callers sending ``--calls-per-s`` × 2 through Kamailio, whose round-robin
dispatcher gives each node ``--calls-per-s``. Kamailio's CPU is printed apart and is not
in the ratio. Without ``--cluster`` or ``--node``, the lab's one node (``callctl lab
up``, reused when running). Several ``--node`` options measure several nodes, each with
its own SIPp callers at the given rate; callctl must then be configured (environment) to
watch them all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from benchmarks import proc_cpu
from benchmarks.lab_harness import (
    CLUSTER_TRUNK_IP,
    BenchNode,
    ClusterRun,
    callers_via_proxy,
    free_tcp_port,
    lab_cluster_nodes,
    lab_up,
    metric,
    scrape,
    settle,
    spawn_callctl,
    wait_connected,
)
from callctl.db import asyncpg_dsn, resolve_database_url, scratch_database
from callctl.settings import Settings

TARGET_RATIO = 0.5
_NODE = re.compile(r"(?P<id>[A-Za-z0-9_.-]{1,64})=(?P<pid>\d+)@(?P<host>[0-9.]+):(?P<port>\d+)")


def parse_node(text: str) -> BenchNode:
    match = _NODE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"--node {text!r}: expected ID=PID@HOST:PORT")
    return BenchNode(match["id"], int(match["pid"]), match["host"], int(match["port"]))


# --- the load ---------------------------------------------------------------------------------


async def place_calls(
    node: BenchNode, args: argparse.Namespace, work: Path
) -> tuple[int, int, int]:
    """(calls, answered, failed) for one node's callers."""
    from callctl.lab import sipp

    calls = int(args.calls_per_s * args.seconds)
    result = await sipp.run_callers(
        sipp.CallerRun(calls=calls, rate_per_s=args.calls_per_s, patience_s=30, talk_s=600),
        work_dir=work / f"callers-{node.node_id}",
        local_ip=args.trunk_ip,
        remote=f"{node.sip_host}:{node.sip_port}",
        timeout_s=args.seconds + 90,
    )
    return calls, result.counts.get("200 in", 0), result.failed


async def place_calls_via_proxy(
    cluster: ClusterRun, nodes: int, args: argparse.Namespace, work: Path
) -> tuple[int, int, int]:
    """(calls, answered, failed) for callers sending every node's rate through Kamailio."""
    from callctl.lab import sipp

    rate = args.calls_per_s * nodes
    calls = int(rate * args.seconds)
    result = await callers_via_proxy(
        sipp.CallerRun(calls=calls, rate_per_s=rate, patience_s=30, talk_s=600),
        cluster,
        trunk_ip=args.trunk_ip,
        work=work,
        timeout_s=args.seconds + 90,
    )
    return calls, result.counts.get("200 in", 0), result.failed


async def start_profiler(pid: int, seconds: float, out: Path) -> asyncio.subprocess.Process:
    py_spy = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        str(py_spy), "record", "--pid", str(pid), "--duration", str(int(seconds)),
        "--rate", "100", "--format", "raw", "--nonblocking", "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def measure(
    url: str,
    nodes: list[BenchNode],
    postgres_pid: int | None,
    args: argparse.Namespace,
    cluster: ClusterRun | None,
) -> None:
    from callctl.lab import sipp

    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        work = Path(tmp)
        http_port = free_tcp_port()
        base = f"http://127.0.0.1:{http_port}"
        agents = [
            await sipp.start_agents(
                work_dir=work / f"agents-{n}",
                local_ip=ip,
                port=port,
                ring_s=args.ring_s,
                talk_s=args.talk_s,
            )
            for n, (ip, port) in enumerate(args.agents)
        ]
        callctl = await spawn_callctl(url, work, http_port, cluster.env if cluster else {})
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await wait_connected(client, base, len(nodes), timeout_s=60)
                await settle(callctl.pid, args.settle_s)
                await run_load(client, base, callctl.pid, nodes, postgres_pid, args, work, cluster)
                print(await events_by_name(url))
                print(await events_by_node(url))
        finally:
            callctl.send_signal(signal.SIGTERM)
            await asyncio.wait_for(callctl.wait(), 30)
            for proc in agents:
                await sipp.stop_agents(proc)
            tail = (work / "callctl.log").read_text(errors="replace")[-2000:]
            if "Traceback" in tail:
                print(tail)


async def run_load(
    client: httpx.AsyncClient,
    base: str,
    callctl_pid: int,
    nodes: list[BenchNode],
    postgres_pid: int | None,
    args: argparse.Namespace,
    work: Path,
    cluster: ClusterRun | None,
) -> None:
    groups: dict[str, list[int]] = {"callctl": [callctl_pid]}
    groups |= {f"asterisk:{n.node_id}": [n.pid] for n in nodes}
    if postgres_pid is not None:
        groups["postgresql"] = [postgres_pid]
    if cluster is not None and cluster.proxy_pid is not None:
        groups["kamailio"] = [cluster.proxy_pid]
    profiler = None
    if args.py_spy:
        profiler = await start_profiler(callctl_pid, args.seconds, Path(args.py_spy))
    events_before = sum(metric(await scrape(client, base), "callctl_ami_events_total"))
    load_before = os.getloadavg()[0]
    main_before = proc_cpu.thread_ticks(callctl_pid).get(callctl_pid, 0)
    seeds_before = count_seeds(work)
    before = proc_cpu.sample(groups, time.monotonic())
    if cluster is not None:
        results = [await place_calls_via_proxy(cluster, len(nodes), args, work)]
    else:
        results = await asyncio.gather(*(place_calls(n, args, work) for n in nodes))
    await asyncio.sleep(1.0)  # the last events through the pipeline and the writers
    after = proc_cpu.sample(groups, time.monotonic())
    main_after = proc_cpu.thread_ticks(callctl_pid).get(callctl_pid, 0)
    seeds = count_seeds(work) - seeds_before
    load_after = os.getloadavg()[0]
    events = sum(metric(await scrape(client, base), "callctl_ami_events_total")) - events_before
    if profiler is not None:
        await profiler.wait()

    window = after.at - before.at
    cpu = proc_cpu.percent_of_core(before, after)
    asterisk = sum(v for k, v in cpu.items() if k.startswith("asterisk:"))
    calls = sum(r[0] for r in results)
    answered = sum(r[1] for r in results)
    failed = sum(r[2] for r in results)
    ids = ",".join(n.node_id for n in nodes)
    route = f"through Kamailio {cluster.proxy}" if cluster else "directly to each node"
    print(
        f"load: {args.calls_per_s:g} calls/s per node for {args.seconds:g} s on "
        f"{len(nodes)} node(s) [{ids}] {route}: {calls} calls, {answered} answered, "
        f"{failed} failed; {events:,.0f} AMI events at callctl ({events / window:,.0f}/s)"
    )
    print(
        f"window {window:.1f} s; load average {load_before:.2f} → {load_after:.2f} "
        f"on {os.cpu_count()} cores (other work on the machine included)"
    )
    per_node = "  ".join(
        f"{k.removeprefix('asterisk:')} {v:.1f}"
        for k, v in cpu.items()
        if k.startswith("asterisk:")
    )
    pg = f"{cpu['postgresql']:.1f}" if "postgresql" in cpu else "n/a"
    kam = f"  kamailio {cpu['kamailio']:.1f}" if "kamailio" in cpu else ""
    print(
        f"CPU, % of one core: callctl {cpu['callctl']:.1f}  asterisk {asterisk:.1f} "
        f"({per_node})  postgresql {pg}{kam}"
    )
    main = 100.0 * (main_after - main_before) / proc_cpu.CLOCK_TICKS / window
    print(
        f"callctl split: event-loop thread {main:.1f}, other threads (queue_log folds, "
        f"spool) {cpu['callctl'] - main:.1f}; reconciles during the load: {seeds}"
    )
    ratio = cpu["callctl"] / asterisk if asterisk > 0 else float("inf")
    pg_ratio = f"{cpu['postgresql'] / asterisk:.2f}" if "postgresql" in cpu else "n/a"
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(
        f"ratio callctl ÷ asterisk: {ratio:.2f}  (postgresql ÷ asterisk: {pg_ratio}; "
        f"goal ≤ {TARGET_RATIO}: {verdict})"
    )
    if profiler is not None:
        print(f"py-spy samples: {args.py_spy}")


async def events_by_name(url: str, limit: int = 12) -> str:
    """The most frequent AMI events callctl stored (its raw-event table), for the report."""
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT name, count(*) AS n FROM ami_events GROUP BY name ORDER BY n DESC, name"
        )
    finally:
        await conn.close()
    total = sum(r["n"] for r in rows)
    top = ", ".join(f"{r['name']} {r['n']}" for r in rows[:limit])
    return f"events stored: {total:,} in {len(rows)} kinds; {top}"


async def events_by_node(url: str) -> str:
    """AMI events callctl stored per node: both nodes' events flowed."""
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        rows = await conn.fetch("SELECT node, count(*) AS n FROM ami_events GROUP BY node")
    finally:
        await conn.close()
    return "events stored by node: " + ", ".join(
        f"{r['node']} {r['n']:,}" for r in sorted(rows, key=lambda r: str(r["node"]))
    )


def count_seeds(work: Path) -> int:
    """Reconciles callctl ran (each is followed by a re-seed of the live view, logged)."""
    log = work / "callctl.log"
    return log.read_text(errors="replace").count("seeded today's figures") if log.exists() else 0


def endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not re.fullmatch(r"[0-9.]+", host) or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected IP:PORT")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-s", type=float, default=10.0, help="per node")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ring-s", type=float, default=0.1, help="agents ring this long")
    parser.add_argument("--talk-s", type=float, default=1.0, help="agents talk this long")
    parser.add_argument("--settle-s", type=float, default=3.0, help="idle time after start")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="the lab's two-node cluster, calls through Kamailio (the issue's case)",
    )
    parser.add_argument(
        "--node", type=parse_node, action="append", help="ID=PID@SIP_HOST:PORT (repeat)"
    )
    parser.add_argument(
        "--agents", type=endpoint, action="append", help="agents' UAS IP:PORT (repeat)"
    )
    parser.add_argument("--trunk-ip", default=None, help="callers' address (the trunk)")
    parser.add_argument("--postgres-pid", type=int, default=None)
    parser.add_argument("--py-spy", default=None, help="record callctl with py-spy (raw)")
    args = parser.parse_args()
    settings = Settings()
    if args.cluster and args.node:
        parser.error("--cluster and --node exclude each other")
    postgres_pid = args.postgres_pid
    if args.cluster:
        lab = lab_up(settings)  # the lab's PostgreSQL
        database_url = settings.database_url or lab.env["CALLCTL_DATABASE_URL"]
        with lab_cluster_nodes(settings) as (nodes, cluster):
            args.agents = args.agents or cluster.agents
            args.trunk_ip = args.trunk_ip or CLUSTER_TRUNK_IP
            with scratch_database(database_url, "bench_cpu") as url:
                asyncio.run(measure(url, nodes, postgres_pid or lab.postgres_pid, args, cluster))
        return
    if args.node:
        nodes = args.node
    else:
        lab = lab_up(settings)
        nodes = [lab.node]
        postgres_pid = postgres_pid or lab.postgres_pid
        # callctl serves the lab's node with what `lab up` produced, unless set already
        settings = settings.model_copy(
            update={"database_url": settings.database_url or lab.env["CALLCTL_DATABASE_URL"]}
        )
        for name, value in lab.env.items():
            os.environ.setdefault(name, value)
    args.agents = args.agents or [(settings.agents_ip, 5060)]
    args.trunk_ip = args.trunk_ip or settings.trunk_ip
    with scratch_database(resolve_database_url(settings), "bench_cpu") as url:
        asyncio.run(measure(url, nodes, postgres_pid, args, None))


if __name__ == "__main__":
    main()
