"""``/metrics`` through prometheus-client: valid text, the documented names and labels,
the latency histograms, a registry per app, the node filter and the scrape rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from ami.events import AmiEvent, parse_event
from ami.frames import Frame
from callctl.app import create_app
from callctl.nodes import NodesConfig
from callctl.runtime import build_runtime
from callctl.settings import Settings
from kpi.inputs import AcwCaps

SCRAPE = "scrape-token-0123456789abcdef"
T0 = 1_795_291_045.0


def _join(node: str, uniqueid: str) -> AmiEvent:
    headers = {
        "Event": "QueueCallerJoin",
        "Timestamp": f"{T0:.6f}",
        "Channel": "PJSIP/trunk-1",
        "Uniqueid": uniqueid,
        "Queue": "hotline",
        "Position": "1",
    }
    return parse_event(Frame.from_pairs(headers.items()), node, T0)


async def _no_caps() -> AcwCaps:
    return AcwCaps()


def _app(with_runtime: bool = True) -> FastAPI:
    settings = Settings(metrics_token=SecretStr(SCRAPE))
    app = create_app(settings, ingest=False, database_url="postgresql://unused")
    # What the lifespan would set, without PostgreSQL or AMI: nothing is started.
    app.state.settings = settings
    app.state.runtime = None
    if with_runtime:
        runtime = build_runtime(
            settings, "postgresql://unused", NodesConfig(nodes=()), acw_caps=_no_caps
        )
        app.state.runtime = runtime
        assert runtime.live is not None
        app.state.live = runtime.live.hub
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def _families(text: str) -> dict[str, str]:
    """Family name → type, parsed by prometheus-client's own parser."""
    return {f.name: f.type for f in text_string_to_metric_families(text)}


async def test_the_exposition_parses_and_names_every_documented_family(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert r.status_code == 200, r.text
    families = _families(r.text)
    assert families["callctl_event_to_fact_seconds"] == "histogram"
    assert families["callctl_event_to_wallboard_frame_seconds"] == "histogram"
    for counter in (
        "callctl_ami_events",
        "callctl_facts_submitted",
        "callctl_facts_committed",
        "callctl_spooled_records",
        "callctl_writer_rollback_retries",
        "callctl_reconciles",
        "callctl_queue_log_shipped_lines",
        "callctl_queue_log_folded_lines",
        "callctl_auth_failures",
    ):
        assert families[counter] == "counter", counter
        assert f"# TYPE {counter}_total counter" in r.text
    for gauge in (
        "callctl_spool_pending",
        "callctl_writer_queue_depth",
        "callctl_database_up",
        "callctl_fact_commit_seconds",
        "callctl_fact_commit_samples",
        "callctl_ingest_lag_seconds",
        "callctl_ami_connected",
        "callctl_calls_waiting",
        "callctl_agents",
    ):
        assert families[gauge] == "gauge", gauge
    assert "callctl_ami_events_total 0.0" in r.text.splitlines()
    assert 'callctl_event_to_fact_seconds_bucket{le="+Inf"} 0.0' in r.text
    assert 'callctl_event_to_wallboard_frame_seconds_bucket{le="0.005"} 0.0' in r.text


async def test_each_app_counts_in_its_own_registry() -> None:
    first, second = _app(), _app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=first), base_url="http://test"
    ) as client:
        first.state.metrics.auth_failures.labels(reason="invalid_token").inc(3)
        text = (await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})).text
    assert 'callctl_auth_failures_total{reason="invalid_token"} 3.0' in text
    other = second.state.metrics.exposition()
    assert 'callctl_auth_failures_total{reason="invalid_token"} 0.0' in other


async def test_the_node_filter_keeps_series_without_a_node() -> None:
    app = _app()
    for node, uniqueid in (("a", "1"), ("a", "2"), ("b", "3")):
        app.state.live.on_event(_join(node, uniqueid))
    only_a = app.state.metrics.exposition("a")
    assert 'callctl_calls_waiting{node="a",queue="hotline"} 2.0' in only_a
    assert 'node="b"' not in only_a
    assert "callctl_ami_events_total 0.0" in only_a
    assert 'node="b"' in app.state.metrics.exposition()


async def test_the_api_alone_still_answers_its_own_series() -> None:
    app = _app(with_runtime=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
        refused = await client.get("/metrics")
    assert r.status_code == 200
    assert r.text.startswith("# callctl: ingest is off in this process\n")
    assert _families(r.text)["callctl_auth_failures"] == "counter"
    assert "callctl_ami_events_total" not in r.text
    assert refused.status_code == 401
