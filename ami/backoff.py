"""Reconnect delays: capped exponential backoff with jitter. Pure."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, *, base: float, cap: float, jitter: float, rng: random.Random
) -> float:
    """Delay before retry number ``attempt`` (0 for the first retry).

    ``base * 2**attempt`` capped at ``cap``, then shortened by up to ``jitter`` (a
    fraction, 0..1) at random, so that many nodes or many callctl processes cut off at
    the same moment do not all come back in the same instant.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt, 32))
    return ceiling * (1.0 - jitter * rng.random())
