"""Masking of citizens' phone numbers for users without the right to see them."""

from __future__ import annotations

import re
from collections.abc import Mapping


def mask_number(number: str | None) -> str | None:
    """``13812345678`` → ``138****5678``.

    Numbers of 11 characters or more (mobiles, landlines with area code) keep
    their first three and last four; 8-10 keep the last four; 5-7 the last
    two; shorter ones are hidden entirely. A mobile's middle four digits are
    always hidden, and at least half of any shorter number.
    """
    if number is None or number == "":
        return number
    n = len(number)
    if n >= 11:
        return number[:3] + "****" + number[-4:]
    if n >= 8:
        return "****" + number[-4:]
    if n >= 5:
        return "****" + number[-2:]
    return "****"


_DIGIT_RUN = re.compile(r"\d{5,}")
_NUMBER_LIKE = re.compile(r"\+?[\d\s()-]*\d[\d\s()-]*")
# Asterisk's ids and epoch times ("1732190400.101", "node-1732190400.101"), and bridge UUIDs.
_EPOCH_ID = re.compile(r"(?:[A-Za-z0-9_]+-)?\d{10}(?:\.\d{1,9})?")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

IDENTIFIER_FIELDS: frozenset[str] = frozenset(
    {"uniqueid", "linkedid", "destuniqueid", "destlinkedid", "bridgeuniqueid",
     "timestamp", "lastcall", "lastpause", "logintime"}
)  # fmt: skip
"""AMI headers holding an id or an epoch time, shown as they are when they have that shape
(a drill-down needs them); any other value in them is masked like free text."""

NO_NUMBER_FIELDS: frozenset[str] = frozenset(
    {"event", "privilege", "response", "message", "channelstate", "channelstatedesc",
     "destchannelstate", "destchannelstatedesc", "language", "destlanguage", "context",
     "destcontext", "priority", "destpriority", "queue", "position", "originalposition",
     "count", "calls", "max", "strategy", "weight", "holdtime", "ringtime", "talktime",
     "wait", "completed", "abandoned", "servicelevel", "servicelevelperf",
     "servicelevelperf2", "dialstatus", "bridgetype", "bridgetechnology",
     "bridgenumchannels", "bridgevideosourcemode", "membership", "penalty", "callstaken",
     "incall", "status", "paused", "pausedreason", "ringinuse", "wrapuptime", "reason",
     "cause", "cause-txt", "techcause", "uptime", "lastreload", "userevent", "menu",
     "digit", "label"}
)  # fmt: skip
"""AMI headers known to carry no caller's number: kept, but for runs of 5+ digits."""


def mask_digit_runs(text: str) -> str:
    """Every run of 5 or more digits masked as a number (``mask_number``)."""
    return _DIGIT_RUN.sub(lambda m: mask_number(m.group()) or "", text)


def mask_event_field(name: str, value: str) -> str:
    """One AMI header's value for a user without the right to see numbers.

    Masked by default: only headers known to carry no number keep their value (and
    even there runs of 5+ digits are masked); a value that looks like a number is
    masked as one, any other text has its digit runs masked (``<unknown>`` stays).
    """
    key = name.lower()
    if key in IDENTIFIER_FIELDS and (_EPOCH_ID.fullmatch(value) or _UUID.fullmatch(value)):
        return value
    if key not in NO_NUMBER_FIELDS and _NUMBER_LIKE.fullmatch(value):
        return mask_number(value.strip()) or ""
    return mask_digit_runs(value)


def mask_event_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A raw AMI event's headers as a user without ``can_see_numbers`` may see them."""
    return {name: mask_event_field(name, value) for name, value in headers.items()}
