"""Load on the real lab: calls/s through the trunk, N agents answering, recording on.

    flock -o /tmp/callctl-lab.lock .venv/bin/python -m benchmarks.bench_lab_load \
        [--calls-per-s 5] [--talk-s 60] [--agents 340] [--seconds 120] [--patience-s 60] \
        [--cluster]

The lab (``callctl lab up``) with callctl running as in production (``callctl serve``,
settings alone, a scratch database of its own). ``--agents`` other than the lab's 20
puts the lab's routing model with that many agents through ``PUT /api/v1/routing/config``
(rendered, checked and reloaded as any change; the lab is brought back to its own model
at the end). One SIPp UAS answers for every agent (ring ``--ring-s``, talk ``--talk-s``);
SIPp callers come in through the trunk at ``--calls-per-s`` for ``--seconds``, with
ringback and ``--patience-s``; every call is recorded (MixMonitor at the line's entry).
With ``--audio`` both parties send RTP for the whole call (the caller a 1000 Hz tone, the
agents 400 Hz, mu-law made by sox), so Asterisk bridges and records real media; without
it SIPp sends no RTP and the figures leave out the media cost.

It prints, for the load window: calls placed, answered, failed (SIPp); the most calls
in the system at once (callers waiting + agents ringing or talking, from callctl's live
view every second); Asterisk's, callctl's and PostgreSQL's CPU (/proc) and the
callctl ÷ Asterisk ratio; callctl's RSS at the start and end of the load; event → fact
commit p50/p99 (the writer's own measure, /metrics); AMI event at callctl → wallboard
websocket frame p50/p99 (a real websocket client, each delta's ``at`` against its
arrival); and ``verify`` for the window (queue_log against the stored entries; 0
differences expected, retried while the facts converge).

``--cluster`` runs the same load over the lab's two nodes behind Kamailio (the cluster
of ``callctl.lab.cluster``, started when not running and stopped again afterwards if
the bench started it): callctl serves both from the cluster's nodes file, the callers
send ``--calls-per-s`` in total to Kamailio (its round-robin gives each node half), and
each node has ``--agents`` agents. The routing API renders the one document on every
node, agents and their static contact included: after a change both nodes ring the
agents at node a's UAS address (a UAS runs at each node's agents address all the same,
for the cluster's own model). Asterisk's CPU is summed over the nodes (each shown too);
Kamailio's is shown apart, out of the ratio; ``verify`` runs for each node. A cluster
the bench did not start gets each node's own model back at the end (the node restarted
from ``config render``). Each node records into its own spool (its ``[node.layout]`` in
the cluster's nodes file, kept by a change through the API), and callctl collects them
from there (``recordings_dir``), as in the single-node run. Not with ``--audio`` (no
caller scenario sends RTP through the proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import websockets

from benchmarks import proc_cpu
from benchmarks.lab_harness import (
    CLUSTER_TRUNK_IP,
    BenchNode,
    ClusterRun,
    LabRun,
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
from callctl.db import scratch_database
from callctl.settings import Settings

if TYPE_CHECKING:
    from callctl.ingest.queue_log.source import QueueLogSource
    from callctl.lab.sipp import SippResult

LAB_AGENTS = 20
_LIVE_TYPES = frozenset({"queue", "agent", "kpi", "node_link"})
"""Deltas made from an AMI event (their ``at`` is its arrival at callctl)."""


@dataclass
class LoadResult:
    placed: int = 0
    answered: int = 0
    failed: int = 0
    max_in_system: int = 0
    max_waiting: int = 0
    max_talking: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    window_s: float = 0.0
    rss_start_kib: int = 0
    rss_end_kib: int = 0
    fact_p50_ms: float | None = None
    fact_p99_ms: float | None = None
    fact_samples: int = 0
    frame_lags: list[float] = field(default_factory=list)
    verify_line: str = ""
    verify_differences: int = -1
    events: float = 0.0
    spooled: int = 0
    rollbacks: int = 0
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since the load began, callctl's RSS in KiB), every ``--rss-every-s``."""
    sipp_error: str = ""
    """Why SIPp's callers did not finish; then every call is counted failed."""
    pg_waits: dict[str, int] = field(default_factory=dict)
    """``--pg-waits``: samples of callctl's PostgreSQL backends, by what each was doing."""
    warnings: list[str] = field(default_factory=list)
    load_avg: tuple[float, float] = (0.0, 0.0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100), ``None`` without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def lab_doc(settings: Settings, agents: int) -> dict[str, Any]:
    """The lab's routing model with ``agents`` agents, as a routing document."""
    from callctl.lab.lab import lab_pbx_model
    from callctl.lab.lab_model import lab_model
    from callctl.lab.state import LabState
    from callctl.routing_config.convert import from_model

    state = LabState.load_or_create(settings.lab_dir)
    base = lab_pbx_model(settings, state)
    model = lab_model(
        state.ami_secret,
        agents=agents,
        trunk_ip=settings.trunk_ip,
        agents_ip=settings.agents_ip,
        max_wait_s=settings.lab_max_wait_s,
        network=base.network,
    )
    doc: dict[str, Any] = from_model(model).model_dump(mode="json")
    return doc


def cluster_doc(cluster: ClusterRun, agents: int) -> dict[str, Any]:
    """Node a's routing model (the cluster's initial document) with ``agents`` agents."""
    from dataclasses import replace

    from callctl.lab import node as lab_node
    from callctl.routing_config.convert import from_model

    node_a = replace(cluster.lab.a, agents=agents)
    secret = (node_a.work_dir / "ami_secret").read_text(encoding="utf-8").removesuffix("\n")
    doc: dict[str, Any] = from_model(lab_node.routing_model(node_a, secret)).model_dump(mode="json")
    return doc


async def admin_token(url: str) -> str:
    from callctl.auth.provision import provision_user
    from callctl.auth.roles import Role

    return await provision_user(url, "bench-load", Role.ADMIN, label="bench_lab_load")


async def apply_agents(
    client: httpx.AsyncClient, base: str, token: str, doc: dict[str, Any], members: int
) -> None:
    """Put ``doc`` in force through the routing API (every node callctl serves gets it)
    and wait until the live view holds ``members`` queue members over all nodes."""
    headers = {"Authorization": f"Bearer {token}"}
    r = await client.put(f"{base}/api/v1/routing/config", json=doc, headers=headers, timeout=60)
    if r.status_code != 200:
        raise SystemExit(f"bench: applying the agents failed: {r.status_code} {r.text}")
    # Until the live view has every member (the reload's QueueMemberAdded events).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = (await client.get(f"{base}/api/v1/live", headers=headers)).json()
        if sum(live["summary"]["agents"].values()) >= members:
            return
        await asyncio.sleep(0.5)
    print(f"note: the live view shows {sum(live['summary']['agents'].values())} agents")


async def watch_wallboard(base: str, token: str, lags: list[float], stop: asyncio.Event) -> None:
    """A real websocket client: each AMI-made delta's arrival minus its ``at``."""
    url = base.replace("http://", "ws://") + "/ws/wallboard"
    async with websockets.connect(url, max_size=64 * 2**20) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            arrived = time.time()
            message = json.loads(text)
            if message.get("type") in _LIVE_TYPES and isinstance(message.get("at"), int | float):
                lags.append(arrived - float(message["at"]))


async def sample_rss(pid: int, every_s: float, result: LoadResult, stop: asyncio.Event) -> None:
    began = time.monotonic()
    while not stop.is_set():
        result.rss_samples.append((time.monotonic() - began, rss_kib(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def rss_after(samples: Sequence[tuple[float, int]], warm_up_s: float) -> int | None:
    """The first RSS sample at or after ``warm_up_s`` into the load (pure)."""
    return next((kib for at, kib in samples if at >= warm_up_s), None)


_PG_ACTIVITY = """
SELECT coalesce(nullif(application_name, ''), left(regexp_replace(query, '\\s+', ' ', 'g'), 48)),
       coalesce(wait_event_type || ':' || wait_event, 'CPU'), state
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
"""


async def sample_pg_waits(url: str, result: LoadResult, stop: asyncio.Event) -> None:
    """Every 0.1 s, what each busy backend of callctl's database waits on."""
    import asyncpg

    from callctl.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        while not stop.is_set():
            for who, wait, state in await conn.fetch(_PG_ACTIVITY):
                key = f"{who} | {wait} | {state}"
                result.pg_waits[key] = result.pg_waits.get(key, 0) + 1
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def sample_live(
    client: httpx.AsyncClient, base: str, token: str, result: LoadResult, stop: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        try:
            summary = (await client.get(f"{base}/api/v1/live", headers=headers)).json()["summary"]
        except (httpx.HTTPError, ValueError, KeyError):
            summary = None
        if summary is not None:
            busy = summary["agents"]["talking"] + summary["agents"]["ringing"]
            result.max_in_system = max(result.max_in_system, summary["waiting"] + busy)
            result.max_waiting = max(result.max_waiting, summary["waiting"])
            result.max_talking = max(result.max_talking, summary["agents"]["talking"])
        await asyncio.sleep(1.0)


def queue_logs(settings: Settings, cluster: ClusterRun | None) -> list[tuple[str, QueueLogSource]]:
    """(node id, its queue_log) for each node callctl serves: the lab's node, or every
    node of the cluster's nodes file (read as ``callctl verify --node ID`` reads it)."""
    if cluster is None:
        return [(settings.node_id, settings.queue_log_file)]
    from callctl.ingest.queue_log.node_source import node_and_source
    from callctl.nodes import load_nodes

    nodes = load_nodes(Path(cluster.env["CALLCTL_NODES_FILE"]))
    return [
        node_and_source(
            nodes,
            node_id,
            None,
            fallback_node=settings.node_id,
            fallback_path=settings.queue_log_file,
        )
        for node_id in nodes.node_ids
    ]


async def run_verify(
    url: str, logs: Sequence[tuple[str, QueueLogSource]], since: datetime, result: LoadResult
) -> None:
    """``verify`` for every node, again until all agree or a minute has gone; the
    differences summed over the nodes."""
    from callctl.ingest.verify import format_report, verify

    deadline = time.monotonic() + 60
    while True:
        reports = [await verify(url, source, node, since) for node, source in logs]
        result.verify_differences = sum(report.comparison.differences for report in reports)
        result.verify_line = "\n".join(format_report(report, details=5) for report in reports)
        if all(report.ok for report in reports) or time.monotonic() > deadline:
            return
        await asyncio.sleep(2)


async def place_calls(
    args: argparse.Namespace, settings: Settings, work: Path, cluster: ClusterRun | None
) -> tuple[int, int, int, str]:
    """Placed, answered, failed, and why SIPp did not finish ("" when it did)."""
    from callctl.lab import sipp

    calls = int(args.calls_per_s * args.seconds)
    try:
        run = await sipp_callers(args, settings, work, calls, cluster)
    except sipp.SippError as exc:  # e.g. Asterisk stopped answering: every call counts failed
        print(f"SIPp callers did not finish: {exc}")
        lines = str(exc).splitlines() or ["SIPp error"]
        why = next((line for line in lines if "timed out" in line), lines[0])
        return calls, 0, calls, why.split(": ", 1)[-1]
    if run.failed:
        print(f"SIPp callers, {run.failed} failed:\n{run.screen[-3000:]}")
    return calls, run.counts.get("200 in", 0), run.failed, ""


async def sipp_callers(
    args: argparse.Namespace, settings: Settings, work: Path, calls: int, cluster: ClusterRun | None
) -> SippResult:
    """The callers into the lab's node through its trunk, or into the cluster through
    Kamailio."""
    from callctl.lab import sipp

    run = sipp.CallerRun(
        calls=calls,
        rate_per_s=args.calls_per_s,
        patience_s=args.patience_s,
        talk_s=args.talk_s + 600,  # the agents hang up first
        concurrency=max(500, int(args.calls_per_s * (args.talk_s + args.patience_s) * 2)),
        scenario="caller_audio.xml" if args.audio else "caller.xml",
        audio=tone_wav(work / "caller-1000.wav", 1000) if args.audio else None,
    )
    timeout_s = args.seconds + args.talk_s + args.patience_s + 120
    if cluster is not None:
        return await callers_via_proxy(
            run, cluster, trunk_ip=CLUSTER_TRUNK_IP, work=work, timeout_s=timeout_s
        )
    return await sipp.run_callers(
        run,
        work_dir=work / "callers",
        local_ip=settings.trunk_ip,
        remote=f"{settings.sip_host}:{settings.sip_port}",
        timeout_s=timeout_s,
    )


async def start_profiler(out: Path | None, pid: int) -> asyncio.subprocess.Process | None:
    """py-spy sampling callctl over the load window (collapsed stacks in ``out``)."""
    if out is None:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        str(py_spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
        "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def stop_profiler(profiler: asyncio.subprocess.Process | None) -> None:
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    await asyncio.wait_for(profiler.wait(), 30)


def cpu_groups(
    callctl_pid: int, nodes: Sequence[BenchNode], lab: LabRun, cluster: ClusterRun | None
) -> dict[str, list[int]]:
    """The process trees whose CPU is measured: one node's Asterisk as ``asterisk``,
    several as ``asterisk:<node id>`` each (summed by :func:`with_asterisk_total`)."""
    groups = {"callctl": [callctl_pid]}
    if len(nodes) == 1:
        groups["asterisk"] = [nodes[0].pid]
    else:
        groups |= {f"asterisk:{node.node_id}": [node.pid] for node in nodes}
    if lab.postgres_pid is not None:
        groups["postgresql"] = [lab.postgres_pid]
    if cluster is not None and cluster.proxy_pid is not None:
        groups["kamailio"] = [cluster.proxy_pid]
    return groups


def with_asterisk_total(cpu: dict[str, float]) -> dict[str, float]:
    """``cpu`` with ``asterisk`` the sum over the nodes when measured per node (pure)."""
    if "asterisk" in cpu:
        return cpu
    return {**cpu, "asterisk": sum(v for k, v in cpu.items() if k.startswith("asterisk:"))}


async def start_agents_uas(
    args: argparse.Namespace, settings: Settings, work: Path, cluster: ClusterRun | None
) -> list[asyncio.subprocess.Process]:
    """One SIPp UAS answering for the agents at each node's agents address."""
    from callctl.lab import sipp

    addresses = cluster.agents if cluster is not None else [(settings.agents_ip, 5060)]
    return [
        await sipp.start_agents(
            work_dir=work / ("agents" if cluster is None else f"agents-{ip}"),
            local_ip=ip,
            port=port,
            ring_s=args.ring_s,
            talk_s=args.talk_s,
            audio=tone_wav(work / "agent-400.wav", 400) if args.audio else None,
        )
        for ip, port in addresses
    ]


async def measure(
    url: str,
    lab: LabRun,
    settings: Settings,
    args: argparse.Namespace,
    nodes: Sequence[BenchNode],
    cluster: ClusterRun | None,
) -> LoadResult:
    from callctl.lab import sipp

    result = LoadResult()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        http_port = free_tcp_port()
        base = f"http://127.0.0.1:{http_port}"
        agents_uas = await start_agents_uas(args, settings, work, cluster)
        callctl = await spawn_callctl(url, work, http_port, cluster.env if cluster else {})
        token = await admin_token(url)
        stop = asyncio.Event()
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await wait_connected(client, base, len(nodes), timeout_s=60)
                if args.agents != LAB_AGENTS:
                    began = time.monotonic()
                    doc = (
                        lab_doc(settings, args.agents)
                        if cluster is None
                        else cluster_doc(cluster, args.agents)
                    )
                    await apply_agents(client, base, token, doc, args.agents * len(nodes))
                    print(f"{args.agents} agents applied in {time.monotonic() - began:.1f} s")
                await settle(callctl.pid, args.settle_s)
                groups = cpu_groups(callctl.pid, nodes, lab, cluster)
                watchers = [
                    asyncio.create_task(watch_wallboard(base, token, result.frame_lags, stop)),
                    asyncio.create_task(sample_live(client, base, token, result, stop)),
                ]
                if args.pg_waits:
                    watchers.append(asyncio.create_task(sample_pg_waits(url, result, stop)))
                await asyncio.sleep(1.0)  # the websocket's snapshot in
                result.frame_lags.clear()
                since = datetime.now(UTC)
                events_before = sum(metric(await scrape(client, base), "callctl_ami_events_total"))
                load_before = os.getloadavg()[0]
                result.rss_start_kib = rss_kib(callctl.pid)
                before = proc_cpu.sample(groups, time.monotonic())
                rss_stop = asyncio.Event()
                rss_task = asyncio.create_task(
                    sample_rss(callctl.pid, args.rss_every_s, result, rss_stop)
                )
                profiler = await start_profiler(args.py_spy, callctl.pid)
                (
                    result.placed,
                    result.answered,
                    result.failed,
                    result.sipp_error,
                ) = await place_calls(args, settings, work, cluster)
                await asyncio.sleep(2.0)  # the last events through the pipeline
                after = proc_cpu.sample(groups, time.monotonic())
                await stop_profiler(profiler)
                rss_stop.set()
                await rss_task
                result.rss_end_kib = rss_kib(callctl.pid)
                result.load_avg = (load_before, os.getloadavg()[0])
                text = await scrape(client, base)
                result.events = sum(metric(text, "callctl_ami_events_total")) - events_before
                quantiles = dict(
                    zip((50, 99), metric(text, "callctl_fact_commit_seconds"), strict=False)
                )
                result.fact_p50_ms = quantiles.get(50, math.nan) * 1000
                result.fact_p99_ms = quantiles.get(99, math.nan) * 1000
                result.fact_samples = int(sum(metric(text, "callctl_fact_commit_samples")))
                result.spooled = int(sum(metric(text, "callctl_spooled_records_total")))
                result.rollbacks = int(sum(metric(text, "callctl_writer_rollback_retries_total")))
                stop.set()
                await asyncio.gather(*watchers, return_exceptions=True)
                result.window_s = after.at - before.at
                result.cpu = with_asterisk_total(proc_cpu.percent_of_core(before, after))
                await run_verify(url, queue_logs(settings, cluster), since, result)
        finally:
            stop.set()
            callctl.send_signal(signal.SIGTERM)
            await asyncio.wait_for(callctl.wait(), 30)
            for uas in agents_uas:
                await sipp.stop_agents(uas)
            if result.failed:
                print_agents_screens(work)
            log_text = (work / "callctl.log").read_text(errors="replace")
            result.warnings = warnings_of(log_text)
            if "Traceback" in log_text[-3000:]:
                print(log_text[-3000:])
    return result


def print_agents_screens(work: Path) -> None:
    """The end of each agents' UAS screen (why calls failed, from their side)."""
    for screen in sorted(work.glob("agents*/agents-screen.log")):
        print(f"SIPp agents:\n{screen.read_text(errors='replace')[-3000:]}")


def tone_wav(path: Path, hz: int) -> Path:
    """One second of a sine at ``hz`` as 8 kHz mu-law WAV (SIPp's rtp_stream loops it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path),
         "synth", "1", "sine", str(hz), "vol", "0.5"],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def warnings_of(log_text: str) -> list[str]:
    """callctl's WARNING and ERROR lines, each kind once with its count (pure)."""
    counts: dict[str, int] = {}
    for line in log_text.splitlines():
        for level in (" WARNING ", " ERROR "):
            if level in line:
                kind = re.sub(r"\d+(\.\d+)?", "N", line.split(level, 1)[1])[:160]
                counts[level.strip() + " " + kind] = counts.get(level.strip() + " " + kind, 0) + 1
    return [f"{count} × {kind}" for kind, count in sorted(counts.items(), key=lambda kv: -kv[1])]


def report(result: LoadResult, args: argparse.Namespace) -> None:
    cpu = result.cpu
    print(
        f"load: {args.calls_per_s:g} calls/s for {args.seconds:g} s, talk {args.talk_s:g} s, "
        f"{args.agents} agents, patience {args.patience_s:g} s, recording on, "
        f"{'RTP both ways' if args.audio else 'no RTP'}"
    )
    if args.cluster:
        nodes = sorted(k.removeprefix("asterisk:") for k in cpu if k.startswith("asterisk:"))
        print(
            f"cluster: {len(nodes)} nodes [{','.join(nodes)}] behind Kamailio, "
            f"{args.calls_per_s:g} calls/s in total through it, {args.agents} agents per node"
        )
    print(
        f"calls: {result.placed} placed, {result.answered} answered, {result.failed} failed; "
        f"most in the system at once {result.max_in_system} (waiting {result.max_waiting}, "
        f"talking {result.max_talking}); {result.events:,.0f} AMI events "
        f"({result.events / max(result.window_s, 1e-9):,.0f}/s)"
    )
    if result.sipp_error:
        print(f"SIPp's callers did not finish ({result.sipp_error}): every call counted failed")
    print(
        f"window {result.window_s:.1f} s; load average {result.load_avg[0]:.2f} → "
        f"{result.load_avg[1]:.2f} on {os.cpu_count()} cores (other work included)"
    )
    asterisk = cpu.get("asterisk", 0.0)
    ratio = cpu["callctl"] / asterisk if asterisk > 0 else math.inf
    pg = f"{cpu['postgresql']:.1f}" if "postgresql" in cpu else "n/a"
    per_node = "  ".join(
        f"{k.removeprefix('asterisk:')} {v:.1f}"
        for k, v in cpu.items()
        if k.startswith("asterisk:")
    )
    print(
        f"CPU, % of one core: asterisk {asterisk:.1f}{f' ({per_node})' if per_node else ''}  "
        f"callctl {cpu['callctl']:.1f}  postgresql {pg}  ratio callctl ÷ asterisk {ratio:.2f}"
    )
    if "kamailio" in cpu:
        print(f"CPU, % of one core: kamailio {cpu['kamailio']:.1f} (not in the ratio)")
    growth = 100 * (result.rss_end_kib - result.rss_start_kib) / max(result.rss_start_kib, 1)
    print(
        f"callctl RSS: {result.rss_start_kib / 1024:.1f} MiB at the start, "
        f"{result.rss_end_kib / 1024:.1f} MiB at the end ({growth:+.1f}%)"
    )
    warm = rss_after(result.rss_samples, args.warm_up_s)
    if warm is not None and result.rss_samples:
        at_end = result.rss_samples[-1][1]
        print(
            f"callctl RSS after {args.warm_up_s:g} s of load (warm-up): {warm / 1024:.1f} MiB, "
            f"at the end {at_end / 1024:.1f} MiB ({100 * (at_end - warm) / warm:+.1f}%)"
        )
    print(
        f"event → fact commit: p50 {result.fact_p50_ms:.1f} ms  p99 {result.fact_p99_ms:.1f} ms "
        f"(writer's latest {result.fact_samples} facts)"
    )
    p50, p99 = (percentile(result.frame_lags, q) for q in (50, 99))
    if p50 is None or p99 is None:
        print("AMI event → wallboard frame: no frame")
    else:
        print(
            f"AMI event → wallboard frame: p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms "
            f"({len(result.frame_lags)} frames)"
        )
    print(
        f"facts spooled to disk: {result.spooled}; writer batches rolled back and retried: "
        f"{result.rollbacks}"
    )
    for key, count in sorted(result.pg_waits.items(), key=lambda kv: -kv[1])[:15]:
        print(f"postgresql backend samples: {count:5d}  {key}")
    for line in result.warnings[:10]:
        print(f"callctl log: {line}")
    print(f"verify differences: {result.verify_differences}")
    print(result.verify_line)


def summary(result: LoadResult, args: argparse.Namespace) -> dict[str, Any]:
    """The figures as one JSON-able dict (``--json``; the ladder reads it)."""
    p50, p99 = (percentile(result.frame_lags, q) for q in (50, 99))
    return {
        "calls_per_s": args.calls_per_s,
        "seconds": args.seconds,
        "talk_s": args.talk_s,
        "agents": args.agents,
        "cluster": args.cluster,
        "placed": result.placed,
        "answered": result.answered,
        "failed": result.failed,
        "sipp_error": result.sipp_error,
        "max_in_system": result.max_in_system,
        "events": result.events,
        "window_s": result.window_s,
        "cpu": result.cpu,
        "load_avg": list(result.load_avg),
        "rss_start_kib": result.rss_start_kib,
        "rss_end_kib": result.rss_end_kib,
        "rss_samples": result.rss_samples,
        "fact_p50_ms": result.fact_p50_ms,
        "fact_p99_ms": result.fact_p99_ms,
        "frame_p50_ms": None if p50 is None else p50 * 1000,
        "frame_p99_ms": None if p99 is None else p99 * 1000,
        "spooled": result.spooled,
        "rollbacks": result.rollbacks,
        "verify_differences": result.verify_differences,
    }


def restore_lab(settings: Settings) -> None:
    """The lab's own model back; a failure is printed, not raised, so that the run's
    figures are still reported (the next ``callctl lab up`` starts the lab again)."""
    from callctl.lab import lab as lab_module
    from callctl.lab.errors import LabError

    try:
        report_ = lab_module.up(settings)
    except LabError as exc:
        print(f"lab NOT back to its own model: {exc}")
        return
    print(f"lab back to its own model (Asterisk restarted: {report_.asterisk_started})")


def restore_cluster(cluster: ClusterRun) -> None:
    """Each node of a cluster the bench did not start gets its own model back: restarted
    from ``config render`` with its own agents' address and its own directories (the
    routing API's render gave both nodes node a's agents).
    A failure is printed, not raised, as in :func:`restore_lab`."""
    from callctl.lab import node as lab_node
    from callctl.lab.errors import LabError

    try:
        for node in cluster.lab.nodes:
            lab_node.restart(node)
    except LabError as exc:
        print(f"cluster NOT back to its own model: {exc}")
        return
    print("cluster back to its own model (both nodes restarted)")


def run_cluster(settings: Settings, lab: LabRun, args: argparse.Namespace) -> LoadResult:
    """The load over the lab's two nodes behind Kamailio (``--cluster``)."""
    with lab_cluster_nodes(settings) as (nodes, cluster):
        try:
            with scratch_database(settings.database_url or "", "bench_load") as url:
                return asyncio.run(measure(url, lab, settings, args, nodes, cluster))
        finally:
            if args.agents != LAB_AGENTS and not cluster.started:
                restore_cluster(cluster)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-s", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--talk-s", type=float, default=60.0, help="agents talk this long")
    parser.add_argument("--ring-s", type=float, default=1.0, help="agents ring this long")
    parser.add_argument("--patience-s", type=float, default=60.0, help="callers wait this long")
    parser.add_argument("--agents", type=int, default=340)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument(
        "--audio", action="store_true", help="callers and agents send RTP (tones) all call long"
    )
    parser.add_argument("--rss-every-s", type=float, default=10.0)
    parser.add_argument(
        "--warm-up-s", type=float, default=60.0, help="RSS growth is reported from here"
    )
    parser.add_argument(
        "--pg-waits", action="store_true", help="sample what callctl's backends wait on"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here (JSON)")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="the lab's two nodes behind Kamailio; --calls-per-s in total, --agents per node",
    )
    parser.add_argument(
        "--py-spy", type=Path, help="record callctl with py-spy over the load (collapsed stacks)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.agents <= 999:
        parser.error("--agents: 1..999 (agent ids 1001..1999)")
    if args.cluster and args.audio:
        parser.error("--cluster and --audio exclude each other (no RTP through the proxy)")
    settings = Settings()
    lab = lab_up(settings)
    settings = settings.model_copy(
        update={"database_url": settings.database_url or lab.env["CALLCTL_DATABASE_URL"]}
    )
    for name, value in lab.env.items():
        os.environ.setdefault(name, value)
    if args.cluster:
        result = run_cluster(settings, lab, args)
    else:
        try:
            with scratch_database(settings.database_url or "", "bench_load") as url:
                result = asyncio.run(measure(url, lab, settings, args, [lab.node], None))
        finally:
            if args.agents != LAB_AGENTS:
                restore_lab(Settings())
    report(result, args)
    if args.json is not None:
        args.json.write_text(json.dumps(summary(result, args), indent=1))
    return 0 if result.failed == 0 and result.verify_differences == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
