"""The FastAPI application: routes, and the lifespan that owns every connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
from fastapi import FastAPI

from agents import api as agent_api
from callctl.api import docs, facts, health, kpis, metrics, users, wallboard_ws
from callctl.api.setup import install_api_guards
from callctl.assessment import api as assessment_api
from callctl.callbacks import api as callbacks_api
from callctl.callbacks.dialer import callback_dialer
from callctl.calls import api as calls_api
from callctl.db import asyncpg_dsn, resolve_database_url
from callctl.ivr_ops import api as ivr_api
from callctl.live.service import build_live_hub
from callctl.nodes import NodesConfig, load_nodes
from callctl.reports import api as reports_api
from callctl.reports.schedule import start_report_schedule
from callctl.routing_config import api as routing_api
from callctl.routing_config.service import (
    routing_acw_caps,
    routing_acw_limits,
    routing_homed_elsewhere,
    routing_lines,
    routing_outbound_trunk,
    routing_satisfied_keys,
)
from callctl.runtime import ami_nodes, build_runtime
from callctl.settings import Settings
from callctl.surveys import api as surveys_api
from callctl.web import pages
from forecast import api as forecast_api
from forecast.live import StaffingWatch
from recording import api as recording_api
from recording.service import start_collector
from recording.survey_keys import routing_dissatisfied_keys

log = logging.getLogger(__name__)


async def create_api_pool(database_url: str) -> asyncpg.Pool:
    """The API's pool; min_size 0 so that callctl starts while PostgreSQL is down."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(database_url),
        min_size=0,
        max_size=8,
        timeout=5,
        command_timeout=30,
        server_settings={"application_name": "callctl-api"},
    )
    return pool


async def close_api_pool(pool: asyncpg.Pool, timeout_s: float = 5.0) -> None:
    """Close gracefully, but never let a held connection stall the shutdown."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        log.warning("API pool did not close within %.0f s; terminating it", timeout_s)
        pool.terminate()


def create_app(
    settings: Settings,
    *,
    ingest: bool = True,
    database_url: str | None = None,
    nodes: NodesConfig | None = None,
) -> FastAPI:
    """The service. ``ingest=False`` gives the API alone (no AMI, no pipeline), for tests.
    ``nodes``: the nodes to watch, else read from ``CALLCTL_NODES_FILE``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(settings)
        watched = (nodes or load_nodes(settings.nodes_file)) if ingest else None
        app.state.settings = settings
        app.state.db = await create_api_pool(url)
        # Each line's acw_max_s, from the routing config in force: the one source of
        # the ACW cap for the watch, the KPIs, the rollups and the live view.
        app.state.acw_caps = routing_acw_caps(app.state.db, settings)
        app.state.satisfied_keys = routing_satisfied_keys(app.state.db, settings)
        # Each line's dissatisfied survey keys: recordings' search and QA sampling.
        app.state.dissatisfied_keys = routing_dissatisfied_keys(app.state.db, settings)
        runtime = (
            build_runtime(
                settings,
                url,
                watched,
                acw_caps=app.state.acw_caps,
                acw_limits=routing_acw_limits(app.state.db, settings),
                lines=routing_lines(app.state.db, settings),
                satisfied_keys=app.state.satisfied_keys,
                homed_elsewhere=routing_homed_elsewhere(app.state.db, settings),
            )
            if watched is not None
            else None
        )
        app.state.runtime = runtime
        # The live state: the runtime's, fed by ingest; without ingest an empty one.
        live = runtime.live if runtime is not None else None
        app.state.live = live.hub if live is not None else build_live_hub(settings)
        app.state.monitor_watches = calls_api.monitor_watches_for(app.state.db)
        app.state.conference_watches = calls_api.conference_watches_for(app.state.db)
        # Staffing panel and peak warnings on the wallboard (needs the live feed).
        app.state.staffing = (
            StaffingWatch(app.state.db, app.state.live, settings) if runtime is not None else None
        )
        # Each part started registers its stop; they stop in reverse order, the pool last.
        async with AsyncExitStack() as stack:
            stack.push_async_callback(close_api_pool, app.state.db)
            stack.push_async_callback(app.state.monitor_watches.stop)
            stack.push_async_callback(app.state.conference_watches.stop)
            reports = start_report_schedule(app.state.db, settings, app.state.acw_caps)
            if reports is not None:
                stack.push_async_callback(reports.stop)
            app.state.callback_dialer = dialer = callback_dialer(
                settings,
                app.state.db,
                watched,
                routing_outbound_trunk(app.state.db, settings),
            )
            if runtime is not None:
                await runtime.start(ami_nodes(runtime.nodes))
                stack.push_async_callback(runtime.stop)
            if app.state.staffing is not None:
                app.state.staffing.start()
                stack.push_async_callback(app.state.staffing.stop)
            # Shipped recordings (PUT /api/v1/recordings/ingest/...) come from these nodes.
            app.state.recording_nodes = (
                frozenset(n.node_id for n in watched.nodes) if watched is not None else None
            )
            app.state.recordings = recordings = await start_collector(settings, url, watched)
            if recordings is not None:
                stack.push_async_callback(recordings.stop)
            if dialer is not None:
                dialer.start()
                stack.push_async_callback(dialer.stop)
            yield

    app = FastAPI(
        title="callctl",
        version="0.1.0",
        description="12345 热线呼叫中心控制平面 · call-center control plane for 12345 hotlines",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    install_api_guards(app, settings)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(users.router)
    app.include_router(facts.router)
    app.include_router(kpis.router)
    app.include_router(assessment_api.router)
    app.include_router(reports_api.router)
    app.include_router(routing_api.router)
    app.include_router(ivr_api.router)
    app.include_router(agent_api.router)
    app.include_router(recording_api.routes)
    app.include_router(calls_api.router)
    app.include_router(callbacks_api.router)
    app.include_router(surveys_api.router)
    app.include_router(wallboard_ws.router)
    app.include_router(pages.router)
    app.include_router(forecast_api.router)
    if settings.api_docs:
        app.include_router(docs.router)
    return app
