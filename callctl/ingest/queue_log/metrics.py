"""Prometheus lines for queue_log shipping and following (pure; ``/metrics`` adds them)."""

from __future__ import annotations

from collections.abc import Mapping

from callctl.ingest.queue_log.follow import QueueLogFollower
from callctl.ingest.queue_log.ship import QueueLogShipper


def queue_log_metrics(
    shippers: Mapping[str, QueueLogShipper],
    followers: Mapping[str, QueueLogFollower],
    reconciles: int,
) -> list[str]:
    lines = [
        "# HELP callctl_reconciles_total Reconcile runs (startup, gaps) from queue_log.",
        "# TYPE callctl_reconciles_total counter",
        f"callctl_reconciles_total {reconciles}",
        "# HELP callctl_queue_log_shipped_lines_total queue_log lines this process shipped.",
        "# TYPE callctl_queue_log_shipped_lines_total counter",
    ]
    lines += [
        f'callctl_queue_log_shipped_lines_total{{node="{node}"}} {shipper.stats.lines}'
        for node, shipper in sorted(shippers.items())
    ]
    lines += [
        "# HELP callctl_queue_log_folded_lines_total Shipped queue_log lines folded into facts.",
        "# TYPE callctl_queue_log_folded_lines_total counter",
    ]
    lines += [
        f'callctl_queue_log_folded_lines_total{{node="{node}"}} {follower.stats.lines}'
        for node, follower in sorted(followers.items())
    ]
    return lines
