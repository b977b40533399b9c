"""What the lab benchmarks share: the lab or its two-node cluster brought up, callctl run
as a process (``callctl serve``, settings alone) and read from its /metrics, and callers
sent through Kamailio.

bench_cpu_ratio, bench_lab_load and bench_wallboard use these; none of it is imported by
callctl itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from benchmarks import proc_cpu
from callctl.settings import Settings

if TYPE_CHECKING:
    from callctl.lab.cluster import Cluster
    from callctl.lab.sipp import CallerRun, SippResult

CLUSTER_TRUNK_IP = "127.0.0.2"  # the callers' address in front of Kamailio


@dataclass(frozen=True, slots=True)
class BenchNode:
    """One Asterisk node: its id, its process (tree root) and where its SIP listens."""

    node_id: str
    pid: int
    sip_host: str
    sip_port: int


@dataclass(frozen=True, slots=True)
class LabRun:
    """The lab (brought up or reused): its node, its PostgreSQL's pid and the settings
    ``lab up`` produced for the service (database URL, nodes file, initial routing)."""

    node: BenchNode
    postgres_pid: int | None
    env: dict[str, str]


def lab_up(settings: Settings) -> LabRun:
    from callctl.lab import asterisk, postgres
    from callctl.lab import lab as lab_module

    report = lab_module.up(settings)
    pid = asterisk.running(lab_module.asterisk_paths(settings))
    if pid is None:
        raise SystemExit("bench: the lab's Asterisk is not running after `lab up`")
    node = BenchNode(settings.node_id, pid, settings.sip_host, settings.sip_port)
    return LabRun(node, postgres.running(lab_module.embedded_pg(settings)), report.env)


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """The cluster's side of a run: callctl's settings for both nodes, where the callers
    send (Kamailio) and Kamailio's pid (its CPU is shown apart); the lab's cluster, and
    whether this run started it (then it is brought down at the end)."""

    env: dict[str, str]
    proxy: str
    proxy_pid: int | None
    lab: Cluster
    started: bool
    agents: list[tuple[str, int]] = field(default_factory=list)


@contextmanager
def lab_cluster_nodes(settings: Settings) -> Iterator[tuple[list[BenchNode], ClusterRun]]:
    """The two-node cluster's nodes (brought up unless running, and then brought down at
    the end) and what callctl and the callers need to use it."""
    from callctl.lab import cluster as lab_cluster
    from callctl.lab import node as lab_node
    from callctl.lab import process
    from callctl.lab.lab import archive_log

    cluster = lab_cluster.lab_cluster(settings)
    started = not all(lab_node.running(n) for n in cluster.nodes)
    if started:
        lab_cluster.up(settings, cluster)
    # Each run's callctl starts from empty queue_logs, as the single-node benches do (the
    # lab fixture's archive): earlier runs' calls would otherwise be followed, rolled up
    # and counted in this run's CPU. The history is kept beside them, compressed.
    for n in cluster.nodes:
        archive_log(n.queue_log)
    try:
        nodes = []
        for n in cluster.nodes:
            pid = lab_node.running(n)
            if pid is None:
                raise SystemExit(f"bench: cluster node {n.node_id} is not running")
            nodes.append(BenchNode(n.node_id, pid, n.ip, n.sip_port))
        env = {
            "CALLCTL_NODES_FILE": str(lab_cluster.nodes_file(cluster)),
            # The live view's lines and queues: node a's document (same lines and queues
            # on both nodes; only the agents' contact addresses differ).
            "CALLCTL_INITIAL_ROUTING_FILE": str(cluster.a.work_dir / "routing.json"),
        }
        yield (
            nodes,
            ClusterRun(
                env=env,
                proxy=f"{lab_cluster.KAMAILIO_IP}:5060",
                proxy_pid=process.running_pid(cluster.front.pid_file, "kamailio"),
                lab=cluster,
                started=started,
                agents=[(n.agents_ip, 5060) for n in cluster.nodes],
            ),
        )
    finally:
        if started:
            lab_cluster.down(cluster)


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def spawn_callctl(
    url: str, work: Path, http_port: int, extra_env: dict[str, str]
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        **extra_env,
        "CALLCTL_DATABASE_URL": url,
        "CALLCTL_SPOOL_DIR": str(work / "spool"),
        "CALLCTL_HTTP_PORT": str(http_port),
        "CALLCTL_METRICS_TOKEN": SCRAPE_TOKEN,
    }
    log = await asyncio.to_thread((work / "callctl.log").open, "ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callctl.cli", "serve", env=env, stdout=log, stderr=log
        )
    finally:
        log.close()


def metric(text: str, name: str) -> list[float]:
    """Values of one Prometheus metric, every label set (pure)."""
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", re.M)
    return [float(value) for value in pattern.findall(text)]


SCRAPE_TOKEN = "bench-scrape-token-0123456789abcdef"  # /metrics needs one


async def scrape(client: httpx.AsyncClient, base: str) -> str:
    headers = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    return (await client.get(f"{base}/metrics", headers=headers)).text


async def wait_connected(
    client: httpx.AsyncClient, base: str, nodes: int, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            health = (await client.get(f"{base}/health")).json()
            connected = metric(await scrape(client, base), "callctl_ami_connected")
            if health.get("status") == "ok" and len(connected) >= nodes and all(connected):
                return
        except (httpx.HTTPError, ValueError):
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("callctl did not come up with every AMI node connected")


async def settle(pid: int, quiet_s: float, limit_s: float = 60) -> None:
    """Wait until callctl's start-up work (reconcile of queue_log, seeding) is over: its
    CPU below 2% of a core for ``quiet_s`` in a row."""
    deadline = time.monotonic() + limit_s
    quiet_since = time.monotonic()
    last = proc_cpu.sample({"callctl": [pid]}, time.monotonic())
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = proc_cpu.sample({"callctl": [pid]}, time.monotonic())
        if proc_cpu.percent_of_core(last, now)["callctl"] > 2.0:
            quiet_since = now.at
        elif now.at - quiet_since >= quiet_s:
            return
        last = now
    print(f"note: callctl was still busy {limit_s:.0f} s after start")


async def callers_via_proxy(
    run: CallerRun, cluster: ClusterRun, *, trunk_ip: str, work: Path, timeout_s: float
) -> SippResult:
    """``run``'s callers sent to Kamailio, whose round-robin dispatcher spreads them over
    the nodes (the scenario keeps its Record-Route for the ACK and BYE)."""
    from callctl.lab import sipp

    return await sipp.run_callers(
        dataclasses.replace(run, scenario="caller_via_proxy.xml"),
        work_dir=work / "callers-proxy",
        local_ip=trunk_ip,
        remote=cluster.proxy,
        timeout_s=timeout_s,
    )
