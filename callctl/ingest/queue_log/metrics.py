"""Prometheus families for queue_log shipping and following (pure; ``/metrics`` adds them)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import Metric

from callctl.ingest.queue_log.follow import QueueLogFollower
from callctl.ingest.queue_log.ship import QueueLogShipper
from callctl.kit.prometheus import counter


def queue_log_metrics(
    shippers: Mapping[str, QueueLogShipper],
    followers: Mapping[str, QueueLogFollower],
    reconciles: int,
) -> list[Metric]:
    return [
        counter(
            "callctl_reconciles",
            "Reconcile runs (startup, gaps) from queue_log.",
            [((), reconciles)],
        ),
        counter(
            "callctl_queue_log_shipped_lines",
            "queue_log lines this process shipped.",
            (((node,), shipper.stats.lines) for node, shipper in sorted(shippers.items())),
            labels=("node",),
        ),
        counter(
            "callctl_queue_log_folded_lines",
            "Shipped queue_log lines folded into facts.",
            (((node,), follower.stats.lines) for node, follower in sorted(followers.items())),
            labels=("node",),
        ),
    ]
