"""The FastAPI application: routes, and the lifespan that owns every connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from callctl.api import health, metrics
from callctl.db import resolve_database_url
from callctl.runtime import build_runtime, lab_nodes
from callctl.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings, resolve_database_url(settings))
        app.state.runtime = runtime
        await runtime.start(lab_nodes(settings))
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="callctl", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app
