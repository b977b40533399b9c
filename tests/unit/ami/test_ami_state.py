"""Connection state machine and reconnect backoff (pure parts of the connection)."""

from __future__ import annotations

import random

import pytest

from ami.backoff import backoff_delay
from ami.errors import InvalidTransitionError
from ami.state import ConnectionState, check_transition

S = ConnectionState

ALLOWED = {
    (S.DOWN, S.CONNECTING),
    (S.CONNECTING, S.RESYNCING),
    (S.CONNECTING, S.DOWN),
    (S.RESYNCING, S.CONNECTED),
    (S.RESYNCING, S.DOWN),
    (S.CONNECTED, S.RESYNCING),
    (S.CONNECTED, S.DOWN),
}


@pytest.mark.parametrize("old", list(S))
@pytest.mark.parametrize("new", list(S))
def test_only_listed_transitions_are_allowed(old: ConnectionState, new: ConnectionState) -> None:
    if (old, new) in ALLOWED:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidTransitionError):
            check_transition(old, new)


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    no_jitter = [
        backoff_delay(attempt, base=0.5, cap=10.0, jitter=0.0, rng=random.Random(1))
        for attempt in range(8)
    ]

    assert no_jitter == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_backoff_jitter_stays_within_its_fraction() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(3, base=0.5, cap=10.0, jitter=0.5, rng=rng) for _ in range(200)]

    assert all(2.0 <= delay <= 4.0 for delay in delays)
    assert len(set(delays)) > 100  # really random, so nodes do not retry in lockstep


def test_backoff_survives_huge_attempt_counts() -> None:
    assert backoff_delay(10_000, base=0.5, cap=10.0, jitter=0.0, rng=random.Random()) == 10.0
