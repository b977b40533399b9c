"""Recording file names (pure): what the dialplan writes, and where callctl keeps it.

The dialplan (``callctl-agent-connected``) names the raw file
``<callid>+<queue>+<line>+<agent>+<agent uniqueid>.raw`` in the node's
``monitor/callctl`` spool, and a hangup handler on the same channel writes the
marker ``<the same stem>.end`` when the call ends (no process is forked, unlike a
MixMonitor post-command): a ``.raw`` with a marker that has settled is complete. A
``.done`` file (the name earlier dialplans renamed a finished ``.raw`` to, and the
name a shipper uploads a complete recording under) is complete as it is.

``callid`` is the caller's uniqueid (queue_log's callid), the agent leg's uniqueid tells
two answered entries of one call in one queue apart. The kept file is
``<node>/<YYYY>/<MM>/<DD>/<the same stem>.flac`` under the recordings store (date of the
start, UTC), so a kept file alone still names its call and entry.

Calls placed by agents are recorded the same way, on the agent's channel, with a
reserved queue name that no routing queue can take (routing's names start with a
letter): ``_callback`` for a callback (回访) attempt, whose call id is the dialer's
channel id ``callctl-cb-<task>-<attempt>-<hex>`` (``callback_attempts.channel_id``),
and ``_outbound`` for a number an agent dialled. Their line is empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Final

RAW_SUFFIX: Final = ".raw"
DONE_SUFFIX: Final = ".done"
END_SUFFIX: Final = ".end"
KEPT_SUFFIX: Final = ".flac"
# Asterisk uniqueids: "<epoch>.<n>", optionally "<systemname>-" first.
_UNIQUEID = (
    r"(?:(?:[A-Za-z0-9_-]{1,32}-)?[0-9]{1,12}\.[0-9]{1,9}"
    # The callback dialer's own channel ids (Originate's ChannelId).
    r"|callctl-cb-[0-9]{1,18}-[0-9]{1,6}-[0-9a-f]{8})"
)
CALLBACK_QUEUE: Final = "_callback"
OUTBOUND_QUEUE: Final = "_outbound"
_RAW_NAME = re.compile(
    rf"^(?P<callid>{_UNIQUEID})\+(?P<queue>[a-z][a-z0-9_-]{{0,39}}|{CALLBACK_QUEUE}|{OUTBOUND_QUEUE})\+(?P<line>[0-9]{{0,20}})"
    rf"\+(?P<agent>[0-9]{{0,10}})\+(?P<agent_uniqueid>{_UNIQUEID})$"
)
NODE_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class RecordingNameError(ValueError):
    error_id = "recording.bad_name"


@dataclass(frozen=True, slots=True)
class RawName:
    """What a spool file's name says about its recording."""

    callid: str
    queue: str
    line: str | None
    agent: str | None
    agent_uniqueid: str

    @property
    def file_key(self) -> str:
        return (
            f"{self.callid}+{self.queue}+{self.line or ''}+{self.agent or ''}+{self.agent_uniqueid}"
        )


def parse_stem(stem: str) -> RawName:
    """``stem``: a spool file's name without ``.raw``/``.done``."""
    match = _RAW_NAME.fullmatch(stem)
    if match is None:
        raise RecordingNameError(f"not a callctl recording name: {stem!r}")
    return RawName(
        callid=match["callid"],
        queue=match["queue"],
        line=match["line"] or None,
        agent=match["agent"] or None,
        agent_uniqueid=match["agent_uniqueid"],
    )


def spool_stem(file_name: str) -> tuple[str, bool] | None:
    """``(stem, complete)`` for a spool file of ours, ``None`` for anything else."""
    for suffix, complete in ((DONE_SUFFIX, True), (RAW_SUFFIX, False)):
        if file_name.endswith(suffix):
            stem = file_name.removesuffix(suffix)
            return (stem, complete) if _RAW_NAME.fullmatch(stem) else None
    return None


def marker_stem(file_name: str) -> str | None:
    """The stem an end marker (``<stem>.end``) stands for, ``None`` for anything else."""
    if not file_name.endswith(END_SUFFIX):
        return None
    stem = file_name.removesuffix(END_SUFFIX)
    return stem if _RAW_NAME.fullmatch(stem) else None


def upload_name(stem: str, *, complete: bool) -> str:
    """The name a shipper uploads a spool recording under: ``.done`` when complete
    (ended, by marker or by an earlier dialplan's rename), ``.raw`` for an orphan."""
    return stem + (DONE_SUFFIX if complete else RAW_SUFFIX)


def kept_location(node: str, name: RawName, started_at: datetime) -> PurePosixPath:
    """The kept file's path relative to the recordings store."""
    if not NODE_ID.fullmatch(node):
        raise RecordingNameError(f"not a node id: {node!r}")
    day = started_at.strftime("%Y/%m/%d")
    return PurePosixPath(node, day, f"{name.file_key}{KEPT_SUFFIX}")


def is_safe_location(location: str) -> bool:
    """A stored location stays inside the store: relative, no ``..``, no odd characters."""
    path = PurePosixPath(location)
    return (
        not path.is_absolute()
        and "//" not in location
        and all(part not in ("", ".", "..") for part in path.parts)
        and re.fullmatch(r"[A-Za-z0-9_+./-]{1,300}", location) is not None
    )


def shipped_name(node: str, file_name: str) -> tuple[RawName, bool]:
    """What a shipper's upload names: its node and the spool file's name, both from the
    node, so both checked before either is used (no path, no ``..``, nothing but the
    dialplan's pattern). ``(name, complete)``: complete for ``.done``, else an orphaned
    ``.raw``. Raises ``RecordingNameError``."""
    if not NODE_ID.fullmatch(node):
        raise RecordingNameError(f"not a node id: {node!r}")
    parsed = spool_stem(file_name) if len(file_name) <= 255 else None
    if parsed is None:
        raise RecordingNameError(
            f"not a callctl recording file name (<callid>+<queue>+<line>+<agent>+"
            f"<agent uniqueid>.done or .raw): {file_name[:80]!r}"
        )
    stem, complete = parsed
    return parse_stem(stem), complete
