"""Acceptance, production-like: two Asterisk nodes behind Kamailio, callctl from settings.

Nodes a and b are started from ``callctl config render`` output (the lab cluster,
not ``lab up``); Kamailio sits in front. callctl runs as a process configured by
settings alone: ``CALLCTL_NODES_FILE``, ``CALLCTL_DATABASE_URL`` (a scratch database on
the lab's PostgreSQL), an empty cache dir (no lab state), the routing document the nodes
were rendered from. Node a's queue_log is read as a file on callctl's host
(``mode = "file"``); node b's is shipped by a ``callctl ship-queue-log`` process beside
it (``mode = "shipped"``, the "second host" case).

SIPp places 200 calls through Kamailio; node b is SIGKILLed mid-run and started again
after the run, so its ``QUEUESTART`` closes the entries that were waiting on it as
``lost``. Then ``verify`` per node shows no difference, the API's KPIs (all nodes, and
``node=a``/``node=b``) equal what this test computes from both queue_log files with its
own few lines of parsing, and the wallboard feed showed b down within 3 s of the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import websockets
from service_helpers import HTTP_PORT, own_db, wait_healthy

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.lab import node, sipp
from callctl.lab.cluster import KAMAILIO_IP, Cluster, down, lab_cluster, nodes_file_text, up
from callctl.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["own_db"]

TRUNK_IP = "127.0.0.2"
CALLS = 200
RATE_PER_S = 10.0
KILL_AFTER_S = 10.05  # mid-run, between two INVITEs (one every 0.1 s)
NODE_DOWN_LIMIT_S = 3.0
# Events that end a caller's wait in the queue (queue_log, Asterisk 22).
ENDS_WAIT = {
    "CONNECT": "answered",
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "timeout",
    "EXITEMPTY": "no_agents",
    "EXITWITHKEY": "key",
}


@dataclass
class Expected:
    """What one node's queue_log says, counted by this test alone."""

    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    lost: int = 0
    timeout: int = 0
    waits: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "answered_in_sl": self.answered_in_sl,
            "abandoned": self.abandoned,
            "lost": self.lost,
        }

    def __add__(self, other: Expected) -> Expected:
        return Expected(
            self.offered + other.offered,
            self.answered + other.answered,
            self.answered_in_sl + other.answered_in_sl,
            self.abandoned + other.abandoned,
            self.lost + other.lost,
            self.timeout + other.timeout,
            self.waits + other.waits,
        )


def expected_from_queue_log(path: Path, since: int, until: int) -> Expected:
    """Entries that entered in ``[since, until)``: each one's outcome is the first event
    ending its wait; one still waiting when a later ``QUEUESTART`` (the node started
    again) is lost."""
    entered: dict[tuple[str, str], int] = {}
    outcome: dict[tuple[str, str], str] = {}
    wait: dict[tuple[str, str], int] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        parts = raw.split("|")
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        at, callid, queue, event = int(parts[0]), parts[1], parts[2], parts[4]
        if event == "QUEUESTART":
            for key in entered.keys() - outcome.keys():
                outcome[key] = "lost"
            continue
        key = (callid, queue)
        if event == "ENTERQUEUE":
            if since <= at < until:
                entered[key] = at
        elif key in entered and key not in outcome and event in ENDS_WAIT:
            outcome[key] = ENDS_WAIT[event]
            if event == "CONNECT":
                wait[key] = int(parts[5])
    values = list(outcome.values())
    waits = list(wait.values())
    return Expected(
        offered=len(entered),
        answered=values.count("answered"),
        answered_in_sl=sum(1 for w in waits if w <= 15),
        abandoned=values.count("abandoned"),
        lost=values.count("lost"),
        timeout=values.count("timeout"),
        waits=waits,
    )


def open_entries(path: Path) -> int:
    """Entries whose wait never ended (cut by a crash and not yet closed)."""
    entered: set[tuple[str, str]] = set()
    ended: set[tuple[str, str]] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        parts = raw.split("|")
        if len(parts) >= 5 and parts[4] == "ENTERQUEUE":
            entered.add((parts[1], parts[2]))
        elif len(parts) >= 5 and parts[4] in ENDS_WAIT:
            ended.add((parts[1], parts[2]))
        elif len(parts) >= 5 and parts[4] == "QUEUESTART":
            ended |= entered
    return len(entered - ended)


@pytest.fixture
def cluster(settings: Settings) -> Iterator[Cluster]:
    """Nodes a and b with empty queue_logs (this run's lines only), Kamailio in front;
    all stopped afterwards, even on failure."""
    nodes = lab_cluster(settings)
    down(nodes)
    for lab_node in nodes.nodes:
        lab_node.queue_log.unlink(missing_ok=True)
    up(settings, nodes)
    try:
        yield nodes
    finally:
        down(nodes)


@dataclass
class Procs:
    items: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        self.items.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.items):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def procs() -> Iterator[Procs]:
    started = Procs()
    try:
        yield started
    finally:
        started.stop()


def settings_only_env(tmp_path: Path, database_url: str, nodes_file: Path) -> dict[str, str]:
    """No CALLCTL_* from the test's environment: the settings below, and an empty cache
    dir so that no lab state can be found."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCTL_")}
    return {
        **env,
        "CALLCTL_DATABASE_URL": database_url,
        "CALLCTL_NODES_FILE": str(nodes_file),
        "CALLCTL_CACHE_DIR": str(tmp_path / "empty-cache"),
    }


def production_nodes_file(cluster: Cluster, path: Path) -> Path:
    """The cluster's nodes file with b's queue_log shipped instead of read as a file."""
    as_file = f'queue_log = {{ mode = "file", path = "{cluster.b.queue_log}" }}'
    text = nodes_file_text(cluster)
    assert text.count(as_file) == 1
    path.write_text(text.replace(as_file, 'queue_log = { mode = "shipped" }'), encoding="utf-8")
    return path


class NodeLinks:
    """Reads the wallboard feed in the background; when each node_link delta arrived."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[tuple[float, str, str]] = []  # (monotonic, node, ami)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message.get("type") == "node_link":
                self.seen.append((time.monotonic(), message["node"], message["ami"]))

    async def first(self, node_id: str, ami: str, after: float, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for at, seen_node, seen_ami in self.seen:
                if at >= after and (seen_node, seen_ami) == (node_id, ami):
                    return at
            assert not self.task.done(), "the wallboard feed closed"
            await asyncio.sleep(0.02)
        raise AssertionError(f"no node_link {node_id} {ami} within {timeout_s} s: {self.seen}")


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callctl.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def same_local_day(start: datetime, end: datetime) -> bool:
    """The wallboard's "today" is a day in the service's time zone (Settings' default)."""
    zone = ZoneInfo(Settings().timezone)
    return start.astimezone(zone).date() == end.astimezone(zone).date()


async def live_snapshot(token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}") as client:
        r = await client.get("/api/v1/live", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def api_counts(
    client: httpx.AsyncClient, token: str, start: datetime, end: datetime, node_id: str | None
) -> dict[str, int]:
    params = {"start": start.isoformat(), "end": end.isoformat()}
    if node_id is not None:
        params["node"] = node_id
    r = await client.get(
        "/api/v1/kpis", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    keys = ("offered", "answered", "answered_in_sl", "abandoned", "lost")
    return {k: sum(row["counts"][k] for row in rows) for k in keys}


async def test_two_nodes_behind_kamailio_one_killed_facts_and_kpis_match_queue_log(
    own_db: str, cluster: Cluster, procs: Procs, tmp_path: Path
) -> None:
    nodes_file = production_nodes_file(cluster, tmp_path / "nodes.toml")
    env = settings_only_env(tmp_path, own_db, nodes_file)
    # The shipper beside node b (its own state file, as on b's host).
    procs.start(
        [
            sys.executable,
            "-m",
            "callctl.cli",
            "ship-queue-log",
            "--node",
            "b",
            "--path",
            str(cluster.b.queue_log),
            "--state-file",
            str(tmp_path / "ship-b.json"),
        ],
        env,
        tmp_path / "shipper-b.log",
    )
    serve_env = {
        **env,
        "CALLCTL_SPOOL_DIR": str(tmp_path / "spool"),
        "CALLCTL_HTTP_PORT": str(HTTP_PORT),
        "CALLCTL_INITIAL_ROUTING_FILE": str(cluster.a.work_dir / "routing.json"),
    }
    callctl = procs.start(
        [sys.executable, "-m", "callctl.cli", "serve"], serve_env, tmp_path / "callctl.log"
    )
    await wait_healthy(timeout_s=30)
    assert callctl.poll() is None
    token = await provision_user(own_db, "prodlike.supervisor", Role.SUPERVISOR, label="accept")
    since = datetime.now(UTC).replace(microsecond=0)
    await asyncio.sleep(1.1)

    agents = []
    calls: asyncio.Task[sipp.SippResult] | None = None
    links: NodeLinks | None = None
    async with websockets.connect(f"ws://127.0.0.1:{HTTP_PORT}/ws/wallboard") as ws:
        try:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            assert {n: b["ami"] for n, b in snapshot["nodes"].items()} == {
                "a": "connected",
                "b": "connected",
            }
            links = NodeLinks(ws)
            for lab_node in cluster.nodes:
                agents.append(
                    await sipp.start_agents(
                        work_dir=tmp_path / f"agents-{lab_node.node_id}",
                        local_ip=lab_node.agents_ip,
                        port=5060,
                        ring_s=1.0,
                        talk_s=1.5,
                    )
                )
            started = time.monotonic()
            calls = asyncio.create_task(
                sipp.run_callers(
                    sipp.CallerRun(
                        calls=CALLS,
                        rate_per_s=RATE_PER_S,
                        patience_s=30,
                        talk_s=4,
                        callers=[
                            sipp.Caller(number=f"1391000{i:04d}", name="市民") for i in range(CALLS)
                        ],
                        scenario="caller_via_proxy.xml",
                    ),
                    work_dir=tmp_path / "callers",
                    local_ip=TRUNK_IP,
                    remote=f"{KAMAILIO_IP}:5060",
                    timeout_s=120,
                )
            )
            await asyncio.sleep(started + KILL_AFTER_S - time.monotonic())
            killed_at = time.monotonic()
            assert node.kill(cluster.b)
            down_s = await links.first("b", "down", killed_at, timeout_s=10) - killed_at
            print(f"\nnode b down on the wallboard feed {down_s:.2f} s after SIGKILL")
            live = await live_snapshot(token)
            assert live["nodes_down"] == ["b"], live["nodes"]
            result = await calls
            calls_s = time.monotonic() - started
            open_on_b = open_entries(cluster.b.queue_log)
            restart_at = time.monotonic()
            await asyncio.to_thread(node.restart, cluster.b)
            up_s = await links.first("b", "connected", restart_at, timeout_s=20) - restart_at
        finally:
            if calls is not None and not calls.done():
                calls.cancel()  # run_callers kills its sipp when cancelled
                await asyncio.gather(calls, return_exceptions=True)
            for proc in agents:
                await sipp.stop_agents(proc)
            if links is not None:
                links.task.cancel()
    until = datetime.now(UTC).replace(microsecond=0)
    window = (int(since.timestamp()), int(until.timestamp()) + 1)
    per_node = {n.node_id: expected_from_queue_log(n.queue_log, *window) for n in cluster.nodes}
    total = per_node["a"] + per_node["b"]
    print(
        f"sipp: {result.successful} ok, {result.failed} failed in {calls_s:.1f} s; "
        f"queue entries: a {per_node['a'].offered}, b {per_node['b'].offered}; "
        f"open on b after the kill: {open_on_b}; lost on b: {per_node['b'].lost}; "
        f"b connected again {up_s:.1f} s after its restart began"
    )

    # Facts converge on both queue_logs (b's only through the shipper), with no manual step.
    verify_args = {
        "a": ["--queue-log", str(cluster.a.queue_log)],
        "b": ["--shipped"],
    }
    verify_from = time.monotonic()
    deadline = verify_from + 45
    outputs: dict[str, str] = {}
    while True:
        codes = {}
        for node_id, source in verify_args.items():
            codes[node_id], outputs[node_id] = await run_cli(
                env, "verify", "--node", node_id, *source
            )
        if all(code == 0 for code in codes.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    print(f"verify clean {time.monotonic() - verify_from:.1f} s after b's restart")
    for node_id, text in outputs.items():
        print(f"verify --node {node_id}: {text.strip()}")
    for node_id, text in outputs.items():
        assert codes[node_id] == 0, text
        [summary] = [line for line in text.splitlines() if line.startswith("queue_log entries:")]
        assert "missing: 0  extra: 0  differing: 0" in summary, text
        assert f"queue_log entries: {per_node[node_id].offered} " in summary, text

    # Without --queue-log/--shipped, verify takes each node's source from the nodes file.
    for node_id, source_shown in (("a", str(cluster.a.queue_log)), ("b", "shipped:b")):
        code, text = await run_cli(env, "verify", "--node", node_id)
        assert code == 0, text
        assert f"queue_log {source_shown} (node {node_id})" in text, text
        assert "missing: 0  extra: 0  differing: 0" in text, text

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}") as client:
        start = since
        end = datetime.fromtimestamp(window[1], UTC)
        api = {
            None: await api_counts(client, token, start, end, None),
            "a": await api_counts(client, token, start, end, "a"),
            "b": await api_counts(client, token, start, end, "b"),
        }
    print(f"KPIs from the API: {api}")
    print(
        f"from queue_log: all {total.counts()}, a {per_node['a'].counts()}, "
        f"b {per_node['b'].counts()} (timeouts: {total.timeout})"
    )

    # The live view followed too (b's lost entries included): the scratch database
    # holds this run's entries only, so today's total is this run's.
    live_today: dict[str, Any] = {}
    if same_local_day(since, until):
        deadline = time.monotonic() + 15
        while True:
            shown = (await live_snapshot(token))["today"]["total"]
            live_today = {k: shown[k] for k in total.counts()}
            if live_today == total.counts() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        print(f"live view, today: {live_today}")
        assert live_today == total.counts()

    # Both nodes took calls; every call was queued on one of them; some waited on b
    # when it died, and its restart closed them as lost.
    assert per_node["a"].offered > 0 and per_node["b"].offered > 0
    # A call whose INVITE reached b as it died may have been cut before ENTERQUEUE.
    assert CALLS - 5 <= total.offered <= CALLS, total
    assert per_node["b"].lost > 0
    assert open_entries(cluster.b.queue_log) == 0
    assert api[None] == total.counts()
    assert api["a"] == per_node["a"].counts()
    assert api["b"] == per_node["b"].counts()
    assert down_s <= NODE_DOWN_LIMIT_S
