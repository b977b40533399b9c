"""A report as one self-contained HTML page with SVG charts (no scripts, no fetches).

Charts a supervisor would rather look at than read: the answer rate over the period
against its target, and the offered calls per hour of the day. Tables follow, one per
view, with the same figures as the workbook and ``/kpis``.
"""

from __future__ import annotations

from html import escape

from callctl.reports.model import COUNT_COLUMNS, FIGURE_COLUMNS, ReportData, ViewData
from kpi.figures import FIGURE_LABELS

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 860, 280, 56, 46, 20, 20

STYLE = """
body { font-family: "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; margin: 24px;
       color: #1b1b1b; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #555; font-size: 13px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; border: 1px solid #ddd; padding: 8px; }
figcaption { font-size: 14px; font-weight: bold; margin-bottom: 4px; }
table { border-collapse: collapse; font-size: 12px; }
th { background: #1f4e78; color: #fff; padding: 4px 6px; }
td { border-bottom: 1px solid #e3e3e3; padding: 3px 6px; text-align: right; }
td:first-child { text-align: left; }
.words { font-size: 13px; line-height: 1.6; }
.fail { color: #b00020; } .pass { color: #1b7f3b; }
"""


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _axis(y_max: float, unit: str) -> list[str]:
    parts = []
    for i in range(5):
        value = y_max * i / 4
        y = H - PAD_B - (H - PAD_B - PAD_T) * i / 4
        parts.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{value:.0f}{unit}</text>"
        )
    return parts


def _y_of_percent(value: float) -> float:
    return H - PAD_B - (H - PAD_B - PAD_T) * value / 100


def rate_chart(report: ReportData) -> str:
    """The answer rate per period of the trend view, against the target."""
    trend = report.trend
    if trend is None:
        return ""
    points = [
        (report.group_label(trend.view, row.group), row.figures["answer_rate"].value)
        for row in trend.rows
        if row.group is not None
    ]
    n = max(len(points), 1)
    step = (W - PAD_L - PAD_R) / n
    parts = _axis(100, "%")
    path = []
    for i, (label, value) in enumerate(points):
        x = PAD_L + step * (i + 0.5)
        if value is not None:
            path.append(f"{x:.1f},{_y_of_percent(value):.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{_y_of_percent(value):.1f}" r="2.5" fill="#1f77b4"/>'
            )
        if n <= 31 or i % max(1, n // 24) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{H - PAD_B + 14}" font-size="10" text-anchor="end" '
                f'transform="rotate(-45 {x:.1f} {H - PAD_B + 14})">{escape(label)}</text>'
            )
    parts.append(
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{" ".join(path)}"/>'
    )
    if report.answer_rate_target is not None:
        y = _y_of_percent(report.answer_rate_target)
        parts.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#d62728" '
            f'stroke-dasharray="6 4"/><text x="{W - PAD_R}" y="{y - 4:.1f}" font-size="11" '
            f'text-anchor="end" fill="#d62728">目标 {report.answer_rate_target:.2f}%</text>'
        )
    return _figure(f"{trend.view.title}人工接通率与目标", parts)


def volume_chart(report: ReportData) -> str:
    """Offered entries per hour of the day."""
    peak = max(report.hourly_offered, default=0) or 1
    step = (W - PAD_L - PAD_R) / 24
    parts = _axis(peak, "")
    for hour, count in enumerate(report.hourly_offered):
        height = (H - PAD_B - PAD_T) * count / peak
        x = PAD_L + step * hour + 2
        parts.append(
            f'<rect x="{x:.1f}" y="{H - PAD_B - height:.1f}" width="{step - 4:.1f}" '
            f'height="{height:.1f}" fill="#2ca02c"><title>{hour}时 {count}</title></rect>'
            f'<text x="{x + (step - 4) / 2:.1f}" y="{H - PAD_B + 14}" font-size="10" '
            f'text-anchor="middle">{hour}</text>'
        )
    return _figure("各小时呼入量", parts)


def _figure(caption: str, parts: list[str]) -> str:
    body = "".join(parts)
    return (
        f"<figure><figcaption>{escape(caption)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}">{body}</svg></figure>'
    )


def _table(report: ReportData, data: ViewData) -> str:
    present = {name for row in data.rows for name in row.figures}
    figures = [f for f in FIGURE_COLUMNS if f in present]
    head = ["分组", *(FIGURE_LABELS[c]["zh-CN"] for c in COUNT_COLUMNS)]
    head += [FIGURE_LABELS[f]["zh-CN"] for f in figures]
    rows = []
    for row in data.rows:
        cells = [escape(report.group_label(data.view, row.group))]
        cells += [f"{row.counts[c]:,}" for c in COUNT_COLUMNS]
        for name in figures:
            figure = row.figures[name]
            suffix = "%" if figure.unit == "percent" else ""
            cells.append(_fmt(figure.value) + (suffix if figure.value is not None else ""))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<h2>{escape(data.view.title)}</h2><table><tr>{header}</tr>{''.join(rows)}</table>"


def _assessment(report: ReportData) -> str:
    a = report.assessment
    if a is None:
        return ""
    items = []
    for rule in a.rules:
        css = "" if rule.passed is None else ("pass" if rule.passed else "fail")
        notes = "".join(f"<br>· {escape(n)}" for n in rule.exclusions)
        items.append(f'<li class="{css}">{escape(rule.words)}{notes}</li>')
    totals = "".join(f"<li>{escape(t.words)}</li>" for t in a.totals)
    return (
        f"<h2>考核：{escape(a.label)} {escape(a.month)}</h2>"
        f'<ul class="words">{"".join(items)}{totals}</ul>'
        f'<p class="words"><b>{escape(a.summary)}</b></p>'
    )


def build_html(report: ReportData) -> str:
    p = report.params
    meta = (
        f"统计区间（北京时间）：{escape(report.span_text)} · "
        f"15秒接通率门限 {p.service_level_s} 秒 · "
        f"短时放弃门限 {p.short_abandon_s} 秒 · 按排队进线计数 · 生成于 "
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC"
    )
    body = [
        f"<h1>{escape(report.title)}</h1><p class='meta'>{meta}</p>",
        f'<div class="charts">{rate_chart(report)}{volume_chart(report)}</div>',
        _assessment(report),
        *(_table(report, data) for data in report.views),
    ]
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
