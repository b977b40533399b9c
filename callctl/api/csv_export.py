"""CSV downloads, built one way: UTF-8 with a BOM (so that Excel reads the Chinese
headers), a header row, and the OpenAPI declaration of the ``text/csv`` answer."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.responses import Response

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}
}


def csv_text(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """The file's text: BOM, header, rows (``None`` as an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return "\ufeff" + out.getvalue()


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
