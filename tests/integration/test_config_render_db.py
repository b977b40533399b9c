"""``callctl config render`` with CALLCTL_DATABASE_URL: the routing config in force."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from callctl.cli import main
from callctl.db import asyncpg_dsn, scratch_database
from callctl.lab.lab_model import LAB_QUEUE, lab_model
from callctl.lab.sample_model import sample_model
from callctl.routing_config import repository
from callctl.routing_config.convert import from_model
from routing.model import PbxModel

pytestmark = pytest.mark.db
MODEL_SECRET = "db-model-secret-0123456789"


async def store(url: str, model: PbxModel, status: str, change: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        doc = from_model(model)
        version = await repository.add_version(conn, doc, None, change)
        await repository.set_status(conn, version, status)
    finally:
        await conn.close()


def test_render_takes_the_applied_version_from_the_database(
    server_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = tmp_path / "ami_secret"
    secret.write_text("db-render-secret-0123456789\n")
    args = ["config", "render", "--node", "a", "--ami-secret-file", str(secret)]
    with scratch_database(server_url, "callctl_render") as url:
        monkeypatch.setenv("CALLCTL_DATABASE_URL", url)
        # Nothing applied yet: a one-line error, exit 2.
        assert main([*args, "--out", str(tmp_path / "none")]) == 2
        assert "no routing config applied" in capsys.readouterr().err
        # A refused version is not the config in force; the applied one is.
        asyncio.run(store(url, sample_model(MODEL_SECRET), "applied", "first"))
        asyncio.run(store(url, lab_model(MODEL_SECRET), "failed", "refused"))
        assert main([*args, "--out", str(tmp_path / "etc")]) == 0
    out = capsys.readouterr().out
    assert "the routing config in force (database)" in out
    queues = (tmp_path / "etc" / "queues.conf").read_text()
    for queue in sample_model(MODEL_SECRET).queues:
        assert f"[{queue.name}]" in queues
    assert f"[{LAB_QUEUE}]" not in queues
