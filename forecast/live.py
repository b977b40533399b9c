"""Staffing on the wallboard: each line's current and next interval (forecast calls,
agents needed, agents logged in) and peak warnings, over the websocket and /metrics.

A peak warning fires when the forecast of the current or next interval, or the
arrival rate seen so far in the current interval (projected over the interval,
once ``LIVE_MIN_ELAPSED_S`` have passed), needs more agents than are logged in
to the line's queues. The pure part builds the panel from the day plans and the
live state; ``StaffingWatch`` (I/O) reads the routing config and the plans and
puts the panel, and the directory the agent tiles need (names, pause reasons'
labels), on the live hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client.core import Metric

from callctl.db_types import Pool
from callctl.errors import ReportedError
from callctl.kit.prometheus import Sample, gauge
from callctl.live.board import AgentLiveState
from callctl.live.hub import LiveHub
from callctl.live.state import LiveState
from callctl.routing_config.schemas import RoutingDoc
from callctl.routing_config.service import RoutingService
from callctl.settings import Settings
from forecast.api import plan_settings
from forecast.calendar import china_calendar
from forecast.service import INTERVAL, DayPlan, IntervalPlan, PlanSettings, plan_day
from forecast.staffing import Demand, agents_needed
from routing.model import DEFAULT_PAUSE_REASONS

log = logging.getLogger(__name__)

LIVE_MIN_ELAPSED_S = 180.0
"""Before this much of an interval has passed, its arrival rate says too little."""
_INTERVAL_S = INTERVAL.total_seconds()


@dataclass(frozen=True, slots=True)
class Directory:
    """What the wallboard shows beside ids, from the routing config in force."""

    agent_names: Mapping[str, str]
    pause_reasons: Mapping[str, Mapping[str, str]]
    line_names: Mapping[str, str]
    line_queues: Mapping[str, frozenset[str]]

    def as_json(self) -> dict[str, Any]:
        return {
            "agents": dict(sorted(self.agent_names.items())),
            "pause_reasons": {k: dict(v) for k, v in sorted(self.pause_reasons.items())},
            "lines": dict(sorted(self.line_names.items())),
        }


def directory_from_doc(doc: RoutingDoc) -> Directory:
    labels = [(r.name, r.label_zh, r.label_en) for r in doc.pause_reasons] or [
        (r.name, r.label_zh, r.label_en) for r in DEFAULT_PAUSE_REASONS
    ]
    line_queues: dict[str, set[str]] = {}
    queues = {q.name: q for q in doc.queues}
    for line in doc.lines:
        reached = {line.queue}
        queue = queues.get(line.queue)
        if queue is not None and queue.timeout_queue:
            reached.add(queue.timeout_queue)
        line_queues[line.number] = reached
    return Directory(
        agent_names={a.agent_id: a.name for a in doc.agents},
        pause_reasons={name: {"zh-CN": zh, "en": en} for name, zh, en in labels},
        line_names={line.number: line.name for line in doc.lines},
        line_queues={k: frozenset(v) for k, v in line_queues.items()},
    )


def logged_in_by_line(state: LiveState, directory: Directory) -> dict[str, int]:
    """Agents logged in (on the board and not offline) to any of each line's queues."""
    counts = dict.fromkeys(directory.line_queues, 0)
    for board in state.boards.values():
        for agent in board.members:
            view = board.agent_view(agent)
            if view is None or view.state is AgentLiveState.OFFLINE:
                continue
            queues = set(view.queues)
            for line, line_queues in directory.line_queues.items():
                if queues & line_queues:
                    counts[line] += 1
    return counts


def arrivals_by_line(state: LiveState, directory: Directory, since: float) -> dict[str, int]:
    """Queue entries of each line that entered at ``since`` or later (today's, live)."""
    counts = dict.fromkeys(directory.line_queues, 0)
    for entry in state.today.entries:
        if entry.entered_at < since:
            continue
        for line, line_queues in directory.line_queues.items():
            if entry.line == line or (entry.line is None and entry.queue in line_queues):
                counts[line] += 1
    return counts


def _slot(plan: IntervalPlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "start": plan.start.timestamp(),
        "calls": round(plan.calls, 1),
        "agents": plan.staffing.agents,
        "scheduled": plan.staffing.scheduled,
    }


def staffing_panel(
    plans: Mapping[str, DayPlan | None],
    directory: Directory,
    state: LiveState,
    now: float,
) -> dict[str, Any]:
    """The panel: per line its slots, agents logged in, live projection; and warnings."""
    moment = datetime.fromtimestamp(now, UTC)
    logged_in = logged_in_by_line(state, directory)
    lines: dict[str, Any] = {}
    warnings: list[dict[str, Any]] = []
    for line in sorted(directory.line_queues):
        plan = plans.get(line)
        here = logged_in.get(line, 0)
        entry: dict[str, Any] = {
            "name": directory.line_names.get(line, line),
            "logged_in": here,
            "current": None,
            "next": None,
            "live": None,
        }
        lines[line] = entry
        if plan is None:
            continue
        current = plan.at(moment)
        following = plan.at(moment + INTERVAL)
        entry["current"], entry["next"] = _slot(current), _slot(following)
        for name, slot in (("current", current), ("next", following)):
            if slot is not None and slot.staffing.agents > here:
                warnings.append(
                    {
                        "line": line,
                        "source": "forecast",
                        "interval": name,
                        "agents_needed": slot.staffing.agents,
                        "logged_in": here,
                    }
                )
        if current is None:
            continue
        start = current.start.timestamp()
        elapsed = now - start
        if elapsed >= LIVE_MIN_ELAPSED_S:
            seen = arrivals_by_line(state, directory, start)[line]
            projected = seen * _INTERVAL_S / elapsed
            needed = agents_needed(
                Demand(projected, _INTERVAL_S, plan.handle_s, plan.patience_s), plan.target
            ).agents
            entry["live"] = {"calls": seen, "projected": round(projected, 1), "agents": needed}
            if needed > here:
                warnings.append(
                    {
                        "line": line,
                        "source": "live",
                        "interval": "current",
                        "agents_needed": needed,
                        "logged_in": here,
                    }
                )
    return {"lines": lines, "warnings": warnings}


def staffing_metrics(panel: Mapping[str, Any] | None) -> list[Metric]:
    """Prometheus gauges of the panel (pure)."""
    if panel is None:
        return []
    calls: list[Sample] = []
    needed: list[Sample] = []
    logged: list[Sample] = []
    peaks: list[Sample] = []
    warned = {(w["line"], w["source"]) for w in panel["warnings"]}
    for line, entry in panel["lines"].items():
        logged.append(((line,), entry["logged_in"]))
        for interval in ("current", "next"):
            slot = entry[interval]
            if slot is not None:
                calls.append(((line, interval), slot["calls"]))
                needed.append(((line, interval), slot["agents"]))
        for source in ("forecast", "live"):
            peaks.append(((line, source), int((line, source) in warned)))
    by_interval = ("line", "interval")
    return [
        gauge(
            "callctl_staffing_forecast_calls",
            "Forecast calls of the interval.",
            calls,
            labels=by_interval,
        ),
        gauge(
            "callctl_staffing_agents_needed",
            "Agents the interval's forecast needs.",
            needed,
            labels=by_interval,
        ),
        gauge(
            "callctl_staffing_agents_logged_in",
            "Agents logged in to the line's queues.",
            logged,
            labels=("line",),
        ),
        gauge(
            "callctl_peak_warning",
            "1 when the forecast or the live rate needs more agents than are logged in.",
            peaks,
            labels=("line", "source"),
        ),
    ]


_READ_ERRORS = (
    OSError,
    ValueError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ReportedError,
)


class StaffingWatch:
    """Keeps the hub's ``staffing`` and ``directory`` panels up to date."""

    def __init__(
        self,
        pool: Pool,
        hub: LiveHub,
        settings: Settings,
        *,
        every_s: float = 10.0,
        replan_every_s: float = 900.0,
        retry_missing_s: float = 60.0,
    ) -> None:
        self._pool = pool
        self._hub = hub
        self._settings = settings
        self._routing = RoutingService(pool, settings)
        self._every_s = every_s
        self._replan_every_s = replan_every_s
        self._retry_missing_s = retry_missing_s
        self._plans: dict[str, DayPlan | None] = {}
        self._planned: tuple[date, float, frozenset[str]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.panel: dict[str, Any] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="callctl-staffing")
        self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        settings = plan_settings(self._settings)
        while True:
            try:
                await self.refresh(settings, time.time())
            except _READ_ERRORS as exc:  # the panel keeps what it had
                log.warning("staffing: refresh failed (%s); will retry", exc)
            await asyncio.sleep(self._every_s)

    async def refresh(self, settings: PlanSettings, now: float) -> None:
        _, doc = await self._routing.in_force()
        directory = directory_from_doc(doc)
        self._hub.put_extra("directory", directory.as_json())
        zone = self._settings.timezone
        today = datetime.fromtimestamp(now, ZoneInfo(zone)).date()
        lines = frozenset(directory.line_queues)
        # Plans change slowly (history is days old); a line without one (no history
        # yet, or rollups still being built) is tried again sooner.
        missing = any(plan is None for plan in self._plans.values())
        due = (
            self._planned is None
            or self._planned[0] != today
            or self._planned[2] != lines
            or now - self._planned[1] >= self._replan_every_s
            or (missing and now - self._planned[1] >= self._retry_missing_s)
        )
        if due:
            plans: dict[str, DayPlan | None] = {}
            async with self._pool.acquire() as conn:
                for line in sorted(lines):
                    plans[line] = await plan_day(
                        conn, china_calendar(), settings, line=line, day=today, timezone=zone
                    )
            self._plans, self._planned = plans, (today, now, lines)
        self.panel = staffing_panel(self._plans, directory, self._hub.state, now)
        self._hub.put_extra("staffing", self.panel)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("staffing watch crashed", exc_info=task.exception())
