"""AMI over TLS against a real Asterisk: node "t" started from ``callctl config render``
output with ``--ami-tls-port`` (manager.conf ``tlsenable``), a certificate signed by a CA
this test makes. ``callctl serve``, configured by settings alone with the node's
``[node.tls] ca_file`` naming that CA, logs in over TLS and stores the facts of real
SIPp calls; its queue_log is "shipped" and no shipper runs, so AMI alone feeds them.
With another CA, ``serve`` stops at once with one line naming TLS verification."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from service_helpers import HTTP_PORT, own_db, wait_healthy

from ami.connection import AmiNode
from callctl.db import asyncpg_dsn
from callctl.lab import node, rootfs, sipp
from callctl.nodes import load_nodes
from callctl.settings import Settings
from callctl.startup import LoginOutcome, try_login

pytestmark = pytest.mark.integration
__all__ = ["own_db"]

NODE_IP = "127.0.3.1"
TRUNK_IP = "127.0.0.2"
TLS_PORT = 5039
CALLS = 3


@dataclass(frozen=True, slots=True)
class Pki:
    ca: Path
    other_ca: Path
    cert: Path
    key: Path


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(where: Path, name: str) -> tuple[Path, Path]:
    cert, key = where / f"{name}.pem", where / f"{name}.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert))  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, the node's certificate signed by it (for its IP), and another CA."""
    where = tmp_path_factory.mktemp("pki")
    ca, ca_key = make_ca(where, "callctl-test-ca")
    other_ca, _ = make_ca(where, "another-ca")
    key, csr, cert = where / "ami.key", where / "ami.csr", where / "ami.crt"
    ext = where / "san.ext"
    ext.write_text(f"subjectAltName = IP:{NODE_IP}\n", encoding="utf-8")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=asterisk-t",
            "-keyout", str(key), "-out", str(csr))  # fmt: skip
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return Pki(ca=ca, other_ca=other_ca, cert=cert, key=key)


@pytest.fixture(scope="module")
def tls_node(settings: Settings, pki: Pki) -> Iterator[node.LabNode]:
    """Node "t" on 127.0.3.1: plain AMI on 5038 (the lab's readiness check), TLS on 5039."""
    lab_node = node.LabNode(
        node_id="t",
        ip=NODE_IP,
        agents_ip="127.0.3.3",
        rtp_start=23000,
        rtp_end=23999,
        trunk_ip=TRUNK_IP,
        rootfs=settings.rootfs_dir,
        lab_dir=settings.lab_dir / "tls",
        agents=2,
        ami_tls_port=TLS_PORT,
    )
    rootfs.ensure_rootfs(settings.rootfs_dir, settings.debian_mirror)
    node.stop(lab_node)
    lab_node.keys_dir.mkdir(parents=True, exist_ok=True)
    for source, name in ((pki.cert, "ami.crt"), (pki.key, "ami.key")):
        target = lab_node.keys_dir / name
        target.write_bytes(source.read_bytes())
        target.chmod(0o600)
    node.start(lab_node, secrets.token_urlsafe(24))
    try:
        yield lab_node
    finally:
        node.stop(lab_node)


def nodes_file(lab_node: node.LabNode, ca: Path, path: Path) -> Path:
    path.write_text(
        "[[node]]\n"
        'id = "t"\n'
        f'ami_host = "{NODE_IP}"\n'
        f"ami_port = {TLS_PORT}\n"
        f'secret_file = "{lab_node.work_dir / "ami_secret"}"\n'
        'queue_log = { mode = "shipped" }\n'
        "[node.tls]\n"
        f'ca_file = "{ca}"\n'
        f'\n[[trunk]]\nname = "trunk"\nmatch_ip = "{TRUNK_IP}"\n',
        encoding="utf-8",
    )
    return path


def serve_env(tmp_path: Path, database_url: str, nodes: Path, routing: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCTL_")}
    return {
        **env,
        "CALLCTL_DATABASE_URL": database_url,
        "CALLCTL_NODES_FILE": str(nodes),
        "CALLCTL_CACHE_DIR": str(tmp_path / "empty-cache"),
        "CALLCTL_SPOOL_DIR": str(tmp_path / "spool"),
        "CALLCTL_HTTP_PORT": str(HTTP_PORT),
        "CALLCTL_INITIAL_ROUTING_FILE": str(routing),
    }


def start_serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "callctl.cli", "serve"], env=env, stdout=out, stderr=out
        )


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def answered_entries(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT callid, caller_num, source, talk_s FROM queue_entries"
            " WHERE node = 't' AND outcome = 'answered' AND talk_s IS NOT NULL"
        )
        return rows
    finally:
        await conn.close()


async def test_rendered_manager_conf_serves_tls_only_to_tls_clients(
    tls_node: node.LabNode,
) -> None:
    manager = (tls_node.etc / "manager.conf").read_text(encoding="utf-8")
    assert f"tlsbindaddr = {NODE_IP}:{TLS_PORT}\n" in manager
    # A plain client on the TLS port gets no AMI banner (the port speaks TLS only).
    reader, writer = await asyncio.open_connection(NODE_IP, TLS_PORT)
    try:
        writer.write(b"Action: Ping\r\n\r\n")
        await writer.drain()
        try:
            first = await asyncio.wait_for(reader.read(64), 2.0)
        except (TimeoutError, ConnectionError):
            first = b""
        assert b"Asterisk Call Manager" not in first
    finally:
        writer.close()


async def test_callctl_over_tls_logs_in_and_stores_facts_of_real_calls(
    tls_node: node.LabNode, pki: Pki, own_db: str, tmp_path: Path
) -> None:
    nodes = nodes_file(tls_node, pki.ca, tmp_path / "nodes.toml")
    env = serve_env(tmp_path, own_db, nodes, tls_node.work_dir / "routing.json")
    log = tmp_path / "callctl.log"
    callctl = start_serve(env, log)
    uas = None
    try:
        await wait_healthy(timeout_s=30)
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"http://127.0.0.1:{HTTP_PORT}/health")).json()
        assert {n["node"]: n["state"] for n in health["nodes"]} == {"t": "connected"}, health
        assert "node t: AMI 127.0.3.1:5039 TLS (accepted)" in log.read_text(encoding="utf-8")
        uas = await sipp.start_agents(
            work_dir=tmp_path / "agents",
            local_ip=tls_node.agents_ip,
            port=5060,
            ring_s=0.3,
            talk_s=1.0,
        )
        callers = [sipp.Caller(number=f"1391111{i:04d}", name="市民") for i in range(CALLS)]
        result = await sipp.run_callers(
            sipp.CallerRun(calls=CALLS, rate_per_s=2, patience_s=10, talk_s=3, callers=callers),
            work_dir=tmp_path / "callers",
            local_ip=TRUNK_IP,
            remote=f"{NODE_IP}:5060",
            timeout_s=40,
        )
        assert result.successful == CALLS, result
        deadline = time.monotonic() + 15
        rows: list[asyncpg.Record] = []
        while time.monotonic() < deadline:
            rows = await answered_entries(own_db)
            if len(rows) >= CALLS:
                break
            await asyncio.sleep(0.3)
        assert sorted(r["caller_num"] for r in rows) == [c.number for c in callers], rows
        # Only AMI feeds this node (its queue_log is "shipped" and nothing ships it).
        assert {r["source"] for r in rows} == {"ami"}
    finally:
        if uas is not None:
            await sipp.stop_agents(uas)
        stop_serve(callctl)


def test_a_wrong_ca_is_a_tls_verification_error_not_a_hang(
    tls_node: node.LabNode, pki: Pki, own_db: str, tmp_path: Path
) -> None:
    nodes = nodes_file(tls_node, pki.other_ca, tmp_path / "nodes.toml")
    env = serve_env(tmp_path, own_db, nodes, tls_node.work_dir / "routing.json")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "callctl.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("callctl: CALLCTL_NODES_FILE: AMI TLS verification failed"), last
    assert 'node "t" (127.0.3.1:5039)' in last
    # The connection's own log line says why: the certificate's issuer is unknown.
    assert "certificate" in done.stderr
    assert took < 15, took


async def test_try_login_with_the_right_ca_and_the_wrong_one(
    tls_node: node.LabNode, pki: Pki, tmp_path: Path
) -> None:
    def ami(ca: Path) -> AmiNode:
        path = nodes_file(tls_node, ca, tmp_path / f"nodes-{ca.stem}.toml")
        return load_nodes(path).nodes[0].ami_node(backoff_base=0.05, backoff_cap=0.2)

    assert await try_login(ami(pki.ca), timeout_s=10) is LoginOutcome.ACCEPTED
    started = time.monotonic()
    assert await try_login(ami(pki.other_ca), timeout_s=10) is LoginOutcome.TLS_FAILED
    assert time.monotonic() - started < 3
