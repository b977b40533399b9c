"""AmiManager over two fake nodes, and the transcript recorder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ami import actions
from ami.connection import AmiNode
from ami.errors import UnknownNodeError
from ami.events import QueueCallerJoin
from ami.manager import AmiManager
from ami.record import main as record_main
from ami.record import record
from ami.state import ConnectionState
from ami.testing import CallbackRecorder, FakeAmiServer, load_transcript, transcript_frames

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ami"


def node(node_id: str, server: FakeAmiServer) -> AmiNode:
    return AmiNode(
        node_id=node_id,
        host="127.0.0.1",
        port=server.port,
        username="callctl",
        secret="secret",
        backoff_base=0.05,
        backoff_cap=0.2,
    )


async def test_every_event_carries_its_node() -> None:
    recorder = CallbackRecorder()
    transcript = load_transcript(FIXTURES / "answered_call.txt")
    async with FakeAmiServer() as east, FakeAmiServer() as west:
        manager = AmiManager([node("east", east), node("west", west)], on_event=recorder.on_event)
        async with manager:
            await manager.wait_connected(3.0)
            assert manager.states == {
                "east": ConnectionState.CONNECTED,
                "west": ConnectionState.CONNECTED,
            }
            await east.send(transcript)
            await west.send(transcript)
            await recorder.wait_until(
                lambda: len([e for e in recorder.events if isinstance(e, QueueCallerJoin)]) == 2
            )

            result = await manager.action("west", actions.queue_pause("PJSIP/1001", True))
            assert result.ok
            assert len(west.actions_named("QueuePause")) == 1
            assert east.actions_named("QueuePause") == []
            with pytest.raises(UnknownNodeError):
                manager.connection("north")

        assert manager.states == {"east": ConnectionState.DOWN, "west": ConnectionState.DOWN}
    joins = [e for e in recorder.events if isinstance(e, QueueCallerJoin)]
    assert sorted(e.node for e in joins) == ["east", "west"]


def test_node_ids_must_be_unique() -> None:
    same = AmiNode(node_id="a", host="h", username="u", secret="s")
    with pytest.raises(ValueError, match="twice"):
        AmiManager([same, same], on_event=lambda _: None)


def test_node_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        AmiNode(node_id="bad id", host="h", username="u", secret="s")
    with pytest.raises(ValueError):
        AmiNode(node_id="a", host="h", username="u", secret="s", ping_interval=0)
    assert "s3cret" not in repr(AmiNode(node_id="a", host="h", username="u", secret="s3cret"))


async def test_recorder_writes_a_replayable_transcript(tmp_path: Path) -> None:
    transcript = load_transcript(FIXTURES / "answered_call.txt")
    out = tmp_path / "recorded.txt"
    async with FakeAmiServer() as server:
        recording = asyncio.create_task(
            record(
                host="127.0.0.1",
                port=server.port,
                username="callctl",
                secret="secret",
                out=out,
                seconds=0.5,
            )
        )
        await server.wait_for_logins(1)
        await server.send(transcript)
        written = await recording

    recorded = transcript_frames(load_transcript(out))
    assert written == len(recorded) == 1 + len(transcript_frames(transcript))
    assert recorded[0].event == "FullyBooted"  # sent at login
    assert recorded[1:] == transcript_frames(transcript)
    assert out.read_text(encoding="utf-8").startswith("# recorded by ami.record")


async def test_recorder_cli_reports_refused_login(tmp_path: Path) -> None:
    async with FakeAmiServer(secret="other") as server:
        argv = [
            "--port", str(server.port), "--user", "callctl", "--secret", "wrong",
            "--out", str(tmp_path / "x.txt"), "--seconds", "2",
        ]  # fmt: skip
        exit_code = await asyncio.to_thread(record_main, argv)

    assert exit_code == 1
