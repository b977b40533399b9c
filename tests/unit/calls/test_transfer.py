"""Transfer targets (pure): queues, seats, allowed external numbers; injection refused."""

from __future__ import annotations

import pytest

from callctl.calls.transfer import (
    InvalidTargetError,
    TransferKind,
    TransferTarget,
    allowed_number,
    transfer_destination,
)
from callctl.lab.lab_model import lab_model

MODEL = lab_model("s3cret-generated-0123456789", agents=3)


def test_destinations() -> None:
    q = TransferTarget(TransferKind.QUEUE, "hotline")
    assert transfer_destination(MODEL, q) == ("callctl-queue-hotline", "s")
    a = TransferTarget(TransferKind.AGENT, "1002")
    assert transfer_destination(MODEL, a) == ("callctl-transfer-agent", "1002")
    e = TransferTarget(TransferKind.EXTERNAL, "089866668888")
    assert transfer_destination(MODEL, e) == ("callctl-outbound", "089866668888")


@pytest.mark.parametrize(
    ("number", "allowed"),
    [
        ("13800138000", True),  # mobile
        ("02087654321", True),  # landline with area code
        ("66668888", True),  # local landline
        ("12345", True),  # service number
        ("110", True),
        ("0085212345678", False),  # international
        ("1900123456", False),  # premium
        ("95555", False),
        ("1", False),
    ],
)
def test_allowed_patterns(number: str, allowed: bool) -> None:
    assert allowed_number(number) is allowed


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (TransferKind.EXTERNAL, "13800138000\r\nAction: Hangup"),
        (TransferKind.EXTERNAL, "13800138000;x"),
        (TransferKind.EXTERNAL, "0085212345678"),
        (TransferKind.QUEUE, "hotline;x"),
        (TransferKind.QUEUE, "hotline\n"),
        (TransferKind.QUEUE, "nosuch"),
        (TransferKind.AGENT, "9999"),
        (TransferKind.AGENT, "1001\r\n"),
    ],
)
def test_bad_targets_refused(kind: TransferKind, value: str) -> None:
    with pytest.raises(InvalidTargetError) as info:
        transfer_destination(MODEL, TransferTarget(kind, value))
    assert info.value.field == "target"
