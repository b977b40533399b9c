"""Prometheus ``/metrics`` through prometheus-client: ingest counters, writer and spool
state, AMI state per node, the live board, staffing, latency histograms, and the API's
authentication failures; behind the scrape token or an API token."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from ami.state import ConnectionState
from callctl.api.deps import BearerCredentials, authenticate
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN
from callctl.auth.roles import Role
from callctl.ingest.queue_log.metrics import queue_log_metrics
from callctl.kit.prometheus import NodeFilter, counter, exposition, gauge, histogram
from callctl.live.state import LiveState
from callctl.runtime import Runtime
from callctl.settings import Settings
from forecast.live import staffing_metrics

router = APIRouter()


def runtime_metrics(runtime: Runtime, now: float) -> list[Metric]:
    """Ingest counters, writer and spool state, AMI state per node (pure)."""
    writer = runtime.pipeline.writer.metrics
    stats = runtime.pipeline.stats
    quantiles = [
        ((f"{q / 100:g}",), value)
        for q in (50, 99)
        if (value := writer.latency.percentile(q)) is not None
    ]
    lag = [] if stats.last_event_at is None else [((), max(0.0, now - stats.last_event_at))]
    connected = [
        ((node_id,), int(conn.state is ConnectionState.CONNECTED))
        for node_id, conn in sorted(runtime.connections.items())
    ]
    pipeline = runtime.pipeline
    return [
        counter("callctl_ami_events", "AMI events received.", [((), stats.events)]),
        counter(
            "callctl_facts_submitted", "Facts handed to the writer.", [((), writer.facts_submitted)]
        ),
        counter(
            "callctl_facts_committed",
            "Facts committed to PostgreSQL.",
            [((), writer.facts_committed)],
        ),
        gauge(
            "callctl_spool_pending",
            "Facts waiting in the on-disk spool.",
            [((), writer.spool_pending)],
        ),
        counter(
            "callctl_spooled_records",
            "Facts ever written to the spool.",
            [((), writer.spooled_records)],
        ),
        counter(
            "callctl_writer_rollback_retries",
            "Batches PostgreSQL rolled back (deadlock, serialization failure) and the writer"
            " tried again.",
            [((), writer.rollback_retries)],
        ),
        gauge(
            "callctl_writer_queue_depth",
            "Facts in the writer's memory queue.",
            [((), writer.queue_depth)],
        ),
        gauge(
            "callctl_database_up",
            "1 when the writer last reached PostgreSQL.",
            [((), int(writer.db_available))],
        ),
        gauge(
            "callctl_fact_commit_seconds",
            "Fact submit (its AMI event handled) to commit, over the writer's latest facts.",
            quantiles,
            labels=("quantile",),
        ),
        gauge(
            "callctl_fact_commit_samples",
            "Facts behind callctl_fact_commit_seconds.",
            [((), len(writer.latency))],
        ),
        gauge("callctl_ingest_lag_seconds", "Seconds since the last AMI event arrived.", lag),
        gauge(
            "callctl_ami_connected",
            "1 when the node's AMI link is connected and in sync.",
            connected,
            labels=("node",),
        ),
        *queue_log_metrics(pipeline.shippers, pipeline.followers, stats.reconciles),
    ]


def live_metrics(state: LiveState) -> list[Metric]:
    """Callers waiting per queue and agents per state, now (pure)."""
    return [
        gauge(
            "callctl_calls_waiting",
            "Callers waiting in the queue now.",
            (((node, queue), n) for (node, queue), n in sorted(state.waiting_by_queue().items())),
            labels=("node", "queue"),
        ),
        gauge(
            "callctl_agents",
            "Agents logged in, by state now.",
            (((node, st), n) for (node, st), n in sorted(state.agents_by_state().items())),
            labels=("node", "state"),
        ),
    ]


class StateCollector(Collector):
    """Everything ``/metrics`` reads from the app's state at each scrape: the runtime's
    counters, the live board, the staffing panel, and the event → fact and event →
    wallboard frame histograms."""

    def __init__(self, app_state: Any) -> None:
        self.app_state = app_state

    def collect(self) -> Iterator[Metric]:
        hub = getattr(self.app_state, "live", None)
        if hub is not None:
            yield histogram(
                "callctl_event_to_wallboard_frame",
                "From an AMI event's arrival to a wallboard frame of its change being sent.",
                hub.stats.event_to_frame,
            )
        runtime: Runtime | None = getattr(self.app_state, "runtime", None)
        if runtime is None:  # the API alone, without ingest
            return
        yield histogram(
            "callctl_event_to_fact",
            "From an AMI event's arrival to the commit of its facts in PostgreSQL.",
            runtime.pipeline.writer.metrics.event_to_fact,
        )
        yield from runtime_metrics(runtime, time.time())
        if runtime.live is not None:
            yield from live_metrics(runtime.live.hub.state)
        watch = getattr(self.app_state, "staffing", None)
        yield from staffing_metrics(watch.panel if watch is not None else None)


class ApiMetrics:
    """The app's registry (one per app: tests build several in one process): the state
    read at each scrape, and the API's own counters."""

    def __init__(self, app_state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(StateCollector(app_state))
        self.auth_failures = Counter(
            "callctl_auth_failures",
            "Failed authentications, by reason (missing_token, invalid_token, throttled).",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("missing_token", "invalid_token", "throttled"):
            self.auth_failures.labels(reason=reason)

    def exposition(self, node: str | None = None) -> str:
        """The text format; ``node``: the per-node series of that node only."""
        return exposition(NodeFilter(self.registry, node))


async def scraper(request: Request, credentials: BearerCredentials) -> None:
    """The scrape token (``metrics_token``) or an API token of ops, admin or auditor."""
    settings: Settings = request.app.state.settings
    token = credentials.credentials if credentials else None
    expected = settings.metrics_token
    if (
        token is not None
        and expected is not None
        and hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
    ):
        return
    principal = await authenticate(request, token)
    if principal.role not in SCRAPERS:
        raise ApiError(
            403,
            "auth.forbidden",
            f"role {principal.role.value!r} may not read /metrics",
            {"allowed": sorted(r.value for r in SCRAPERS)},
        )


SCRAPERS = (Role.OPS, Role.ADMIN, Role.AUDITOR)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    dependencies=[Depends(scraper)],
)
async def metrics(
    request: Request,
    node: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="one Asterisk node; default: all nodes"),
    ] = None,
) -> str:
    """Prometheus exposition; needs the scrape token (``CALLCTL_METRICS_TOKEN``) or an
    API token of ops, admin or auditor."""
    text: str = request.app.state.metrics.exposition(node)
    if request.app.state.runtime is None:
        return "# callctl: ingest is off in this process\n" + text
    return text
