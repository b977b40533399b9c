"""The events callctl asks Asterisk not to send (``DEFAULT_EXCLUDED_EVENTS``) are ones
nothing in callctl consumes: dropping them from a real call's events changes no fact,
no live delta and no ACW-watch state.

Each transcript (the lab's recorded Asterisk 22 calls and the hand-made ones) is replayed
twice through the normalizer, the live state and the ACW watch: once whole, once without
the excluded events, as a session with the Filter actions in place would receive it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from agents.acw_timer import AcwLimits
from agents.acw_watch import AcwWatch
from agents.restore import MemberBook
from ami import actions
from ami.connection import DEFAULT_EXCLUDED_EVENTS
from ami.events import AmiEvent, parse_event
from ami.frames import parse_frames
from ami.testing import load_transcript
from callctl.facts.models import Fact
from callctl.ingest.normalizer import AmiNormalizer
from callctl.live.state import Delta, LiveState

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TRANSCRIPTS = sorted([*FIXTURES.glob("ami_recorded/*.ami"), *FIXTURES.glob("ami_normalizer/*.ami")])
NODE = "lab"
NEWLY_EXCLUDED = ("DialBegin", "DialState", "BridgeEnter", "BridgeLeave")


def events_of(path: Path) -> list[AmiEvent]:
    frames = [f for f in parse_frames(load_transcript(path)) if "Event" in f.headers]
    first = next(float(f.headers["Timestamp"]) for f in frames if "Timestamp" in f.headers)
    return [parse_event(f, NODE, float(f.headers.get("Timestamp") or first)) for f in frames]


async def no_limits() -> AcwLimits:
    raise AssertionError("the ACW watch loads limits only in its task, not run here")


def replay(events: list[AmiEvent], now: float) -> tuple[list[Fact], list[Delta], object]:
    normalizer = AmiNormalizer(NODE)
    state = LiveState(now)
    watch = AcwWatch(no_limits, clock=lambda: now)
    book = MemberBook()  # the restart restorer's record of logins and pauses
    facts: list[Fact] = []
    deltas: list[Delta] = []
    for event in events:
        made = normalizer.feed(event)
        facts += made
        deltas += state.apply(event, made)
        watch.on_event(event)
        book.on_event(event)
    return (
        facts,
        deltas,
        (
            watch.spells,
            dict(book.members),
            # All but how many events it saw and ignored.
            replace(normalizer.stats, events_seen=0, events_ignored=0),
        ),
    )


def test_the_transcripts_hold_the_newly_excluded_events() -> None:
    names = {event.name for path in TRANSCRIPTS for event in events_of(path)}
    assert set(NEWLY_EXCLUDED) <= names
    assert set(NEWLY_EXCLUDED) <= set(DEFAULT_EXCLUDED_EVENTS)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_dropping_excluded_events_changes_no_fact_delta_or_agent_state(path: Path) -> None:
    events = events_of(path)
    kept = [e for e in events if e.name not in DEFAULT_EXCLUDED_EVENTS]
    now = events[0].received_at

    assert replay(kept, now) == replay(events, now)


def test_no_consumer_dispatches_on_an_excluded_event() -> None:
    """The handler tables by type (class names are the event names) and by name."""

    normalizer = AmiNormalizer(NODE)
    tables: list[Iterable[type | str]] = [
        normalizer._handlers,
        normalizer._by_name,
        LiveState(0.0)._handlers,
        AcwWatch(no_limits)._handlers,
    ]
    handled = {key if isinstance(key, str) else key.__name__ for t in tables for key in t}
    assert {"DialEnd", "HangupRequest", "Hangup", "AgentConnect"} <= handled
    assert handled.isdisjoint(DEFAULT_EXCLUDED_EVENTS)


def test_each_excluded_event_becomes_one_filter_action() -> None:
    for name in NEWLY_EXCLUDED:
        action = actions.exclude_event(name)
        assert action.get("MatchCriteria") == f"action(exclude),name({name})"
