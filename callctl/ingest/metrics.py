"""The writer's counters, read by the API/ops and by the benchmark."""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field


class LatencyReservoir:
    """The latest ``size`` submit→commit delays, in seconds.

    A sliding window rather than a sample of the whole run: what ops want to
    know is how the writer is doing now.
    """

    def __init__(self, size: int = 8192) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._samples)

    def __repr__(self) -> str:
        return f"LatencyReservoir(samples={len(self._samples)}, p99_s={self.percentile(99)})"

    def extend(self, delays: Iterable[float]) -> None:
        self._samples.extend(delays)

    def clear(self) -> None:
        self._samples.clear()

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in 0..100), ``None`` without samples."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1]


LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class LatencyHistogram:
    """Delays in seconds counted into fixed buckets since the start (pure; ``/metrics``
    exports it as a Prometheus histogram)."""

    def __init__(self, buckets: tuple[float, ...] = LAG_BUCKETS_S) -> None:
        self.buckets = buckets
        self._counts = [0] * (len(buckets) + 1)  # the last: above every bound
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, observations at or below it) per bucket, ``+Inf`` last."""
        out, running = [], 0
        for bound, count in zip((*self.buckets, math.inf), self._counts, strict=True):
            running += count
            out.append(("+Inf" if bound == math.inf else repr(bound), running))
        return out


@dataclass(slots=True)
class WriterMetrics:
    facts_submitted: int = 0
    facts_committed: int = 0
    """Facts in committed batches, counted before in-batch duplicates collapse
    (a fact set aside by PostgreSQL is counted here and in ``facts_rejected``)."""
    batches_committed: int = 0
    spooled_records: int = 0
    """Facts ever written to the spool by this process."""
    spool_pending: int = 0
    """Facts in the spool not yet committed (including those left by a previous run)."""
    spool_corrupt_segments: int = 0
    """Spool segments found with a torn or corrupt tail."""
    spool_errors: int = 0
    """Failed spool appends (disk full, ...); the facts stayed in memory."""
    facts_rejected: int = 0
    """Facts PostgreSQL refused as data; kept in the dead-letter file."""
    rollback_retries: int = 0
    """Batches PostgreSQL rolled back (deadlock, serialization failure) and tried again."""
    queue_depth: int = 0
    """Facts in the in-memory queue."""
    db_available: bool = False
    last_error: str | None = None
    last_commit_lag_s: float | None = None
    """Submit→commit delay of the oldest fact of the last batch committed from memory."""
    latency: LatencyReservoir = field(default_factory=LatencyReservoir)
    event_to_fact: LatencyHistogram = field(default_factory=LatencyHistogram)
    """From an AMI event's arrival (its facts are handed to the writer in the same step)
    to the commit of its facts, for facts committed from memory."""

    def latency_ms(self, q: float) -> float | None:
        value = self.latency.percentile(q)
        return None if value is None else value * 1000
