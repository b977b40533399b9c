"""Prometheus exposition through prometheus-client: metric families built from state
read at scrape time (pure), a node filter, and the text of a registry.

Each app keeps its own ``CollectorRegistry`` (tests build several apps in one process),
so nothing here registers in prometheus-client's global registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

Sample = tuple[Sequence[str], float]
"""Label values (in the family's label order) and the value."""


class Buckets(Protocol):
    """Cumulative counts per upper bound (``+Inf`` last) and the sum of what was observed."""

    @property
    def sum(self) -> float: ...

    def cumulative(self) -> list[tuple[str, int]]: ...


def gauge(
    name: str, doc: str, samples: Iterable[Sample] = (), labels: Sequence[str] = ()
) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def counter(
    name: str, doc: str, samples: Iterable[Sample] = (), labels: Sequence[str] = ()
) -> Metric:
    """A counter family; ``name`` without ``_total`` (the exposition adds it)."""
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def histogram(name: str, doc: str, latency: Buckets) -> Metric:
    """A seconds histogram (``name`` without ``_seconds``)."""
    family = HistogramMetricFamily(name, doc, unit="seconds")
    buckets = [(bound, float(count)) for bound, count in latency.cumulative()]
    family.add_metric([], buckets, latency.sum)
    return family


class NodeFilter(Collector):
    """The families of ``source`` with the samples of other nodes left out: a sample
    whose ``node`` label names another node; series without a node label are kept."""

    def __init__(self, source: Collector, node: str | None) -> None:
        self._source = source
        self._node = node

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            if self._node is not None:
                family.samples = [
                    s for s in family.samples if s.labels.get("node", self._node) == self._node
                ]
            yield family


def exposition(source: Collector) -> str:
    """The Prometheus text format (0.0.4) of every family ``source`` collects."""
    return generate_latest(source).decode()


class Families(Collector):
    """Families already built, as a collector (to render them, or filter them by node)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
