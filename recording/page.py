"""``/recordings``: a small page that searches recordings and plays one (录音调听).

Only the two files named here are served; the audio comes from the API with the
user's token, so every play is checked and audited like any other listen.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["pages"], include_in_schema=False)

_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; media-src blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _static(name: str) -> str:
    return resources.files("callctl.web").joinpath("static", name).read_text(encoding="utf-8")


@router.get("/recordings", response_class=HTMLResponse)
async def recordings_page() -> HTMLResponse:
    return HTMLResponse(_static("recordings.html"), headers=_HEADERS)


@router.get("/recordings/player.js")
async def player_script() -> Response:
    return Response(
        _static("recordings.js"), media_type="text/javascript; charset=utf-8", headers=_HEADERS
    )
