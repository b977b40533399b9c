"""The API guard's body limits as the service installs them: 1 MiB for every request,
except the uploads that carry audio (recordings from the nodes, IVR prompts)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from callctl.api.setup import install_api_guards
from callctl.ivr_ops.prompts import MAX_UPLOAD_BYTES
from callctl.settings import Settings

TWO_MIB = b"\0" * (2 * 1024 * 1024)


def _app() -> FastAPI:
    app = FastAPI()
    install_api_guards(app, Settings(max_body_bytes=1024 * 1024))

    async def length(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    # Stand-ins at the real paths: the guard picks the limit by method and path.
    for method, path in (
        ("PUT", "/api/v1/ivr/prompts/{name}"),
        ("POST", "/api/v1/ivr/prompts/{name}/synthesize"),
        ("PUT", "/api/v1/routing/config"),
    ):
        app.add_api_route(path, length, methods=[method])
    return app


async def _send(method: str, path: str, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://callctl.test") as client:
        return await client.request(method, path, content=body)


async def test_a_prompt_over_1_mib_reaches_its_endpoint() -> None:
    # A studio's 44.1 kHz stereo WAV passes 1 MiB in 6 s; sox converts it to 8 kHz mono.
    r = await _send("PUT", "/api/v1/ivr/prompts/welcome", TWO_MIB)
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": len(TWO_MIB)}


async def test_a_prompt_over_its_own_limit_is_413() -> None:
    r = await _send("PUT", "/api/v1/ivr/prompts/welcome", b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert r.status_code == 413
    assert r.json()["error"]["detail"] == {"limit": MAX_UPLOAD_BYTES}


async def test_other_requests_keep_1_mib() -> None:
    for method, path in (
        ("POST", "/api/v1/ivr/prompts/welcome/synthesize"),
        ("PUT", "/api/v1/routing/config"),
    ):
        r = await _send(method, path, TWO_MIB)
        assert r.status_code == 413, (method, path)
        assert r.json()["error"]["detail"] == {"limit": 1024 * 1024}
