"""FrameParser: framing, incremental UTF-8, banner, legacy command output."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from ami.frames import Frame, FrameParser, parse_frames
from ami.testing import load_transcript

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ami"

CHINESE_FRAME = (
    "Event: QueueCallerJoin\r\n"
    "Privilege: agent,all\r\n"
    "Channel: PJSIP/trunk-00000012\r\n"
    "CallerIDNum: 13800138000\r\n"
    "CallerIDName: 张三丰\r\n"
    "Uniqueid: 1732190400.101\r\n"
    "Queue: hotline\r\n"
    "\r\n"
).encode()


def feed_all(parser: FrameParser, chunks: list[bytes]) -> list[Frame]:
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(parser.feed(chunk))
    return frames


def test_parses_headers_in_wire_order() -> None:
    (frame,) = parse_frames(CHINESE_FRAME)

    assert frame.event == "QueueCallerJoin"
    assert frame.headers["CallerIDName"] == "张三丰"
    assert frame.pairs[0] == ("Event", "QueueCallerJoin")
    assert frame.pairs[-1] == ("Queue", "hotline")


def test_split_at_every_byte_offset_keeps_chinese_name_intact() -> None:
    expected = parse_frames(CHINESE_FRAME)
    for offset in range(len(CHINESE_FRAME) + 1):
        parser = FrameParser()
        frames = feed_all(parser, [CHINESE_FRAME[:offset], CHINESE_FRAME[offset:]])
        assert frames == expected, offset


def test_one_byte_at_a_time() -> None:
    parser = FrameParser()
    frames = feed_all(parser, [bytes([byte]) for byte in CHINESE_FRAME * 3])

    assert [frame.headers["CallerIDName"] for frame in frames] == ["张三丰"] * 3


def test_invalid_utf8_becomes_replacement_character_not_silence() -> None:
    (frame,) = parse_frames(b"Event: X\r\nCallerIDName: a\xffb\r\n\r\n")

    assert frame.headers["CallerIDName"] == "a\ufffdb"


def test_bare_lf_line_ends_are_accepted() -> None:
    frames = parse_frames(b"Event: A\nKey: 1\n\nEvent: B\nKey: 2\n\n")

    assert [(f.event, f.headers["Key"]) for f in frames] == [("A", "1"), ("B", "2")]


def test_crlf_cut_between_cr_and_lf() -> None:
    data = b"Event: A\r\nKey: 1\r\n\r\nEvent: B\r\n\r\n"
    cut = data.index(b"\r\n\r\n") + 3  # between the last CR and LF of the separator
    frames = feed_all(FrameParser(), [data[:cut], data[cut:]])

    assert [f.event for f in frames] == ["A", "B"]
    assert frames[0].headers["Key"] == "1"


def test_banner_is_consumed_and_version_kept() -> None:
    data = b"Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\n"
    for offset in range(len(data) + 1):
        parser = FrameParser()
        frames = feed_all(parser, [data[:offset], data[offset:]])
        assert parser.version == "9.0.0", offset
        assert [f.response for f in frames] == ["Success"], offset


def test_no_banner_is_fine() -> None:
    parser = FrameParser()
    assert parser.feed(b"Event: X\r\n\r\n")[0].event == "X"
    assert parser.version is None


def test_repeated_keys_are_all_kept() -> None:
    (frame,) = parse_frames(
        b"Event: Newchannel\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nUniqueid: 9\r\n\r\n"
    )

    assert frame.get_all("ChanVariable") == ("A=1", "B=2")
    assert frame.headers["ChanVariable"] == "B=2"
    assert frame.headers["Uniqueid"] == "9"


def test_values_may_hold_colons_and_be_empty() -> None:
    (frame,) = parse_frames(b"Event: X\r\nData: a: b:c\r\nAccountCode: \r\nBare:x\r\n\r\n")

    assert frame.headers["Data"] == "a: b:c"
    assert frame.headers["AccountCode"] == ""
    assert frame.headers["Bare"] == "x"


def test_lines_without_colon_are_counted_and_dropped() -> None:
    parser = FrameParser()
    (frame,) = parser.feed(b"Event: X\r\ngarbage line\r\nKey: v\r\n\r\n")

    assert frame.pairs == (("Event", "X"), ("Key", "v"))
    assert parser.malformed_lines == 1


def test_legacy_follows_output_with_blank_lines() -> None:
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"Name: line one\r\n\r\nline three--END COMMAND--\r\n\r\n"
        b"Event: After\r\n\r\n"
    )
    for offset in range(len(data) + 1):
        frames = feed_all(FrameParser(), [data[:offset], data[offset:]])
        follows, after = frames
        assert follows.action_id == "7", offset
        assert follows.get_all("Output") == ("Name: line one", "", "line three"), offset
        assert after.event == "After"


def test_modern_command_output_headers() -> None:
    (frame,) = parse_frames(
        b"Response: Success\r\nMessage: Command output follows\r\nOutput: a\r\nOutput: b\r\n\r\n"
    )

    assert frame.get_all("Output") == ("a", "b")


def test_oversized_frame_is_dropped_and_parsing_recovers() -> None:
    parser = FrameParser(max_frame_chars=100)
    frames = parser.feed(b"Event: Big\r\nData: " + b"x" * 200)
    frames += parser.feed(b"x" * 50 + b"\r\n\r\nEvent: Next\r\n\r\n")

    assert [f.event for f in frames] == ["Next"]
    assert parser.oversized_frames == 1


def test_frame_is_immutable_and_hashable() -> None:
    (frame,) = parse_frames(CHINESE_FRAME)

    with pytest.raises(FrozenInstanceError):
        frame.pairs = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        frame.headers["Queue"] = "other"  # type: ignore[index]
    assert hash(frame) == hash(Frame.from_pairs(frame.pairs))


def test_to_text_round_trips() -> None:
    frames = parse_frames(load_transcript(FIXTURES / "answered_call.txt"))
    text = "".join(frame.to_text() for frame in frames).encode()

    assert parse_frames(text) == frames


def test_finish_parses_a_last_frame_without_blank_line() -> None:
    assert [f.event for f in parse_frames(b"Event: A\r\n\r\nEvent: B\r\n")] == ["A", "B"]
