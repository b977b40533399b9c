"""`callctl serve` from settings alone: a missing or wrong setting, or an AMI secret every
node refuses, stops it with one line and exit code 2; a node refusing the login while
another accepts it is shown in /health. Run as a subprocess against the real lab AMI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import HTTP_PORT, own_db

from callctl.nodes import load_nodes
from callctl.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["own_db"]

SETTINGS = ("CALLCTL_DATABASE_URL", "CALLCTL_NODES_FILE", "CALLCTL_INITIAL_ROUTING_FILE")


def serve_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return {**env, "CALLCTL_HTTP_PORT": str(HTTP_PORT), **settings}


def run_serve(env: dict[str, str], timeout_s: float = 30) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "callctl.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return done.returncode, done.stderr, time.monotonic() - started


def start_serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "callctl.cli", "serve"], env=env, stdout=out, stderr=out
        )


async def health_when(
    ready: Callable[[dict[str, Any]], bool], timeout_s: float = 20
) -> dict[str, Any]:
    """/health's body once ``ready`` holds for it."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                body: dict[str, Any] = (
                    await client.get(f"http://127.0.0.1:{HTTP_PORT}/health")
                ).json()
                if ready(body):
                    return body
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("/health never showed what was expected")


def node_toml(node_id: str, lab: Settings, secret_file: Path) -> str:
    return (
        f'[[node]]\nid = "{node_id}"\nami_host = "{lab.ami_host}"\nami_port = {lab.ami_port}\n'
        f'secret_file = "{secret_file}"\nqueue_log = {{ mode = "shipped" }}\n'
    )


def test_missing_settings_stop_serve_with_one_line_and_exit_2(tmp_path: Path) -> None:
    code, err, _ = run_serve(serve_env())
    assert code == 2
    assert err.strip().splitlines() == [
        "callctl: CALLCTL_DATABASE_URL: not set (postgresql+asyncpg://user@host:port/db)"
    ]
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    code, err, _ = run_serve(serve_env(CALLCTL_DATABASE_URL=url))
    assert (code, err.strip()) == (
        2,
        "callctl: CALLCTL_NODES_FILE: not set (the file listing the Asterisk nodes)",
    )
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(
        '[[node]]\nid = "b"\nami_host = "127.0.0.1"\nsecret_file = "/x"\n'
        'queue_log = { mode = "shipped" }\n'
    )
    code, err, _ = run_serve(serve_env(CALLCTL_DATABASE_URL=url, CALLCTL_NODES_FILE=str(nodes)))
    assert (code, err.strip()) == (
        2,
        'callctl: CALLCTL_NODES_FILE: node "b": secret_file /x: not found',
    )


def test_wrong_ami_secret_is_an_authentication_failure_not_a_hang(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong_secret"
    wrong.write_text("not-the-secret\n")
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(node_toml("lab", lab, wrong))
    code, err, took = run_serve(
        serve_env(CALLCTL_DATABASE_URL=own_db, CALLCTL_NODES_FILE=str(nodes))
    )
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("callctl: CALLCTL_NODES_FILE: AMI authentication failed on every node")
    assert 'node "lab" (user callctl at 127.0.0.1:' in last
    assert "not-the-secret" not in err
    assert took < 15


async def test_a_node_refusing_the_login_shows_in_health_and_logs(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    good = load_nodes(lab.nodes_file).nodes[0]
    assert good.secret_source.startswith("file ")
    wrong = tmp_path / "wrong_secret"
    wrong.write_text("not-the-secret\n")
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(
        node_toml("good", lab, Path(good.secret_source.removeprefix("file ")))
        + node_toml("refused", lab, wrong)
    )
    log = tmp_path / "callctl.log"
    env = serve_env(
        CALLCTL_DATABASE_URL=own_db,
        CALLCTL_NODES_FILE=str(nodes),
        CALLCTL_SPOOL_DIR=str(tmp_path / "spool"),
    )
    proc = start_serve(env, log)
    try:
        expected = {"good": "connected", "refused": "auth_failed"}
        body = await health_when(lambda b: {n["node"]: n["state"] for n in b["nodes"]} == expected)
        assert body["status"] == "degraded"  # never "ok": one node is of no use
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = log.read_text()
    assert "node refused: AMI authentication failed for user 'callctl'" in text
    # Neither secret is logged: the refused one nor the one that logged in.
    assert "not-the-secret" not in text
    assert good.secret and good.secret not in text
