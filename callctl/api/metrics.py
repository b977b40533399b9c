"""Prometheus ``/metrics``: ingest counters, writer and spool state, AMI state per node."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ami.state import ConnectionState
from callctl.api.deps import BearerCredentials, authenticate
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN
from callctl.auth.roles import Role
from callctl.ingest.metrics import LatencyHistogram
from callctl.ingest.queue_log.metrics import queue_log_metrics
from callctl.live.state import LiveState
from callctl.runtime import Runtime
from callctl.settings import Settings
from forecast.live import staffing_metrics

router = APIRouter()


def render_metrics(runtime: Runtime, now: float, node: str | None = None) -> str:
    """The Prometheus text exposition of the runtime's counters (pure); ``node``: the
    per-node series of that node only."""
    writer = runtime.pipeline.writer.metrics
    stats = runtime.pipeline.stats
    lines = [
        "# HELP callctl_ami_events_total AMI events received.",
        "# TYPE callctl_ami_events_total counter",
        f"callctl_ami_events_total {stats.events}",
        "# HELP callctl_facts_submitted_total Facts handed to the writer.",
        "# TYPE callctl_facts_submitted_total counter",
        f"callctl_facts_submitted_total {writer.facts_submitted}",
        "# HELP callctl_facts_committed_total Facts committed to PostgreSQL.",
        "# TYPE callctl_facts_committed_total counter",
        f"callctl_facts_committed_total {writer.facts_committed}",
        "# HELP callctl_spool_pending Facts waiting in the on-disk spool.",
        "# TYPE callctl_spool_pending gauge",
        f"callctl_spool_pending {writer.spool_pending}",
        "# HELP callctl_spooled_records_total Facts ever written to the spool.",
        "# TYPE callctl_spooled_records_total counter",
        f"callctl_spooled_records_total {writer.spooled_records}",
        "# HELP callctl_writer_rollback_retries_total Batches PostgreSQL rolled back"
        " (deadlock, serialization failure) and the writer tried again.",
        "# TYPE callctl_writer_rollback_retries_total counter",
        f"callctl_writer_rollback_retries_total {writer.rollback_retries}",
        "# HELP callctl_writer_queue_depth Facts in the writer's memory queue.",
        "# TYPE callctl_writer_queue_depth gauge",
        f"callctl_writer_queue_depth {writer.queue_depth}",
        "# HELP callctl_database_up 1 when the writer last reached PostgreSQL.",
        "# TYPE callctl_database_up gauge",
        f"callctl_database_up {int(writer.db_available)}",
        "# HELP callctl_fact_commit_seconds Fact submit (its AMI event handled) to commit,"
        " over the writer's latest facts.",
        "# TYPE callctl_fact_commit_seconds gauge",
        *(
            f'callctl_fact_commit_seconds{{quantile="{q / 100:g}"}} {value:.6f}'
            for q in (50, 99)
            if (value := writer.latency.percentile(q)) is not None
        ),
        f"callctl_fact_commit_samples {len(writer.latency)}",
        "# HELP callctl_ingest_lag_seconds Seconds since the last AMI event arrived.",
        "# TYPE callctl_ingest_lag_seconds gauge",
    ]
    if stats.last_event_at is not None:
        lines.append(f"callctl_ingest_lag_seconds {max(0.0, now - stats.last_event_at):.3f}")
    lines += [
        "# HELP callctl_ami_connected 1 when the node's AMI link is connected and in sync.",
        "# TYPE callctl_ami_connected gauge",
    ]
    for node_id, conn in sorted(runtime.connections.items()):
        if node is not None and node_id != node:
            continue
        up = int(conn.state is ConnectionState.CONNECTED)
        lines.append(f'callctl_ami_connected{{node="{_label(node_id)}"}} {up}')
    pipeline = runtime.pipeline
    lines += queue_log_metrics(pipeline.shippers, pipeline.followers, stats.reconciles)
    if runtime.live is not None:
        lines += live_metrics(runtime.live.hub.state, node)
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def live_metrics(state: LiveState, only: str | None = None) -> list[str]:
    """Callers waiting per queue and agents per state, now (pure); ``only``: one node."""
    lines = [
        "# HELP callctl_calls_waiting Callers waiting in the queue now.",
        "# TYPE callctl_calls_waiting gauge",
    ]
    for (node, queue), waiting in sorted(state.waiting_by_queue().items()):
        if only is not None and node != only:
            continue
        lines.append(
            f'callctl_calls_waiting{{node="{_label(node)}",queue="{_label(queue)}"}} {waiting}'
        )
    lines += [
        "# HELP callctl_agents Agents logged in, by state now.",
        "# TYPE callctl_agents gauge",
    ]
    for (node, agent_state), count in sorted(state.agents_by_state().items()):
        if only is not None and node != only:
            continue
        lines.append(f'callctl_agents{{node="{_label(node)}",state="{agent_state}"}} {count}')
    return lines


def histogram_family(name: str, doc: str, histogram: LatencyHistogram) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, unit="seconds")
    buckets: list[tuple[str, float]] = [(b, float(n)) for b, n in histogram.cumulative()]
    family.add_metric([], buckets, histogram.sum)
    return family


class LatencyCollector(Collector):
    """The event → fact and event → wallboard frame histograms, read at each scrape."""

    def __init__(self, app_state: Any) -> None:
        self.app_state = app_state

    def collect(self) -> Iterator[Metric]:
        runtime = getattr(self.app_state, "runtime", None)
        if runtime is not None:
            yield histogram_family(
                "callctl_event_to_fact",
                "From an AMI event's arrival to the commit of its facts in PostgreSQL.",
                runtime.pipeline.writer.metrics.event_to_fact,
            )
        hub = getattr(self.app_state, "live", None)
        if hub is not None:
            yield histogram_family(
                "callctl_event_to_wallboard_frame",
                "From an AMI event's arrival to a wallboard frame of its change being sent.",
                hub.stats.event_to_frame,
            )


class ApiMetrics:
    """The API process's own series (prometheus-client, one registry per app)."""

    def __init__(self, app_state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(LatencyCollector(app_state))
        self.auth_failures = Counter(
            "callctl_auth_failures",
            "Failed authentications, by reason (missing_token, invalid_token, throttled).",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("missing_token", "invalid_token", "throttled"):
            self.auth_failures.labels(reason=reason)

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()


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
    runtime = request.app.state.runtime
    own: str = request.app.state.metrics.exposition()
    if runtime is None:  # the API alone, without ingest
        return "# callctl: ingest is off in this process\n" + own
    watch = getattr(request.app.state, "staffing", None)
    staffing = staffing_metrics(watch.panel if watch is not None else None)
    return render_metrics(runtime, time.time(), node) + "".join(f"{s}\n" for s in staffing) + own
