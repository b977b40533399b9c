"""The recording collector inside ``callctl serve``: built from settings and the
nodes, started and stopped by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.nodes import NodesConfig
from callctl.settings import Settings
from recording.collector import Collector, CollectorTask


@dataclass
class RunningCollector:
    pool: asyncpg.Pool
    task: CollectorTask

    async def stop(self) -> None:
        await self.task.stop()
        await self.pool.close()


async def start_collector(
    settings: Settings, database_url: str, nodes: NodesConfig | None
) -> RunningCollector | None:
    """Collect the recordings of every node with a ``recordings_dir``; None if none has."""
    spools = {
        node.node_id: node.recordings_dir
        for node in (nodes.nodes if nodes is not None else ())
        if node.recordings_dir is not None
    }
    if not spools:
        return None
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(database_url),
        min_size=0,
        max_size=2,
        timeout=5,
        command_timeout=60,
        server_settings={"application_name": "callctl-recordings"},
    )
    collector = Collector(
        pool,
        settings.recordings_root,
        spools,
        orphan_after_s=settings.reconcile_max_call_s + 600,
    )
    task = CollectorTask(collector, settings.recordings_scan_interval_s)
    task.start()
    return RunningCollector(pool, task)
