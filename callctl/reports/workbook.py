"""A report as an XLSX workbook (openpyxl): one sheet per view, zh-CN headers, number formats.

Cells hold the figures exactly as ``/kpis`` shows them (percentages as 93.99 with a
``%`` suffix in the format, seconds with two decimals), so a sheet and the API agree.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from callctl.reports.model import COUNT_COLUMNS, FIGURE_COLUMNS, ReportData, ViewData
from kpi.figures import FIGURE_LABELS

COUNT_FORMAT = "#,##0"
PERCENT_FORMAT = '0.00"%"'
SECONDS_FORMAT = '0.00" 秒"'
HEADER_FONT = Font(bold=True, color="FFFFFF", name="Microsoft YaHei")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
TITLE_FONT = Font(bold=True, size=14, name="Microsoft YaHei")
GROUP_KEY_HEADER = "分组键（UTC）"


def _header(ws: Worksheet, row: int, labels: list[str]) -> None:
    for column, label in enumerate(labels, start=1):
        cell = ws.cell(row=row, column=column, value=label)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _figures_of(data: ViewData) -> list[str]:
    present = {name for row in data.rows for name in row.figures}
    return [f for f in FIGURE_COLUMNS if f in present]


def _view_sheet(wb: Workbook, report: ReportData, data: ViewData) -> None:
    ws = wb.create_sheet(data.view.title)
    figures = _figures_of(data)
    labels = ["分组"] + [FIGURE_LABELS[c]["zh-CN"] for c in COUNT_COLUMNS]
    for name in figures:
        unit = "%" if data.rows and data.rows[0].figures[name].unit == "percent" else "秒"
        labels.append(f"{FIGURE_LABELS[name]['zh-CN']}（{unit}）")
    labels.append(GROUP_KEY_HEADER)
    _header(ws, 1, labels)
    for r, row in enumerate(data.rows, start=2):
        ws.cell(row=r, column=1, value=report.group_label(data.view, row.group))
        column = 2
        for name in COUNT_COLUMNS:
            ws.cell(row=r, column=column, value=row.counts[name]).number_format = COUNT_FORMAT
            column += 1
        for name in figures:
            figure = row.figures.get(name)
            cell = ws.cell(row=r, column=column, value=None if figure is None else figure.value)
            unit = "percent" if figure is None else figure.unit
            cell.number_format = PERCENT_FORMAT if unit == "percent" else SECONDS_FORMAT
            column += 1
        ws.cell(row=r, column=column, value=row.group)
    ws.freeze_panes = "B2"
    ws.column_dimensions["A"].width = 16
    for column in range(2, len(labels) + 1):
        ws.column_dimensions[get_column_letter(column)].width = 13
    ws.column_dimensions[get_column_letter(len(labels))].width = 27
    ws.row_dimensions[1].height = 32


def _about_sheet(ws: Worksheet, report: ReportData) -> None:
    ws.title = "说明"
    ws.cell(row=1, column=1, value=report.title).font = TITLE_FONT
    p = report.params
    caps = "，".join(f"{line}: {cap} 秒" for line, cap in sorted(p.acw_max_s.items())) or "—"
    rows = [
        ("统计区间（北京时间）", report.span_text),
        ("服务热线", report.line or "全部"),
        ("15秒接通率门限", f"{p.service_level_s} 秒"),
        ("短时放弃门限", f"{p.short_abandon_s} 秒（等待少于此值的放弃不计入呼入总量）"),
        ("计数口径", "按排队进线（每次进入队列计一次）"),
        ("事后处理时长上限", f"{caps}；其他 {p.acw_max_s_default} 秒"),
        ("生成时间", report.generated_at.isoformat()),
    ]  # fmt: skip
    for r, (label, value) in enumerate(rows, start=3):
        ws.cell(row=r, column=1, value=label).font = Font(bold=True)
        ws.cell(row=r, column=2, value=value)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 80


def _assessment_sheet(wb: Workbook, report: ReportData) -> None:
    a = report.assessment
    if a is None:
        return
    ws = wb.create_sheet("考核")
    ws.cell(row=1, column=1, value=f"{a.label} {a.month}").font = TITLE_FONT
    labels = ["项目", "指标值", "分子", "分母", "目标", "结果", "单位", "档位", "计算过程"]
    _header(ws, 3, labels)
    r = 4
    for rule in a.rules:
        values = [
            rule.label, None if rule.figure is None else float(rule.figure), rule.numerator,
            rule.denominator, rule.target, float(rule.outcome), rule.outcome_unit, rule.tier,
            "\n".join([rule.words, *rule.exclusions]),
        ]  # fmt: skip
        for column, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=column, value=value)
            cell.alignment = Alignment(vertical="top", wrap_text=column == 9)
        ws.cell(row=r, column=2).number_format = "0.00"
        ws.cell(row=r, column=6).number_format = "0.00"
        r += 1
    r += 1
    for total in a.totals:
        ws.cell(row=r, column=1, value="合计").font = Font(bold=True)
        ws.cell(row=r, column=6, value=float(total.net)).number_format = "0.00"
        ws.cell(row=r, column=7, value=total.unit)
        ws.cell(row=r, column=9, value=total.words)
        r += 1
    ws.cell(row=r + 1, column=1, value="结论").font = Font(bold=True)
    ws.cell(row=r + 1, column=9, value=a.summary)
    widths = {"A": 18, "B": 10, "C": 10, "D": 10, "E": 22, "F": 10, "G": 12, "H": 10, "I": 90}
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width


def build_workbook(report: ReportData) -> bytes:
    wb = Workbook()
    active = wb.active
    assert active is not None  # a new workbook has one sheet
    _about_sheet(active, report)
    for data in report.views:
        _view_sheet(wb, report, data)
    _assessment_sheet(wb, report)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
