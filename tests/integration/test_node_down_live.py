"""A node that dies shows as down on the wallboard's feed within 3 s, and comes back up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.lab import asterisk
from callctl.lab import lab as lab_module
from callctl.nodes import load_nodes
from callctl.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["own_db"]


async def node_link(ws: Any, ami: str, timeout_s: float) -> dict[str, Any]:
    """The next ``node_link`` delta saying ``ami``."""
    async with asyncio.timeout(timeout_s):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "node_link" and message["ami"] == ami:
                return message  # type: ignore[no-any-return]


def restart_asterisk(lab: Settings) -> None:
    paths = lab_module.asterisk_paths(lab)
    if asterisk.running(paths) is None:
        asterisk.start(paths)
    secret = load_nodes(lab.nodes_file).nodes[0].secret
    asterisk.wait_ready(paths, lab.ami_host, lab.ami_port, "callctl", secret, 60)


async def test_a_killed_node_is_down_on_the_wallboard_within_3_s(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    paths = lab_module.asterisk_paths(lab)
    proc = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    try:
        await wait_healthy()
        token = await provision_user(own_db, "nodes-test", Role.SUPERVISOR, label="nodes test")
        async with websockets.connect(f"ws://127.0.0.1:{HTTP_PORT}/ws/wallboard") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            assert snapshot["nodes"]["lab"]["ami"] == "connected"
            assert snapshot["nodes_down"] == []

            pid = asterisk.running(paths)
            assert pid is not None
            killed_at = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            down = await node_link(ws, "down", timeout_s=10)
            took = time.monotonic() - killed_at
            print(f"\nnode down on the wallboard feed {took:.2f} s after SIGKILL")
            assert down["node"] == "lab"
            assert took <= 3.0

            await asyncio.to_thread(restart_asterisk, lab)
            up = await node_link(ws, "connected", timeout_s=15)
            assert up["node"] == "lab"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        await asyncio.to_thread(restart_asterisk, lab)  # leave the lab as found
