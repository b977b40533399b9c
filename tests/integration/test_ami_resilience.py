"""The AMI link against the real Asterisk: restart and a silently stalled link."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

import pytest
from lab_node import lab_ami_node

from ami.connection import Gap, NodeConnection, ResyncSnapshot
from ami.state import ConnectionState, StateChange
from callctl.lab import asterisk
from callctl.lab import lab as lab_module
from callctl.settings import Settings

pytestmark = pytest.mark.integration


class StallableProxy:
    """A loopback TCP proxy that can stop forwarding while keeping sockets open."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.forwarding = True
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                if self.forwarding:  # when stalled, bytes vanish but sockets stay open
                    dst.write(data)
                    await dst.drain()

    def stall(self) -> None:
        self.forwarding = False

    def resume(self) -> None:
        self.forwarding = True

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def _wait_for(predicate: object, timeout_s: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.02)


async def test_asterisk_restart_reconnects_resyncs_and_records_gap(lab: Settings) -> None:
    node = lab_ami_node(lab)
    changes: list[StateChange] = []
    gaps: list[Gap] = []
    resyncs: list[ResyncSnapshot] = []
    paths = lab_module.asterisk_paths(lab)
    conn = NodeConnection(
        node,
        on_event=lambda e: None,
        on_state_change=changes.append,
        on_gap=gaps.append,
        on_resync=resyncs.append,
    )
    async with conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        stopped_at = time.time()
        await asyncio.to_thread(asterisk.stop, paths)
        await conn.wait_for_state(ConnectionState.DOWN, timeout_s=10)
        await asyncio.to_thread(asterisk.start, paths)
        state = lab_module.LabState.load(lab.lab_dir)
        assert state is not None
        await asyncio.to_thread(
            asterisk.wait_ready,
            paths,
            lab.ami_host,
            lab.ami_port,
            "callctl",
            state.ami_secret,
            60,
        )
        answered_at = time.time()
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        connected_at = time.time()
    reconnect_s = connected_at - answered_at
    print(f"\nreconnected and resynced {reconnect_s:.2f} s after AMI answered again")
    assert reconnect_s <= 3.0
    assert len(gaps) == 1
    gap = gaps[0]
    assert gap.node == node.node_id
    assert gap.started_at <= stopped_at + 0.5
    assert gap.ended_at >= stopped_at
    assert len(resyncs) >= 2  # at the first login and after the restart
    assert resyncs[-1].queue_params  # QueueStatus snapshot holds the lab queue
    assert any(p.queue == "hotline" for p in resyncs[-1].queue_params)


async def test_silent_link_detected_within_two_ping_intervals(lab: Settings) -> None:
    proxy = StallableProxy(lab.ami_host, lab.ami_port)
    port = await proxy.start()
    node = dataclasses.replace(lab_ami_node(lab), port=port, ping_interval=1.0)
    downs: list[float] = []

    def on_change(change: StateChange) -> None:
        if change.new is ConnectionState.DOWN:
            downs.append(time.monotonic())

    try:
        async with NodeConnection(node, on_event=lambda e: None, on_state_change=on_change) as c:
            await c.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
            stalled_at = time.monotonic()
            proxy.stall()
            await _wait_for(lambda: bool(downs), timeout_s=5)
            detect_s = downs[0] - stalled_at
            print(f"\nstalled link detected after {detect_s:.2f} s (ping interval 1 s)")
            assert detect_s <= 2 * node.ping_interval
            proxy.resume()
            await c.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
    finally:
        await proxy.close()
