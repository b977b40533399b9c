"""Headless Chromium driven over the Chrome DevTools Protocol (a minimal client for tests).

Debian's ``/usr/bin/chromium`` is started with ``--remote-debugging-port=0``; the
port it picked is read from ``DevToolsActivePort`` in its profile directory, and
the page target's websocket takes CDP commands (``{"id", "method", "params"}``,
answered by the same ``id``; events without an ``id`` are skipped).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

CHROMIUM = "/usr/bin/chromium"


class CdpError(Exception):
    pass


class Page:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        await self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self._ws.recv(), 30))
            if message.get("id") != command_id:
                continue  # an event, or a late answer
            if "error" in message:
                raise CdpError(f"{method}: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float, poll_s: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = await self.evaluate(expression)
            except CdpError:
                value = None  # e.g. the page is still loading
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"page: {expression} still false after {timeout_s} s")
            await asyncio.sleep(poll_s)

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def _read_port(marker: Path) -> int | None:
    text = marker.read_text() if marker.exists() else ""
    return int(text.splitlines()[0]) if text.strip() else None


async def _devtools_port(profile: Path, proc: asyncio.subprocess.Process, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (port := await asyncio.to_thread(_read_port, profile / "DevToolsActivePort")) is None:
        if proc.returncode is not None:
            raise CdpError(f"chromium exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise CdpError("chromium did not open its DevTools port")
        await asyncio.sleep(0.05)
    return port


@asynccontextmanager
async def chromium_page(
    profile: Path, log: Path, width: int = 1600, height: int = 1000
) -> AsyncIterator[Page]:
    """A headless Chromium with one blank page; closed (by its pid) on exit."""
    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    args = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",  # runs as root here
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    out = await asyncio.to_thread(log.open, "ab")
    try:
        proc = await asyncio.create_subprocess_exec(*args, stdout=out, stderr=out)
    finally:
        out.close()
    try:
        port = await _devtools_port(profile, proc, 20)
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with websockets.connect(page_url, max_size=64 * 2**20) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            await page.call("Runtime.enable")
            yield page
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
