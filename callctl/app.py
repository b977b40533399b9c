"""The FastAPI application: routes, and the lifespan that owns every connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from callctl.api import health
from callctl.runtime import Runtime, lab_nodes
from callctl.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        runtime.start(lab_nodes(settings))
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="callctl", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    return app
