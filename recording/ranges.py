"""HTTP ``Range: bytes=...`` for one range (what browsers send to seek), pure.

A multi-range or malformed header is refused (416) rather than silently answered
with the whole file: a client that asked for bytes it cannot get should know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^bytes=(?P<first>[0-9]{0,18})-(?P<last>[0-9]{0,18})$")


class RangeError(ValueError):
    error_id = "recording.bad_range"


@dataclass(frozen=True, slots=True)
class ByteRange:
    first: int
    last: int  # inclusive

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.first}-{self.last}/{size}"


def parse_range(header: str, size: int) -> ByteRange:
    """The one range ``header`` asks for within a file of ``size`` bytes."""
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        raise RangeError(f"Range {header[:60]!r}: only one 'bytes=first-last' range is served")
    first_text, last_text = match["first"], match["last"]
    if not first_text and not last_text:
        raise RangeError("Range: 'bytes=-' names no bytes")
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeError(f"Range {header!r} is not satisfiable (size {size})")
        return ByteRange(max(0, size - suffix), size - 1)
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last < first:
        raise RangeError(f"Range {header!r}: last byte before first")
    if first >= size:
        raise RangeError(f"Range {header!r} is not satisfiable (size {size})")
    return ByteRange(first, min(last, size - 1))
