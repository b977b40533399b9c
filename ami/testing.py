"""A fake Asterisk AMI server for tests, and the transcript format it replays.

The server binds 127.0.0.1 on a free port, sends the banner, accepts Login, answers
actions from a table of scripted replies (an entry can also stay silent), and pushes
recorded transcripts to every logged-in client, cut into chunks exactly where a test
wants (down to one byte). It can stop writing while keeping the socket open (a
half-open link), and be killed and restarted on the same port.

Transcript format (what ``python -m ami.record`` writes): UTF-8 AMI frames, ``Key: value``
lines ended by CRLF or LF, a blank line after each frame; ``#`` lines before the first
frame are comments.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from ami.connection import Gap, ResyncSnapshot
from ami.events import AmiEvent
from ami.frames import Frame, FrameParser, parse_frames
from ami.state import StateChange

Headers = Mapping[str, str]
# A scripted reply: the frames to answer ``request`` with (ActionID is added), or None to
# stay silent (to test timeouts).
Handler = Callable[[Frame], Sequence[Headers] | None]

DEFAULT_BANNER = "Asterisk Call Manager/11.0.0"  # what Asterisk 22 sends


# --- transcripts -----------------------------------------------------------------------------


def load_transcript(path: str | Path) -> bytes:
    """A transcript file as the bytes Asterisk would send (comments dropped, CRLF)."""
    return normalise_transcript(Path(path).read_bytes())


def normalise_transcript(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    while lines and lines[0].startswith(b"#"):
        lines.pop(0)
    body = re.sub(rb"\r?\n", b"\r\n", b"".join(lines))
    if body and not body.endswith(b"\r\n\r\n"):
        body = body.rstrip(b"\r\n") + b"\r\n\r\n"
    return body


def transcript_frames(data: bytes) -> list[Frame]:
    return parse_frames(data)


def frames_to_bytes(frames: Iterable[Frame | Headers]) -> bytes:
    return b"".join(_frame_bytes(frame) for frame in frames)


def split_at(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given byte offsets (chunks for :meth:`FakeAmiServer.send`)."""
    chunks, start = [], 0
    for offset in sorted(set(offsets)):
        if 0 < offset < len(data):
            chunks.append(data[start:offset])
            start = offset
    chunks.append(data[start:])
    return chunks


def every_split(data: bytes) -> Iterator[list[bytes]]:
    """``data`` cut in two at every byte offset (for split-anywhere tests)."""
    for offset in range(1, len(data)):
        yield [data[:offset], data[offset:]]


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[index : index + size] for index in range(0, len(data), size)]


def _frame_bytes(frame: Frame | Headers) -> bytes:
    pairs = frame.pairs if isinstance(frame, Frame) else tuple(frame.items())
    return "".join(f"{key}: {value}\r\n" for key, value in pairs).encode("utf-8") + b"\r\n"


# --- canned replies --------------------------------------------------------------------------


def success(message: str | None = None, **headers: str) -> list[Headers]:
    reply = {"Response": "Success", **headers}
    if message is not None:
        reply["Message"] = message
    return [reply]


def error(message: str) -> list[Headers]:
    return [{"Response": "Error", "Message": message}]


def list_reply(items: Sequence[Headers], complete_event: str, message: str) -> list[Headers]:
    """An Asterisk list reply: start response, the items, the ``...Complete`` event."""
    start = {"Response": "Success", "EventList": "start", "Message": message}
    complete = {"Event": complete_event, "EventList": "Complete", "ListItems": str(len(items))}
    return [start, *items, complete]


def _with_action_id(headers: Headers, action_id: str | None) -> dict[str, str]:
    if action_id is None:
        return dict(headers)
    items = list(headers.items())
    # Asterisk puts the ActionID right after the first line.
    return dict([*items[:1], ("ActionID", action_id), *items[1:]])


class _Session:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.logged_in = False


class FakeAmiServer:
    """An in-process AMI server on 127.0.0.1 (see the module doc)."""

    def __init__(
        self,
        *,
        username: str = "callctl",
        secret: str = "secret",
        banner: str = DEFAULT_BANNER,
        queue_status: Sequence[Headers] = (),
        queue_summary: Sequence[Headers] = (),
        channels: Sequence[Headers] = (),
        send_fully_booted: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls``: serve AMI over TLS with this server context (manager.conf tlsenable)."""
        self.tls = tls
        self.username = username
        self.secret = secret
        self.banner = banner
        self.queue_status = list(queue_status)
        self.queue_summary = list(queue_summary)
        self.channels = list(channels)
        self.send_fully_booted = send_fully_booted
        # When the faked Asterisk started: FullyBooted's Uptime counts from it. Killing
        # and restarting the server keeps it (an AMI outage); set it to now to fake an
        # Asterisk restart.
        self.booted_at = time.time() - 3600
        self.received: list[Frame] = []  # every action from every session, in order
        self.logins = 0
        self.forwarding = True
        self.handlers: dict[str, Handler | None] = {
            "Ping": lambda _: success(None, Ping="Pong", Timestamp=f"{time.time():.6f}"),
            "Events": lambda _: success(None, Events="On"),
            "Filter": lambda _: success("Success"),
            "QueueStatus": lambda _: list_reply(
                self.queue_status, "QueueStatusComplete", "Queue status will follow"
            ),
            "QueueSummary": lambda _: list_reply(
                self.queue_summary, "QueueSummaryComplete", "Queue summary will follow"
            ),
            "CoreShowChannels": lambda _: list_reply(
                self.channels, "CoreShowChannelsComplete", "Channels will follow"
            ),
            "QueueAdd": lambda _: success("Added interface to queue"),
            "QueueRemove": lambda _: success("Removed interface from queue"),
            "QueuePause": lambda _: success("Interface paused successfully"),
            "QueuePenalty": lambda _: success("Interface penalty set successfully"),
            "Originate": lambda _: success("Originate successfully queued"),
            "Redirect": lambda _: success("Redirect successful"),
            "BlindTransfer": lambda _: success("Transfer succeeded"),
            "Hangup": lambda _: success("Channel Hungup"),
            "Reload": lambda _: success("Module Reloaded"),
        }
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._port = 0

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a kill)."""
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self._port, ssl=self.tls
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def kill(self) -> None:
        """Stop listening and drop every session at once, like a crashed Asterisk."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for session in list(self._sessions):
            session.writer.transport.abort()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if server is not None:
            await server.wait_closed()
        await asyncio.sleep(0)  # aborted transports close their sockets on the next loop turn

    async def restart(self) -> None:
        await self.kill()
        self.forwarding = True
        await self.start()

    async def __aenter__(self) -> FakeAmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.kill()

    # --- scripting -----------------------------------------------------------------------------

    def script(self, action: str, handler: Handler | None) -> None:
        """Answer ``action`` with ``handler``; ``None`` makes the server never answer it."""
        self.handlers[action] = handler

    def stop_forwarding(self) -> None:
        """Write nothing more (no replies, no events) but keep sockets open: half-open."""
        self.forwarding = False

    def resume_forwarding(self) -> None:
        self.forwarding = True

    def actions_named(self, name: str) -> list[Frame]:
        return [frame for frame in self.received if frame.get("Action") == name]

    async def wait_for_action(self, name: str, count: int = 1, timeout_s: float = 5.0) -> Frame:
        """The ``count``-th action called ``name`` received so far (waits for it)."""
        await self._wait_until(lambda: len(self.actions_named(name)) >= count, timeout_s)
        return self.actions_named(name)[count - 1]

    async def wait_for_logins(self, count: int = 1, timeout_s: float = 5.0) -> None:
        await self._wait_until(lambda: self.logins >= count, timeout_s)

    async def wait_for_no_session(self, timeout_s: float = 5.0) -> None:
        await self._wait_until(lambda: not self._sessions, timeout_s)

    # --- pushing events ----------------------------------------------------------------------

    async def send(self, data: bytes, chunks: Sequence[bytes] | None = None) -> None:
        """Write ``data`` (or the given ``chunks`` of it, one TCP write and one client read
        each) to every logged-in session."""
        parts = [data] if chunks is None else list(chunks)
        if b"".join(parts) != data:
            raise ValueError("chunks must add up to data")
        for part in parts:
            for session in self._logged_in():
                await self._write(session, part)
            # Let the client read this part before the next one arrives, so that TCP
            # does not merge them: a few loop turns are enough on loopback.
            for _ in range(3):
                await asyncio.sleep(0)

    async def send_frames(self, frames: Iterable[Frame | Headers]) -> None:
        await self.send(frames_to_bytes(frames))

    # --- serving -------------------------------------------------------------------------------

    def _logged_in(self) -> list[_Session]:
        return [session for session in self._sessions if session.logged_in]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = _Session(writer)
        self._sessions.add(session)
        parser = FrameParser()
        try:
            await self._write(session, f"{self.banner}\r\n".encode())
            while data := await reader.read(65536):
                for frame in parser.feed(data):
                    self.received.append(frame)
                    await self._answer(session, frame)
                    await self._notify()
        except ConnectionError:
            pass  # the client dropped the socket: end of session, as with EOF
        finally:
            self._sessions.discard(session)
            self._tasks.discard(task)
            writer.transport.abort()
            await self._notify()

    async def _answer(self, session: _Session, request: Frame) -> None:
        name = request.get("Action") or ""
        action_id = request.get("ActionID")
        if name == "Login":
            replies = self._login(session, request)
        elif not session.logged_in:
            replies = error("Permission denied")
        elif name == "Logoff":
            await self._reply(session, action_id, [{"Response": "Goodbye", "Message": "Bye"}])
            session.writer.close()
            return
        elif name in self.handlers:
            handler = self.handlers[name]
            if handler is None:
                return  # scripted silence
            replies = list(handler(request) or [])
        else:
            replies = error(f"Invalid/unknown command: {name}.")
        await self._reply(session, action_id, replies)

    def _login(self, session: _Session, request: Frame) -> list[Headers]:
        if request.get("Username") != self.username or request.get("Secret") != self.secret:
            return error("Authentication failed")
        session.logged_in = True
        self.logins += 1
        return success("Authentication accepted")

    async def _reply(
        self, session: _Session, action_id: str | None, replies: Sequence[Headers]
    ) -> None:
        frames = [_with_action_id(headers, action_id) for headers in replies]
        if session.logged_in and self.send_fully_booted and _is_login_ack(frames):
            # Asterisk sends FullyBooted right after the Login ack (no ActionID).
            frames.append(
                {
                    "Event": "FullyBooted",
                    "Privilege": "system,all",
                    "Uptime": str(int(time.time() - self.booted_at)),
                    "LastReload": str(int(time.time() - self.booted_at)),
                    "Status": "Fully Booted",
                }
            )
        await self._write(session, frames_to_bytes(frames))

    async def _write(self, session: _Session, data: bytes) -> None:
        if not self.forwarding or session.writer.is_closing():
            return
        session.writer.write(data)
        with suppress(ConnectionError):  # the client went away: nothing to write to
            await session.writer.drain()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(predicate)


class CallbackRecorder:
    """Collects what a NodeConnection or AmiManager hands to its callbacks, so a test can
    await a condition on it instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[AmiEvent] = []
        self.states: list[StateChange] = []
        self.snapshots: list[ResyncSnapshot] = []
        self.gaps: list[Gap] = []
        self._changed = asyncio.Event()

    def on_event(self, event: AmiEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def on_state_change(self, change: StateChange) -> None:
        self.states.append(change)
        self._changed.set()

    def on_resync(self, snapshot: ResyncSnapshot) -> None:
        self.snapshots.append(snapshot)
        self._changed.set()

    def on_gap(self, gap: Gap) -> None:
        self.gaps.append(gap)
        self._changed.set()

    def moves(self) -> list[tuple[str, str]]:
        """State changes as (old, new) names."""
        return [(change.old.name, change.new.name) for change in self.states]

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()  # no callback can run between the check and here
                await self._changed.wait()


def _is_login_ack(frames: Sequence[Headers]) -> bool:
    return bool(frames) and frames[0].get("Message") == "Authentication accepted"
