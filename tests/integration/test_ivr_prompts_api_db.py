"""IVR prompts through the HTTP API, on real PostgreSQL, sox and espeak-ng.

An uploaded WAV is converted to what Asterisk plays (8 kHz mono 16-bit, read back
with soxi) and listed by the routing config in a new version; a body that is not
audio, an unsafe name or a user without the ops or admin role is refused and
leaves no file and no version; espeak-ng speaks a stand-in that sox can play.

No Asterisk here: the routing change is stored and applied to no node (the config
reaching Asterisk is test_routing_apply's subject).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from calls_helpers import client, token
from fastapi import FastAPI
from service_helpers import own_db

from callctl.app import create_app
from callctl.auth.roles import Role
from callctl.routing_config.service import RoutingService
from callctl.routing_config.target import NodeTarget
from callctl.settings import Settings

pytestmark = pytest.mark.db

__all__ = ["own_db"]


def _no_nodes(settings: Settings) -> list[NodeTarget]:
    return []


def _soxi(path: Path, flag: str) -> str:
    out = subprocess.run(["soxi", flag, str(path)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _rms(path: Path) -> float:
    """The loudness sox measures when it decodes the file (0 for silence)."""
    stat = subprocess.run(
        ["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True
    ).stderr
    rms = re.search(r"^RMS\s+amplitude:\s+([0-9.]+)$", stat, re.MULTILINE)
    assert rms is not None, stat
    return float(rms.group(1))


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    return tmp_path / "sounds"


@pytest.fixture
async def app(own_db: str, sounds: Path, settings: Settings) -> AsyncIterator[FastAPI]:
    own = settings.model_copy(update={"prompts_dir": sounds})
    application = create_app(own, ingest=False, database_url=own_db)
    async with application.router.lifespan_context(application):
        application.state.routing = RoutingService(application.state.db, own, targets=_no_nodes)
        yield application


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client(app) as c:
        yield c


@pytest.fixture
def studio_wav(tmp_path: Path) -> bytes:
    """1.5 s of 44.1 kHz stereo: what a recording studio might hand over."""
    source = tmp_path / "studio.wav"
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", "1.5", "sine", "440"],
        check=True,
    )
    return source.read_bytes()


async def _routing(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await api.get("/api/v1/routing/config", headers=headers)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _stored(sounds: Path) -> list[str]:
    return sorted(p.name for p in sounds.rglob("*") if p.is_file())


async def test_an_uploaded_wav_is_converted_and_listed_in_a_new_version(
    app: FastAPI, api: httpx.AsyncClient, sounds: Path, studio_wav: bytes
) -> None:
    ops = await token(app, Role.OPS)
    before = await _routing(api, ops)
    r = await api.put("/api/v1/ivr/prompts/welcome", content=studio_wav, headers=ops)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prompt"] == "callctl/welcome"
    assert body["seconds"] == pytest.approx(1.5)
    stored = sounds / "callctl" / "welcome.wav"
    assert (_soxi(stored, "-t"), _soxi(stored, "-r"), _soxi(stored, "-c")) == ("wav", "8000", "1")
    assert (_soxi(stored, "-b"), _soxi(stored, "-e")) == ("16", "Signed Integer PCM")
    assert float(_soxi(stored, "-D")) == pytest.approx(1.5)

    after = await _routing(api, ops)
    assert before["version"] is None or after["version"] > before["version"]
    assert after["version"] == body["version"]
    assert "callctl/welcome" in after["prompts"]
    assert "callctl/welcome" not in before["prompts"]
    r = await api.get("/api/v1/routing/versions", headers=ops)
    latest = r.json()[0]
    assert (latest["id"], latest["change"]) == (body["version"], "prompt callctl/welcome")
    assert latest["status"] == "applied"

    # Uploading it again replaces the file; the list names it once.
    r = await api.put("/api/v1/ivr/prompts/welcome", content=studio_wav, headers=ops)
    assert r.status_code == 200, r.text
    assert (await _routing(api, ops))["prompts"].count("callctl/welcome") == 1


async def test_not_audio_an_unsafe_name_or_the_wrong_role_stores_nothing(
    app: FastAPI, api: httpx.AsyncClient, sounds: Path, studio_wav: bytes
) -> None:
    admin = await token(app, Role.ADMIN)
    before = await _routing(api, admin)

    for junk in (b"<html>not audio</html>", b"RIFF\x00\x00\x00\x00WAVEfmt ", b""):
        r = await api.put("/api/v1/ivr/prompts/junk", content=junk, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["id"] == "prompt.bad_audio"
        assert r.json()["error"]["detail"] == {"field": "file"}

    # Outside [a-z0-9][a-z0-9_-]{0,63}: refused before anything runs.
    for name in ("Welcome", "a;b", "a%20b", "-x", "a.wav", "%2e%2e", "x" * 65):
        r = await api.put(f"/api/v1/ivr/prompts/{name}", content=studio_wav, headers=admin)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["error"]["id"] == "request.invalid", name
        r = await api.post(
            f"/api/v1/ivr/prompts/{name}/synthesize", json={"text": "您好"}, headers=admin
        )
        assert r.status_code == 422, (name, r.text)

    # Only ops and admins change prompts.
    for role in (Role.SUPERVISOR, Role.AGENT):
        other = await token(app, role, agent_id="1001" if role is Role.AGENT else None)
        r = await api.put("/api/v1/ivr/prompts/welcome", content=studio_wav, headers=other)
        assert r.status_code == 403, r.text
        r = await api.post(
            "/api/v1/ivr/prompts/welcome/synthesize", json={"text": "您好"}, headers=other
        )
        assert r.status_code == 403, r.text
    r = await api.put("/api/v1/ivr/prompts/welcome", content=studio_wav)
    assert r.status_code == 401

    assert _stored(sounds) == []
    assert await _routing(api, admin) == before


async def test_a_synthesized_stand_in_is_playable_and_listed(
    app: FastAPI, api: httpx.AsyncClient, sounds: Path
) -> None:
    ops = await token(app, Role.OPS)
    r = await api.post(
        "/api/v1/ivr/prompts/greeting/synthesize",
        json={"text": "您好，欢迎致电12345热线"},
        headers=ops,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prompt"] == "callctl/greeting"
    stored = sounds / "callctl" / "greeting.wav"
    assert (_soxi(stored, "-t"), _soxi(stored, "-r"), _soxi(stored, "-c")) == ("wav", "8000", "1")
    assert _soxi(stored, "-b") == "16"
    assert float(_soxi(stored, "-D")) == pytest.approx(body["seconds"], abs=0.05)
    assert body["seconds"] > 0.5
    assert _rms(stored) > 0.01  # speech, not silence
    assert "callctl/greeting" in (await _routing(api, ops))["prompts"]
    r = await api.post("/api/v1/ivr/prompts/greeting/synthesize", json={"text": " "}, headers=ops)
    assert r.status_code == 422
    assert r.json()["error"]["id"] == "prompt.bad_text"
