"""Keeps the KPI rollups up to date: refreshes dirty intervals in the background.

Answers never depend on it (``kpi.query`` reads dirty intervals from the
facts); it only keeps queries fast. It builds them with the line caps of the
routing config in force, read before each pass (a changed cap rebases them,
see ``kpi.rollups``). One connection, kept open; on a database
error it logs, drops the connection and tries again after ``interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg

from callctl.db import asyncpg_dsn
from kpi.inputs import AcwCapsLoader
from kpi.rollups import refresh_dirty

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RefresherStats:
    intervals_refreshed: int = 0
    failures: int = 0


class RollupRefresher:
    def __init__(
        self,
        database_url: str,
        acw_caps: AcwCapsLoader,
        *,
        interval_s: float = 5.0,
        batch: int = 96,
        quiet_s: float = 0.0,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._acw_caps = acw_caps
        self._interval_s = interval_s
        self._batch = batch
        self._quiet_s = quiet_s
        self._task: asyncio.Task[None] | None = None
        self.stats = RefresherStats()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="callctl-kpi-rollups")
        self._task.add_done_callback(_log_crash)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh_once(self, conn: asyncpg.Connection) -> int:
        """Refresh until nothing is dirty; returns how many intervals."""
        total = 0
        try:
            caps = await self._acw_caps()
        except Exception as exc:  # no caps, no rollups: queries read the facts meanwhile
            self.stats.failures += 1
            log.warning("KPI rollups: reading the lines' acw_max_s failed (%s); retrying", exc)
            return 0
        while done := await refresh_dirty(conn, caps, limit=self._batch, quiet_s=self._quiet_s):
            total += done
            self.stats.intervals_refreshed += done
        return total

    async def _loop(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self._dsn, timeout=5)
                    await self.refresh_once(conn)
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    self.stats.failures += 1
                    log.warning("KPI rollups: refresh failed (%s); retrying", exc)
                    if conn is not None:
                        conn.terminate()
                    conn = None
                await asyncio.sleep(self._interval_s)
        finally:
            if conn is not None:
                conn.terminate()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("KPI rollup refresher crashed", exc_info=task.exception())
