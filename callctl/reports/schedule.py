"""The report schedule: a supervised task, started and stopped by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callctl.db_types import Pool
from callctl.reports.service import ScheduleSettings, run_schedule
from callctl.routing_config.service import routing_lines
from callctl.settings import Settings
from kpi.inputs import AcwCaps

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReportSchedule:
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reports: the schedule stopped", exc_info=task.exception())


def start_report_schedule(
    pool: Pool, settings: Settings, acw_caps: Callable[[], Awaitable[AcwCaps]]
) -> ReportSchedule | None:
    """Reports of every line of the routing config in force (and of the whole hotline)
    into ``settings.reports_dir``; ``None`` when no folder is configured."""
    if settings.reports_dir is None:
        return None
    queue_lines = routing_lines(pool, settings)

    async def lines() -> list[str | None]:
        return [None, *sorted(set((await queue_lines()).values()))]

    schedule = ScheduleSettings(
        settings.reports_dir, settings.timezone, settings.report_interval_s, settings.report_scheme
    )
    task = asyncio.create_task(run_schedule(pool, schedule, lines, acw_caps), name="reports")
    task.add_done_callback(_log_end)
    return ReportSchedule(task)
