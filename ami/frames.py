"""AMI framing: bytes from the socket in, immutable frames out. Pure, no I/O.

The wire is UTF-8 text, ``Key: value`` lines ended by CRLF (Asterisk also accepts a bare
LF, and so do we), one frame per block ended by a blank line. The first line of a session
is the banner ``Asterisk Call Manager/x.y.z`` with no blank line after it.

TCP may cut anywhere, also inside a multi-byte character (a Chinese caller name is three
bytes a character). panoramisk decodes each chunk on its own with ``errors='ignore'`` and
loses such characters; here one incremental decoder spans the whole session, so a
character is only decoded once all its bytes have arrived.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

BANNER_PREFIX: Final = "Asterisk Call Manager/"
# Before Asterisk 14 the Command action answered "Response: Follows" followed by raw
# output (which may hold blank lines) up to this marker; 14+ sends "Output:" headers.
_FOLLOWS: Final = "Response: Follows"
_END_COMMAND: Final = "--END COMMAND--"
_FOLLOWS_HEADERS: Final = frozenset({"Response", "Privilege", "ActionID", "CommandID", "Message"})
# A frame that never ends (a broken peer) must not grow the buffer without bound.
DEFAULT_MAX_FRAME_CHARS: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Frame:
    """One AMI message (event or response), immutable.

    ``pairs`` keeps every line in wire order, repeated keys included (``ChanVariable``);
    ``headers`` is a read-only lookup where a repeated key holds its last value.
    Keys are case-sensitive, as Asterisk spells them (``Uniqueid``, ``ActionID``).
    """

    pairs: tuple[tuple[str, str], ...]
    headers: Mapping[str, str] = field(compare=False, repr=False)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Frame:
        kept = tuple(pairs)
        return cls(kept, MappingProxyType(dict(kept)))

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.headers.get(key, default)

    def get_all(self, key: str) -> tuple[str, ...]:
        """Every value of a key that may repeat, in wire order."""
        return tuple(value for name, value in self.pairs if name == key)

    @property
    def event(self) -> str | None:
        return self.headers.get("Event")

    @property
    def response(self) -> str | None:
        return self.headers.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.headers.get("ActionID")

    def to_text(self, eol: str = "\r\n") -> str:
        """The frame as wire text, blank line included (the transcript format too)."""
        return eol.join(f"{key}: {value}" for key, value in self.pairs) + eol + eol


class FrameParser:
    """Incremental parser: ``feed(bytes)`` returns the frames completed by those bytes."""

    __slots__ = (
        "_decoder",
        "_discarding",
        "_pending",
        "banner_checked",
        "malformed_lines",
        "max_frame_chars",
        "oversized_frames",
        "version",
    )

    def __init__(self, max_frame_chars: int = DEFAULT_MAX_FRAME_CHARS) -> None:
        # errors="replace": a byte that is not UTF-8 shows as U+FFFD instead of vanishing,
        # while a character cut by TCP waits inside the decoder for its other bytes.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._discarding = False
        self.banner_checked = False
        self.version: str | None = None
        self.malformed_lines = 0
        self.oversized_frames = 0
        self.max_frame_chars = max_frame_chars

    def feed(self, data: bytes) -> list[Frame]:
        text = self._decoder.decode(data)
        if self._pending:
            text = self._pending + text
        if "\r" in text:
            # A CR at the very end stays in the pending tail and pairs with the LF that
            # the next read brings, so normalising again later is harmless.
            text = text.replace("\r\n", "\n")
        if not self.banner_checked:
            text = self._strip_banner(text)
            if not self.banner_checked:
                self._pending = text
                return []
        parts = text.split("\n\n")
        self._pending = parts.pop()
        if self._discarding:
            if not parts:
                self._pending = ""
                return []
            # The first part is the tail of the oversized frame.
            parts.pop(0)
            self._discarding = False
        if len(self._pending) > self.max_frame_chars:
            self._pending = ""
            self._discarding = True
            self.oversized_frames += 1
        return self._parse_parts(parts)

    def finish(self) -> list[Frame]:
        """Flush the decoder and parse a last frame that lacks its blank line (files)."""
        tail = self.feed(b"")
        text = (self._pending + self._decoder.decode(b"", final=True)).replace("\r\n", "\n")
        self._pending = ""
        return tail + self._parse_parts([text.strip("\n")])

    def _strip_banner(self, text: str) -> str:
        if text.startswith(BANNER_PREFIX):
            end = text.find("\n")
            if end < 0:
                return text  # the banner line is not complete yet
            self.version = text[len(BANNER_PREFIX) : end].strip()
            self.banner_checked = True
            return text[end + 1 :]
        if BANNER_PREFIX.startswith(text):
            return text  # too short to tell: could still become the banner
        self.banner_checked = True  # no banner (a transcript, or a peer that skips it)
        return text

    def _parse_parts(self, parts: list[str]) -> list[Frame]:
        frames: list[Frame] = []
        append = frames.append
        new_frame = Frame
        proxy = MappingProxyType
        index = 0
        count = len(parts)
        while index < count:
            block = parts[index]
            index += 1
            if not block:
                continue
            if block.startswith(_FOLLOWS):
                while _END_COMMAND not in block and index < count:
                    block = block + "\n\n" + parts[index]
                    index += 1
                if _END_COMMAND not in block:
                    # The command output is not complete: wait for the rest.
                    self._pending = block + "\n\n" + self._pending
                    break
                append(self._parse_follows(block))
                continue
            lines = block.split("\n")
            try:
                # Fast path: every line is "Key: value" (ValueError otherwise).
                headers = dict([line.split(": ", 1) for line in lines])
            except ValueError:
                frame = self._parse_lines(lines)
                if frame is not None:
                    append(frame)
                continue
            if len(headers) == len(lines):
                append(new_frame(tuple(headers.items()), proxy(headers)))
            else:  # a key repeats: keep every occurrence in pairs
                pairs = tuple((key, value) for key, value in (ln.split(": ", 1) for ln in lines))
                append(new_frame(pairs, proxy(headers)))
        return frames

    def _parse_lines(self, lines: list[str]) -> Frame | None:
        pairs: list[tuple[str, str]] = []
        for line in lines:
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep or not key or " " in key:
                self.malformed_lines += 1
                continue
            pairs.append((key, value[1:] if value.startswith(" ") else value))
        return Frame.from_pairs(pairs) if pairs else None

    def _parse_follows(self, block: str) -> Frame:
        pairs: list[tuple[str, str]] = []
        in_headers = True
        for line in block.split("\n"):
            if in_headers:
                key, sep, value = line.partition(": ")
                if sep and key in _FOLLOWS_HEADERS:
                    pairs.append((key, value))
                    continue
                in_headers = False
            if line.endswith(_END_COMMAND):
                # Output without a final newline puts the marker on its last line.
                last = line[: -len(_END_COMMAND)]
                if last:
                    pairs.append(("Output", last))
                break
            pairs.append(("Output", line))
        return Frame.from_pairs(pairs)


def parse_frames(data: bytes) -> list[Frame]:
    """Parse a complete byte string (a transcript, a test payload) into frames."""
    parser = FrameParser()
    return parser.feed(data) + parser.finish()
