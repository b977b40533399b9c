"""The wallboard page carries the hotline's time zone (and the script uses only it)."""

from __future__ import annotations

from pathlib import Path

from callctl.settings import Settings
from callctl.web.pages import render_wallboard

STATIC = Path(__file__).resolve().parents[3] / "callctl" / "web" / "static"


def test_page_carries_the_hotline_zone_escaped() -> None:
    page = render_wallboard(Settings(timezone="Asia/Urumqi"))
    assert 'data-timezone="Asia/Urumqi"' in page
    hostile = render_wallboard(Settings(timezone='x"><script>alert(1)</script>'))
    assert "<script>alert" not in hostile and "&quot;&gt;&lt;script&gt;" in hostile


def test_default_zone_is_shanghai_and_the_clock_never_uses_the_browser_zone() -> None:
    assert 'data-timezone="Asia/Shanghai"' in render_wallboard(Settings())
    script = (STATIC / "wallboard.js").read_text(encoding="utf-8")
    # Every date/time formatting names the zone delivered with the page.
    uses = [
        part[:80]
        for call in (
            "toLocaleTimeString(",
            "toLocaleDateString(",
            "toLocaleString(",
            "DateTimeFormat(",
        )
        for part in script.split(call)[1:]
    ]
    assert len(uses) >= 3
    assert all("timeZone: ZONE" in use for use in uses), uses
