"""LiveHub: numbered deltas, snapshots at a seq, slow subscribers resynced; live metrics."""

from __future__ import annotations

import asyncio
import json

import pytest

from ami.events import AmiEvent, parse_event
from ami.frames import Frame
from callctl.api.metrics import live_metrics
from callctl.kit.prometheus import Families, NodeFilter, exposition
from callctl.live.hub import LiveHub
from callctl.live.state import LiveState

T0 = 1_795_291_045.0


def join(uniqueid: str, at: float = T0, queue: str = "hotline") -> AmiEvent:
    headers = {
        "Event": "QueueCallerJoin",
        "Timestamp": f"{at:.6f}",
        "Channel": "PJSIP/trunk-1",
        "Uniqueid": uniqueid,
        "Queue": queue,
        "Position": "1",
    }
    return parse_event(Frame.from_pairs(headers.items()), "lab", at)


def member(agent: str, status: str, paused: str = "0", reason: str = "") -> AmiEvent:
    headers = {
        "Event": "QueueMemberStatus",
        "Queue": "hotline",
        "MemberName": agent,
        "Interface": f"PJSIP/{agent}",
        "Status": status,
        "Paused": paused,
        "PausedReason": reason,
    }
    return parse_event(Frame.from_pairs(headers.items()), "lab", T0)


def hub(limit: int = 1000) -> LiveHub:
    return LiveHub(LiveState(T0), limit=limit, clock=lambda: T0 + 5)


async def test_subscriber_gets_a_snapshot_then_consecutive_deltas() -> None:
    live = hub()
    live.on_event(join("a"))
    subscription, seq, first = live.subscribe()
    snapshot = json.loads(first)
    assert (snapshot["type"], snapshot["seq"], seq) == ("snapshot", 1, 1)
    assert snapshot["summary"]["waiting"] == 1
    assert snapshot["summary"]["longest_wait_s"] == 5.0

    live.on_event(join("b"))
    live.on_event(member("1001", "6"))
    frames = [json.loads((await live.next_frame(subscription, seq))[1]) for _ in range(2)]
    assert [(f["type"], f["seq"]) for f in frames] == [("queue", 2), ("agent", 3)]
    assert frames[0]["waiting"] == 2
    assert frames[1]["state"] == "ringing"


async def test_a_slow_subscriber_is_resynced_with_a_fresh_snapshot() -> None:
    live = hub(limit=3)
    subscription, seq, _ = live.subscribe()
    for n in range(10):  # the client reads nothing meanwhile
        live.on_event(join(f"c{n}"))
    assert subscription.overflows == 1

    seq, text = await live.next_frame(subscription, seq)
    snapshot = json.loads(text)
    assert snapshot["type"] == "snapshot"
    assert snapshot["seq"] == seq == 10
    assert snapshot["summary"]["waiting"] == 10

    live.on_event(join("late"))
    _, text = await live.next_frame(subscription, seq)
    assert json.loads(text)["seq"] == 11  # no frame older than the snapshot follows it


async def test_a_client_that_asks_gets_a_snapshot_and_no_older_frame() -> None:
    live = hub()
    subscription, seq, _ = live.subscribe()
    live.on_event(join("a"))
    subscription.want_snapshot()
    seq, text = await live.next_frame(subscription, seq)
    assert json.loads(text)["type"] == "snapshot"
    assert subscription.pending == 0


async def test_next_frame_waits_without_blocking_publishers() -> None:
    live = hub()
    subscription, seq, _ = live.subscribe()
    waiter = asyncio.create_task(live.next_frame(subscription, seq))
    await asyncio.sleep(0)
    assert not waiter.done()
    live.on_event(join("a"))
    frame_seq, _ = await asyncio.wait_for(waiter, 1)
    assert frame_seq == 1


def test_a_failing_update_is_counted_and_does_not_raise() -> None:
    live = hub()
    live.state.boards = None  # type: ignore[assignment]  # break it on purpose
    live.on_event(join("a"))
    assert live.stats.errors == 1


def test_unsubscribed_clients_get_nothing() -> None:
    live = hub()
    subscription, _, _ = live.subscribe()
    live.unsubscribe(subscription)
    live.on_event(join("a"))
    assert subscription.pending == 0 and live.subscribers == 0


def test_live_metrics_count_waiting_callers_and_agents_by_state() -> None:
    state = LiveState(T0)
    for event in (join("a"), join("b"), member("1001", "2"), member("1002", "1", "1", "acw")):
        state.apply(event)
    lines = exposition(Families(live_metrics(state))).splitlines()
    assert 'callctl_calls_waiting{node="lab",queue="hotline"} 2.0' in lines
    assert 'callctl_agents{node="lab",state="talking"} 1.0' in lines
    assert 'callctl_agents{node="lab",state="acw"} 1.0' in lines
    assert 'callctl_agents{node="lab",state="available"} 0.0' in lines
    assert "# TYPE callctl_calls_waiting gauge" in lines


def test_deltas_are_numbered_but_not_encoded_while_nobody_watches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import callctl.live.hub as hub_module

    encoded: list[dict[str, object]] = []
    real_encode = hub_module.encode

    def counting_encode(message: dict[str, object]) -> str:
        encoded.append(message)
        return real_encode(message)

    monkeypatch.setattr(hub_module, "encode", counting_encode)
    live = hub()
    live.on_event(join("a"))
    live.on_event(join("b"))
    assert (live.seq, live.stats.deltas, encoded) == (2, 2, [])

    subscription, seq, _ = live.subscribe()  # the snapshot is encoded, at seq 2
    live.on_event(join("c"))
    assert seq == 2 and [m["seq"] for m in encoded[1:]] == [3]
    assert subscription.pending == 1


def join_on(node: str, uniqueid: str) -> AmiEvent:
    return parse_event(
        Frame.from_pairs(
            {
                "Event": "QueueCallerJoin",
                "Timestamp": f"{T0:.6f}",
                "Channel": "PJSIP/trunk-1",
                "Uniqueid": uniqueid,
                "Queue": "hotline",
                "Position": "1",
            }.items()
        ),
        node,
        T0,
    )


def test_a_node_going_down_is_one_node_link_delta_and_shows_in_the_snapshot() -> None:
    live = hub()
    live.on_node_link("a", "down")
    live.on_node_link("b", "down")
    live.on_node_link("a", "connected")
    subscription, seq, _ = live.subscribe()
    live.on_node_link("a", "connected")  # no change, no delta
    live.on_node_link("b", "auth_failed")
    live.on_node_link("a", "down")
    assert subscription.pending == 2
    snapshot = live.snapshot()
    assert snapshot["nodes"]["a"]["ami"] == "down"
    assert snapshot["nodes"]["b"]["ami"] == "auth_failed"
    assert snapshot["nodes_down"] == ["a", "b"]
    assert live.seq == seq + 2


async def test_node_link_delta_carries_node_and_state() -> None:
    live = hub()
    subscription, seq, _ = live.subscribe()
    live.on_node_link("b", "down")
    frame = json.loads((await live.next_frame(subscription, seq))[1])
    assert (frame["type"], frame["node"], frame["ami"], frame["seq"]) == (
        "node_link",
        "b",
        "down",
        seq + 1,
    )


def test_snapshot_and_metrics_of_one_node_and_of_all() -> None:
    live = hub()
    for event in (join_on("a", "1"), join_on("a", "2"), join_on("b", "3")):
        live.on_event(event)
    assert live.snapshot()["summary"]["waiting"] == 3
    only_b = live.snapshot("b")
    assert list(only_b["nodes"]) == ["b"] and only_b["summary"]["waiting"] == 1
    text = exposition(NodeFilter(Families(live_metrics(live.state)), "a"))
    assert 'callctl_calls_waiting{node="a",queue="hotline"} 2.0' in text.splitlines()
    assert 'node="b"' not in text
    everything = exposition(Families(live_metrics(live.state)))
    assert 'callctl_calls_waiting{node="b",queue="hotline"} 1.0' in everything.splitlines()


def test_event_to_frame_delay_is_counted_for_the_frames_sent() -> None:
    """The wallboard frame histogram: from the event's arrival to its delta being sent."""
    now = [1000.0]
    hub = LiveHub(LiveState(T0), clock=lambda: now[0])
    hub.publish([{"type": "queue"}], event_at=999.75)
    hub.publish([{"type": "kpi"}])  # a tick's delta: no event behind it
    now[0] = 1000.5
    hub.frame_sent(1)
    hub.frame_sent(2)
    hub.frame_sent(99)  # not (yet) published: nothing
    histogram = hub.stats.event_to_frame
    assert (histogram.count, histogram.sum) == (1, 0.75)
    assert dict(histogram.cumulative())["0.5"] == 0 and dict(histogram.cumulative())["1.0"] == 1
