"""Raw AMI events as a user without ``can_see_numbers`` sees them: masked by default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ami.testing import load_transcript, transcript_frames
from callctl.privacy import IDENTIFIER_FIELDS, mask_event_field, mask_event_headers

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TRANSCRIPTS = sorted(
    p for p in FIXTURES.rglob("*") if p.suffix in (".ami", ".txt") and p.parent.name != "queue_log"
)
LONG_DIGIT_RUN = re.compile(r"\d{5,}")
# Asterisk's ids and epoch times ("1732190400.101"), bridge UUIDs: not numbers of anyone.
ASTERISK_ID = re.compile(
    r"(?:[A-Za-z0-9_]+-)?\d{10}(?:\.\d{1,9})?"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def test_the_transcripts_are_found() -> None:
    assert len(TRANSCRIPTS) >= 10, TRANSCRIPTS


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_run_of_five_digits_survives_in_any_recorded_event(path: Path) -> None:
    """Every field of every event of every transcript in tests/: a restricted user sees
    no run of 5+ digits, except Asterisk's own ids and epoch times in their own fields."""
    frames = transcript_frames(load_transcript(path))
    assert frames, path
    for frame in frames:
        headers = dict(frame.pairs)
        for name, value in mask_event_headers(headers).items():
            if name.lower() in IDENTIFIER_FIELDS and ASTERISK_ID.fullmatch(value):
                continue
            assert not LONG_DIGIT_RUN.search(value), (path.name, name, value)


def test_a_header_not_known_to_be_safe_is_masked() -> None:
    masked = mask_event_headers(
        {"DestConnectedLineNum": "13800138000", "X-Future-Header": "13912345678"}
    )
    assert masked == {"DestConnectedLineNum": "138****8000", "X-Future-Header": "139****5678"}


def test_free_text_keeps_its_words_and_loses_its_numbers() -> None:
    assert mask_event_field("ConnectedLineNum", "<unknown>") == "<unknown>"
    assert mask_event_field("CallerIDName", "张三 13800138000") == "张三 138****8000"
    assert mask_event_field("Channel", "Local/13800138000@out-0001") == (
        "Local/138****8000@out-0001"
    )


def test_ids_stay_for_the_drill_down_but_not_a_number_in_their_place() -> None:
    assert mask_event_field("Uniqueid", "1732190400.101") == "1732190400.101"
    assert mask_event_field("Linkedid", "13800138000") == "138****8000"
    assert mask_event_field("Queue", "hotline") == "hotline"
    assert mask_event_field("Queue", "q13800138000") == "q138****8000"
