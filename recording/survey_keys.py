"""Which survey answers are dissatisfied (不满意), per line, from the routing config in
force: a line's survey keys that do not count as satisfied (``Survey.keys`` less
``Survey.satisfied_keys``; 3 with the default 1 满意, 2 基本满意, 3 不满意). A line
without a survey in the config: 3. Read by the recordings search
(``survey=dissatisfied``) and by the QA rule ``dissatisfied`` without keys of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final

from callctl.db_types import Pool

DEFAULT_DISSATISFIED_KEYS: Final = frozenset({3})

DissatisfiedKeys = Callable[[], Awaitable[dict[str, frozenset[int]]]]
"""Loads each surveyed line's dissatisfied keys (the routing config in force)."""


def dissatisfied_of(keys: Collection[int], satisfied_keys: Collection[int]) -> frozenset[int]:
    return frozenset(keys) - frozenset(satisfied_keys)


def keys_for_line(by_line: Mapping[str, frozenset[int]], line: str | None) -> frozenset[int]:
    if line is not None and line in by_line:
        return by_line[line]
    return DEFAULT_DISSATISFIED_KEYS


def routing_dissatisfied_keys(pool: Pool, settings: Any) -> DissatisfiedKeys:
    """A loader over the routing config in force (as ``routing_satisfied_keys``)."""
    from callctl.routing_config.service import RoutingService

    service = RoutingService(pool, settings)

    async def load() -> dict[str, frozenset[int]]:
        _, doc = await service.in_force()
        return {
            line.number: dissatisfied_of(line.survey.keys, line.survey.satisfied_keys)
            for line in doc.lines
            if line.survey is not None
        }

    return load


async def no_surveys() -> dict[str, frozenset[int]]:
    """No routing config at hand: every line has the default keys."""
    return {}
