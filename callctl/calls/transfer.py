"""Transfer targets (pure): what a REST request may name, and where the dialplan sends it.

A queue goes to its own queue context (``callctl-queue-<name>``, so the caller enters
that queue as a new entry), an agent to ``callctl-transfer-agent`` (rings the seat),
an external number (a department) to ``callctl-outbound`` and only when it matches an
allowed outbound pattern. Anything else, or a value with CR/LF, ``;`` or other
characters outside its pattern, is refused before any AMI action exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from routing.model import PbxModel

AGENT_CONTEXT: Final = "callctl-transfer-agent"
OUTBOUND_CONTEXT: Final = "callctl-outbound"

# Mainland China numbers a hotline may call: mobiles, landlines with area code, local
# landlines, and the 3-5 digit government service numbers (12345, 12320, 110...).
# No 00 (international), no 1900/168 premium lines: those need configuring.
DEFAULT_OUTBOUND_PATTERNS: Final = (
    r"1[3-9][0-9]{9}",
    r"0[1-9][0-9]{9,10}",
    r"[2-8][0-9]{6,7}",
    r"1[0-2][0-9]{1,3}",
)


class TransferKind(StrEnum):
    QUEUE = "queue"
    AGENT = "agent"
    EXTERNAL = "external"


class InvalidTargetError(ValueError):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NUMBER = re.compile(r"[0-9]{3,20}")


@dataclass(frozen=True, slots=True)
class TransferTarget:
    kind: TransferKind
    value: str


def allowed_number(number: str, patterns: Sequence[str] = DEFAULT_OUTBOUND_PATTERNS) -> bool:
    return _NUMBER.fullmatch(number) is not None and any(re.fullmatch(p, number) for p in patterns)


def check_number(
    number: str, field: str, patterns: Sequence[str] = DEFAULT_OUTBOUND_PATTERNS
) -> str:
    """An outbound number: digits only, within an allowed pattern (InvalidTargetError)."""
    if not _NUMBER.fullmatch(number):
        raise InvalidTargetError(field, "an outbound number is 3-20 digits, nothing else")
    if not allowed_number(number, patterns):
        raise InvalidTargetError(field, "number outside the allowed outbound patterns")
    return number


def transfer_destination(
    model: PbxModel,
    target: TransferTarget,
    patterns: Sequence[str] = DEFAULT_OUTBOUND_PATTERNS,
) -> tuple[str, str]:
    """(context, exten) of the dialplan that takes the transferred caller."""
    if target.kind is TransferKind.EXTERNAL:
        return OUTBOUND_CONTEXT, check_number(target.value, "target", patterns)
    if not _PLAIN.fullmatch(target.value):
        raise InvalidTargetError("target", "not a plain name (letters, digits, - and _)")
    if target.kind is TransferKind.QUEUE:
        if target.value not in {q.name for q in model.queues}:
            raise InvalidTargetError("target", f"no queue {target.value!r}")
        return f"callctl-queue-{target.value}", "s"
    if target.value not in {a.agent_id for a in model.agents}:
        raise InvalidTargetError("target", f"no agent {target.value!r}")
    return AGENT_CONTEXT, target.value
