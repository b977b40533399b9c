"""callctl in-process with ingest against the lab, for call-control tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from callctl.auth.roles import Role
from callctl.auth.tokens import issue_token
from callctl.auth.users import create_user
from callctl.calls.service import CallControlService
from callctl.lab import sipp
from callctl.settings import Settings


async def running_app(settings: Settings, url: str) -> AsyncIterator[FastAPI]:
    from callctl.app import create_app

    app = create_app(settings, ingest=True, database_url=url)
    async with app.router.lifespan_context(app):
        yield app


def call_in(lab: Settings, work_dir: Path) -> asyncio.Task[sipp.SippResult]:
    """One SIPp caller through the lab's trunk (patience 30 s, talks 60 s), in the background."""
    return asyncio.create_task(
        sipp.run_callers(
            sipp.CallerRun(calls=1, patience_s=30, talk_s=60),
            work_dir=work_dir,
            local_ip=lab.trunk_ip,
            remote=f"{lab.sip_host}:{lab.sip_port}",
            timeout_s=60,
        )
    )


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def token(app: FastAPI, role: Role, agent_id: str | None = None) -> dict[str, str]:
    pool = app.state.db
    user = await create_user(pool, f"{role.value}-{uuid.uuid4().hex[:8]}", role, agent_id=agent_id)
    return {"Authorization": f"Bearer {await issue_token(pool, user, 'test')}"}


async def wait_for(
    check: Callable[[], Awaitable[Any]], timeout_s: float, what: str, step_s: float = 0.2
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(step_s)


class NoAmi(CallControlService):
    """Reaching AMI fails the test: bad requests must be refused before it."""

    def _ami_node(self, node: str) -> Any:
        raise AssertionError("an AMI action was about to be sent")
