"""The recording collector and the daily expiry inside ``callctl serve``: built from
settings and the nodes, started and stopped by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.nodes import NodesConfig
from callctl.settings import Settings
from recording.collector import DB_DOWN, Collector, CollectorTask
from recording.retention import expire, scrub
from recording.survey_keys import routing_dissatisfied_keys

log = logging.getLogger(__name__)
DAY_S = 86400.0


async def daily_expiry(pool: asyncpg.Pool, settings: Settings, *, first_after_s: float) -> None:
    """Delete expired recordings once a day (the first run soon after start)."""
    await asyncio.sleep(first_after_s)
    while True:
        try:
            deleted = await expire(pool, settings.recordings_root, datetime.now(UTC))
            log.info("retention: %d expired recordings deleted", len(deleted))
        except DB_DOWN as exc:
            log.warning("retention run failed (next in a day): %s", exc)
        except Exception:  # a job that must go on: log the bug, try again tomorrow
            log.exception("retention run failed")
        await asyncio.sleep(DAY_S)


async def daily_scrub(
    pool: asyncpg.Pool, store: Path, *, sample: int, first_after_s: float, every_s: float = DAY_S
) -> None:
    """Re-hash a random sample of kept recordings once a day; a mismatch or a missing
    file is logged as an error (each recording's id), as ``callctl recordings scrub``
    reports it."""
    await asyncio.sleep(first_after_s)
    while True:
        try:
            report = await scrub(pool, store, sample=sample)
            if report.ok:
                log.info("scrub: %d recordings re-hashed, all match", report.checked)
            else:
                log.error(
                    "scrub: %d re-hashed; hash mismatch %s; file missing %s",
                    report.checked,
                    report.mismatched,
                    report.missing,
                )
        except DB_DOWN as exc:
            log.warning("scrub failed (next in a day): %s", exc)
        except Exception:  # a job that must go on: log the bug, try again tomorrow
            log.exception("scrub failed")
        await asyncio.sleep(every_s)


@dataclass
class RunningCollector:
    pool: asyncpg.Pool
    task: CollectorTask
    jobs: list[asyncio.Task[None]]

    async def stop(self) -> None:
        for job in self.jobs:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
        await self.task.stop()
        await self.pool.close()


async def start_collector(
    settings: Settings, database_url: str, nodes: NodesConfig | None
) -> RunningCollector | None:
    """Collect the recordings of every node with a ``recordings_dir``, link them (and the
    shipped ones) to their entries, sample them for QA, expire them daily. None without
    nodes (the API alone)."""
    if nodes is None:
        return None
    spools = {
        node.node_id: node.recordings_dir for node in nodes.nodes if node.recordings_dir is not None
    }
    if shutil.which("sox") is None:
        # Not fatal: calls and their facts go on, recordings wait in the spools.
        log.error("recordings: sox not found (Debian package sox); not collecting recordings")
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
        link_within=timedelta(days=7),  # older ones: `callctl recordings scan`
        dissatisfied_keys=routing_dissatisfied_keys(pool, settings),
    )
    task = CollectorTask(collector, settings.recordings_scan_interval_s)
    task.start()
    jobs = [
        asyncio.create_task(
            daily_expiry(pool, settings, first_after_s=60.0), name="recording-expiry"
        )
    ]
    if settings.recordings_scrub_sample > 0:
        jobs.append(
            asyncio.create_task(
                daily_scrub(
                    pool,
                    settings.recordings_root,
                    sample=settings.recordings_scrub_sample,
                    first_after_s=settings.recordings_scrub_first_after_s,
                ),
                name="recording-scrub",
            )
        )
    return RunningCollector(pool, task, jobs)
