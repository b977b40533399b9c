"""What a report holds: its period, the KPI parameters, one table per view, the assessment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from callctl.api.kpis import KpiParamsOut, KpiRowOut
from callctl.assessment.schemas import AssessmentOut
from callctl.reports.periods import ReportKind, View
from kpi.query import GroupBy

COUNT_COLUMNS = ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "lost")
FIGURE_COLUMNS = (
    "answer_rate", "service_level", "abandon_rate", "asa_s", "avg_talk_s", "avg_acw_s",
    "avg_handle_s", "satisfaction", "survey_take_up", "utilisation",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ViewData:
    view: View
    rows: list[KpiRowOut]
    """Exactly what ``GET /api/v1/kpis`` returns for the view's ``group_by``."""


@dataclass(frozen=True, slots=True)
class ReportData:
    kind: ReportKind
    start: date
    line: str | None
    tz: str
    title: str
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    params: KpiParamsOut
    views: list[ViewData]
    hourly_offered: list[int]
    """Entries offered per local hour of day (0-23) over the period."""
    answer_rate_target: float | None
    assessment: AssessmentOut | None = None

    @property
    def trend(self) -> ViewData | None:
        """The view over time (intervals, days or months) the rate chart draws."""
        for data in self.views:
            if data.view.group_by in (GroupBy.INTERVAL, GroupBy.DAY, GroupBy.MONTH):
                return data
        return None

    @property
    def span_text(self) -> str:
        """The window in local time: ``2026-03-01 00:00 至 2026-04-01 00:00``."""
        start, end = (
            self._local(self.window_start.isoformat()),
            self._local(self.window_end.isoformat()),
        )
        return f"{start:%Y-%m-%d %H:%M} 至 {end:%Y-%m-%d %H:%M}（不含）"

    def group_label(self, view: View, group: str | None) -> str:
        """A group as a reader names it: local time for periods, else the id."""
        if group is None:
            return "合计" if view.group_by is GroupBy.NONE else "（未知）"
        match view.group_by:
            case GroupBy.INTERVAL:
                return self._local(group).strftime("%H:%M")
            case GroupBy.DAY:
                return self._local(group).strftime("%Y-%m-%d")
            case GroupBy.WEEK:
                return self._local(group).strftime("%Y-%m-%d 起")
            case GroupBy.MONTH:
                return self._local(group).strftime("%Y-%m")
            case GroupBy.YEAR:
                return self._local(group).strftime("%Y")
        return group

    def _local(self, iso: str) -> datetime:
        return datetime.fromisoformat(iso).astimezone(ZoneInfo(self.tz))
