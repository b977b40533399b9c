"""NodeConnection against the fake AMI server: login, events, actions, keepalive, reconnect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ami import actions
from ami.connection import AmiNode, NodeConnection
from ami.errors import (
    ActionFailedError,
    ActionTimeoutError,
    NotConnectedError,
    UnsafeValueError,
)
from ami.events import AmiEvent, FullyBooted, QueueCallerJoin, QueueEntry, QueueMember
from ami.state import ConnectionState
from ami.testing import (
    CallbackRecorder,
    FakeAmiServer,
    error,
    every_split,
    list_reply,
    load_transcript,
    transcript_frames,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ami"
QUEUE_STATUS = [
    dict(frame.pairs) for frame in transcript_frames(load_transcript(FIXTURES / "queue_status.txt"))
]
S = ConnectionState

CHINESE_JOIN = (
    "Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: PJSIP/trunk-00000012\r\n"
    "CallerIDNum: 13800138000\r\nCallerIDName: 张三丰\r\nUniqueid: 1732190400.101\r\n"
    "Linkedid: 1732190400.101\r\nQueue: hotline\r\nPosition: 1\r\nCount: 1\r\n\r\n"
).encode()


class Recorder(CallbackRecorder):
    def connection(self, node: AmiNode, since: float | None = None) -> NodeConnection:
        return NodeConnection(
            node,
            on_event=self.on_event,
            on_state_change=self.on_state_change,
            on_resync=self.on_resync,
            on_gap=self.on_gap,
            since=since,
        )


def node_for(server: FakeAmiServer, **overrides: float | str) -> AmiNode:
    settings: dict[str, object] = {
        "node_id": "ast-1",
        "host": "127.0.0.1",
        "port": server.port,
        "username": "callctl",
        "secret": "secret",
        "backoff_base": 0.05,
        "backoff_cap": 0.2,
        "action_timeout": 1.0,
        **overrides,
    }
    return AmiNode(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    async with FakeAmiServer(queue_status=QUEUE_STATUS) as fake:
        yield fake


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def conn(server: FakeAmiServer, recorder: Recorder) -> AsyncIterator[NodeConnection]:
    connection = recorder.connection(node_for(server))
    connection.start()
    await connection.wait_for_state(S.CONNECTED, 3.0)
    yield connection
    await connection.stop()


async def test_connect_login_filters_resync(
    server: FakeAmiServer, recorder: Recorder, conn: NodeConnection
) -> None:
    await conn.action(actions.ping())  # round trip: everything before it has been handled

    assert recorder.moves() == [
        ("DOWN", "CONNECTING"),
        ("CONNECTING", "RESYNCING"),
        ("RESYNCING", "CONNECTED"),
    ]
    login = server.actions_named("Login")[0]
    assert login.get("Events") == "system,call,agent,user"
    filters = server.actions_named("Filter")
    assert ("MatchCriteria", "action(exclude),name(VarSet)") in filters[0].pairs
    assert len(filters) == len(conn.node.excluded_events)
    # The FullyBooted sent at login merges into the first resync: exactly one.
    assert [len(server.actions_named(n)) for n in ("QueueStatus", "QueueSummary")] == [1, 1]
    assert len(server.actions_named("CoreShowChannels")) == 1
    (snapshot,) = recorder.snapshots
    assert snapshot.node == "ast-1"
    assert [m.member_name for m in snapshot.queue_members] == ["王芳"]
    assert [e.caller_id_name for e in snapshot.queue_entries] == ["李小龙"]
    assert len(snapshot.queue_params) == 1
    assert recorder.gaps == []  # first connect, no `since`
    assert isinstance(recorder.events[0], FullyBooted)
    assert conn.version == "11.0.0"


async def test_transcript_events_arrive_typed_with_node_id(
    server: FakeAmiServer, recorder: Recorder, conn: NodeConnection
) -> None:
    transcript = load_transcript(FIXTURES / "answered_call.txt")
    before = len(recorder.events)

    await server.send(transcript)
    await recorder.wait_until(lambda: len(recorder.events) - before == 21)

    delivered = recorder.events[before:]
    assert [e.name for e in delivered] == [f.event for f in transcript_frames(transcript)]
    assert {e.node for e in delivered} == {"ast-1"}
    assert conn.stats.malformed_events == 0


async def test_chinese_name_split_at_every_byte_offset_arrives_intact(
    server: FakeAmiServer, recorder: Recorder, conn: NodeConnection
) -> None:
    splits = list(every_split(CHINESE_JOIN))
    before = len(recorder.events)
    reads_before = conn.session_reads

    for chunks in splits:
        await server.send(CHINESE_JOIN, chunks)
    await recorder.wait_until(lambda: len(recorder.events) - before == len(splits))

    # Each half really came in its own TCP read (or the test would prove nothing).
    assert conn.session_reads - reads_before >= 1.9 * len(splits)

    joins = recorder.events[before:]
    assert all(isinstance(e, QueueCallerJoin) for e in joins)
    assert {e.caller_id_name for e in joins if isinstance(e, QueueCallerJoin)} == {"张三丰"}


async def test_unsafe_action_raises_and_writes_nothing(
    server: FakeAmiServer, conn: NodeConnection
) -> None:
    sent_before = len(server.received)

    with pytest.raises(UnsafeValueError):
        await conn.action(actions.queue_pause("PJSIP/1001\r\nAction: Hangup", True))
    with pytest.raises(UnsafeValueError):
        await conn.action(actions.queue_pause("PJSIP/1001", True, reason="x\nAction: Hangup"))
    await conn.action(actions.ping())

    assert [f.get("Action") for f in server.received[sent_before:]] == ["Ping"]


async def test_action_reply_and_list_reply(conn: NodeConnection) -> None:
    paused = await conn.action(actions.queue_pause("PJSIP/1001", True, reason="acw"))
    status = await conn.action(actions.queue_status())

    assert paused.ok and paused.message == "Interface paused successfully"
    assert paused.events == ()
    assert [type(e) for e in status.events][1:] == [QueueMember, QueueEntry]
    assert all(e.headers["ActionID"] == status.action_id for e in status.events)


async def test_action_timeout(server: FakeAmiServer, conn: NodeConnection) -> None:
    server.script("QueuePause", None)  # Asterisk never answers
    started = time.monotonic()

    with pytest.raises(ActionTimeoutError) as timed_out:
        await conn.action(actions.queue_pause("PJSIP/1001", True), timeout_s=0.1)

    assert 0.1 <= time.monotonic() - started < 0.5
    assert timed_out.value.error_id == "ami_action_timeout"
    assert conn.state is S.CONNECTED  # one lost reply does not end the session
    assert (await conn.action(actions.ping())).ok


async def test_error_response(server: FakeAmiServer, conn: NodeConnection) -> None:
    server.script("QueuePause", lambda _: error("Interface not found"))

    with pytest.raises(ActionFailedError, match="Interface not found"):
        await conn.action(actions.queue_pause("PJSIP/1001", True))
    result = await conn.action(actions.queue_pause("PJSIP/1001", True), check=False)
    assert not result.ok


async def test_action_when_not_connected(server: FakeAmiServer, recorder: Recorder) -> None:
    connection = recorder.connection(node_for(server))

    with pytest.raises(NotConnectedError):
        await connection.action(actions.ping())


async def test_half_open_link_detected_within_two_ping_intervals(
    server: FakeAmiServer, recorder: Recorder
) -> None:
    interval = 0.2
    connection = recorder.connection(node_for(server, ping_interval=interval))
    async with connection:
        await connection.wait_for_state(S.CONNECTED, 3.0)
        server.stop_forwarding()
        silenced_at = time.monotonic()

        await connection.wait_for_state(S.DOWN, 2 * interval)

        assert time.monotonic() - silenced_at <= 2 * interval
        assert "PingTimeoutError" in recorder.states[-1].reason
        server.resume_forwarding()
        await connection.wait_for_state(S.CONNECTED, 3.0)
        (gap,) = recorder.gaps
        assert gap.ended_at - gap.started_at < 1.0


async def test_reconnect_after_restart_records_gap_and_resyncs(
    server: FakeAmiServer, recorder: Recorder, conn: NodeConnection
) -> None:
    killed_at = time.time()
    await server.kill()
    await conn.wait_for_state(S.DOWN, 1.0)
    await asyncio.sleep(0.1)  # Asterisk stays away for a moment
    restarted_at = time.time()
    await server.restart()

    await conn.wait_for_state(S.CONNECTED, 3.0)

    (gap,) = recorder.gaps
    assert gap.node == "ast-1"
    assert gap.started_at <= killed_at
    assert gap.ended_at >= restarted_at
    assert len(server.actions_named("Login")) == 2
    assert len(server.actions_named("QueueStatus")) == 2
    assert len(server.actions_named("CoreShowChannels")) == 2
    assert len(recorder.snapshots) == 2
    assert conn.stats.sessions == 2
    assert recorder.moves()[-3:] == [
        ("DOWN", "CONNECTING"),
        ("CONNECTING", "RESYNCING"),
        ("RESYNCING", "CONNECTED"),
    ]


async def test_first_connect_reports_gap_since_given_time(
    server: FakeAmiServer, recorder: Recorder
) -> None:
    since = time.time() - 60
    async with recorder.connection(node_for(server), since=since) as connection:
        await connection.wait_for_state(S.CONNECTED, 3.0)

    (gap,) = recorder.gaps
    assert gap.started_at == since
    assert gap.ended_at >= since + 60


async def test_fully_booted_later_triggers_a_new_resync(
    server: FakeAmiServer, recorder: Recorder, conn: NodeConnection
) -> None:
    await server.send_frames([{"Event": "FullyBooted", "Privilege": "system,all"}])

    await recorder.wait_until(lambda: len(recorder.snapshots) == 2)
    await conn.wait_for_state(S.CONNECTED, 1.0)
    assert [snapshot.trigger for snapshot in recorder.snapshots] == ["login", "FullyBooted"]
    assert ("CONNECTED", "RESYNCING") in recorder.moves()
    assert len(server.actions_named("QueueStatus")) == 2


async def test_a_queue_reload_triggers_a_new_resync(
    server: FakeAmiServer, recorder: Recorder, conn: NodeConnection
) -> None:
    """Members a reload adds come without QueueMember events: a fresh QueueStatus."""
    reload = {"Event": "Reload", "Privilege": "system,all", "Status": "0"}
    await server.send_frames([{**reload, "Module": "res_pjsip.so"}])  # no queue in it
    await server.send_frames([{**reload, "Module": "app_queue.so"}])

    await recorder.wait_until(lambda: len(recorder.snapshots) == 2)
    await conn.wait_for_state(S.CONNECTED, 1.0)
    assert len(server.actions_named("QueueStatus")) == 2


async def test_snapshot_is_delivered_in_stream_order(server: FakeAmiServer) -> None:
    seen: list[str] = []
    join = {"Event": "QueueCallerJoin", "Channel": "PJSIP/t-1", "Uniqueid": "9.9", "Queue": "q"}
    # The join is written in the same TCP write, right after CoreShowChannelsComplete.
    server.script(
        "CoreShowChannels",
        lambda _: [*list_reply([], "CoreShowChannelsComplete", "Channels will follow"), join],
    )
    connection = NodeConnection(
        node_for(server),
        on_event=lambda event: seen.append(event.name),
        on_resync=lambda snapshot: seen.append(f"snapshot:{snapshot.trigger}"),
    )
    async with connection:
        await connection.wait_for_state(S.CONNECTED, 3.0)
        await connection.action(actions.ping())

    assert seen == ["FullyBooted", "snapshot:login", "QueueCallerJoin"]


async def test_refused_login_is_retried_with_backoff(recorder: Recorder) -> None:
    async with FakeAmiServer(secret="other") as server:
        connection = recorder.connection(node_for(server))
        connection.start()
        await server.wait_for_action("Login", count=3)
        await connection.stop()

    assert connection.state is S.DOWN
    assert server.logins == 0
    assert "LoginFailedError" in recorder.states[1].reason
    assert recorder.snapshots == []


async def test_refused_event_filters_are_tolerated(
    server: FakeAmiServer, recorder: Recorder
) -> None:
    server.script("Filter", lambda _: error("Permission denied"))

    async with recorder.connection(node_for(server)) as connection:
        await connection.wait_for_state(S.CONNECTED, 3.0)


async def test_failed_resync_ends_the_session(server: FakeAmiServer, recorder: Recorder) -> None:
    server.script("QueueStatus", lambda _: error("Internal error"))

    async with recorder.connection(node_for(server)) as connection:
        await server.wait_for_logins(2)

    assert ("RESYNCING", "DOWN") in recorder.moves()
    assert ("RESYNCING", "CONNECTED") not in recorder.moves()
    assert connection.state is S.DOWN


async def test_failing_callback_does_not_stop_the_reader(server: FakeAmiServer) -> None:
    collected = CallbackRecorder()

    def fragile(event: AmiEvent) -> None:
        collected.on_event(event)
        if len(collected.events) == 2:
            raise RuntimeError("consumer bug")

    async with NodeConnection(node_for(server), on_event=fragile) as connection:
        await connection.wait_for_state(S.CONNECTED, 3.0)
        await server.send(CHINESE_JOIN * 3)
        await collected.wait_until(lambda: len(collected.events) == 4)  # FullyBooted + 3 joins

        assert connection.stats.callback_errors == 1
        assert connection.state is S.CONNECTED
