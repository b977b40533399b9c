"""Live state (pure core): callers waiting, agents' states and today's running KPIs.

``LiveState`` folds typed AMI events, resync snapshots and the normalizer's facts
into what a wallboard shows, and answers each change with JSON-able deltas; its
``snapshot`` is the whole picture. Nothing here does I/O.
"""

from callctl.live.state import LiveState

__all__ = ["LiveState"]
