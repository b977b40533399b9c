"""``/wallboard``: the wallboard page and its script and style, from the package.

Only the files named here are served (no directory listing, no path from the
request reaches the file system). The page's targets come from the settings and
are written into it as JSON in an HTML attribute, escaped.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callctl.settings import Settings

router = APIRouter(tags=["pages"], include_in_schema=False)

_ASSETS: Final = {
    "wallboard.js": "text/javascript; charset=utf-8",
    "wallboard.css": "text/css; charset=utf-8",
}
# Scripts and styles from this origin only; the websocket to this host.
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _static(name: str) -> str:
    return resources.files("callctl.web").joinpath("static", name).read_text(encoding="utf-8")


def wallboard_targets(settings: Settings) -> dict[str, float]:
    return {
        "answer_rate": settings.wallboard_answer_rate_target,
        "service_level": settings.wallboard_service_level_target,
        "acw_s": settings.wallboard_acw_target_s,
        "satisfaction": settings.wallboard_satisfaction_target,
    }


def render_wallboard(settings: Settings) -> str:
    """The page, with the targets and the hotline's time zone (the clock and the date
    use it from the first paint, before any snapshot and after a disconnect)."""
    targets = html.escape(json.dumps(wallboard_targets(settings)), quote=True)
    zone = html.escape(settings.timezone, quote=True)
    return _static("wallboard.html").replace("@@targets@@", targets).replace("@@timezone@@", zone)


@router.get("/wallboard", response_class=HTMLResponse)
async def wallboard_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    return HTMLResponse(render_wallboard(settings), headers=_SECURITY_HEADERS)


@router.get("/wallboard/{name}")
async def wallboard_asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        return Response(status_code=404)
    return Response(_static(name), media_type=media_type, headers=_SECURITY_HEADERS)
