"""IVR flows: validation naming the refused field, and deterministic compilation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from callctl.facts.ivr import (
    message_from_queue_log,
    message_from_user_event,
    step_from_queue_log,
    step_from_user_event,
)
from callctl.facts.models import CallbackTaskFact, IvrStepFact
from ivr.compile import render_flow
from ivr.flow import Flow, FlowNode, NodeKind, check_flow
from routing.model import ConfigValueError, Line, OpenHours

K = NodeKind


def two_level() -> Flow:
    """Language, notice, hours, a menu into a sub-menu and two queues, a message after hours."""
    return Flow(
        name="main",
        start="lang",
        nodes=(
            FlowNode("lang", K.LANGUAGE, language="zh", next="notice"),
            FlowNode("notice", K.NOTICE, flag="flood", prompt="callctl/flood", next="hours"),
            FlowNode("hours", K.HOURS, open="welcome", closed="leave"),
            FlowNode("welcome", K.PLAY, prompt="callctl/welcome", next="top", interruptible=True),
            FlowNode(
                "top",
                K.MENU,
                prompt="callctl/top",
                choices=(("1", "social"), ("2", "q-b")),
                default="q-a",
                timeout_s=3,
                timeouts=1,
                invalids=3,
            ),
            FlowNode(
                "social",
                K.MENU,
                prompt="callctl/social",
                choices=(("1", "q-a"), ("9", "top")),
                default="q-a",
            ),
            FlowNode("q-a", K.QUEUE, queue="hotline"),
            FlowNode("q-b", K.QUEUE, queue="hotline-b"),
            FlowNode("leave", K.MESSAGE, prompt="callctl/leave", max_s=60),
        ),
    )


PROMPTS = ("callctl/flood", "callctl/welcome", "callctl/top", "callctl/social", "callctl/leave")


def test_a_good_flow_passes_and_names_its_ways_out() -> None:
    flow = two_level()
    check_flow(flow, queues={"hotline", "hotline-b"}, prompts=PROMPTS)
    assert dict(flow.node("top").edges()) == {
        "default": "q-a", "choices[1]": "social", "choices[2]": "q-b",
    }  # fmt: skip


def _with(flow: Flow, *nodes: FlowNode) -> Flow:
    by_id = {n.id: n for n in flow.nodes}
    by_id.update({n.id: n for n in nodes})
    return Flow(flow.name, flow.start, tuple(by_id.values()))


def test_unreachable_node_is_refused() -> None:
    with pytest.raises(ConfigValueError) as refused:
        _with(two_level(), FlowNode("orphan", K.HANGUP))
    assert refused.value.field == "flow.nodes[orphan]"
    assert "unreachable" in refused.value.why


def test_a_pure_loop_is_named_as_a_loop() -> None:
    with pytest.raises(ConfigValueError) as refused:
        Flow(
            "f", "a",
            (
                FlowNode("a", K.PLAY, prompt="beep", next="b"),
                FlowNode("b", K.HOURS, open="a", closed="c"),
                FlowNode("c", K.HANGUP),
            ),
        )  # fmt: skip
    assert refused.value.field == "flow.nodes[a]"
    assert refused.value.why == "loop without a way out"


def test_a_loop_through_a_menu_is_allowed() -> None:
    Flow(
        "f", "m",
        (
            FlowNode("m", K.MENU, prompt="beep", choices=(("1", "p"),), default="end"),
            FlowNode("p", K.PLAY, prompt="beep", next="m"),
            FlowNode("end", K.HANGUP),
        ),
    )  # fmt: skip


def test_dead_end_is_refused() -> None:
    with pytest.raises(ConfigValueError) as refused:
        Flow(
            "f", "m",
            (
                FlowNode("m", K.MENU, prompt="beep", choices=(("1", "p"),), default="p"),
                FlowNode("p", K.PLAY, prompt="beep", next="m2"),
                FlowNode("m2", K.MENU, prompt="beep", choices=(("1", "p"),), default="p"),
            ),
        )  # fmt: skip
    assert refused.value.why.startswith("dead end")


MENU = {"prompt": "beep", "choices": (("1", "q-a"),), "default": "q-a"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt": "x;Hangup"}, "flow.nodes[top].prompt"),
        ({"prompt": "${SHELL}"}, "flow.nodes[top].prompt"),
        ({"choices": (("1", "nowhere"),)}, "flow.nodes[top].choices[1]"),
        ({"choices": (("12", "q-a"),)}, "flow.nodes[top].choices"),
        ({"choices": (("1", "q-a"), ("1", "q-b"))}, "flow.nodes[top].choices"),
        ({"choices": ()}, "flow.nodes[top].choices"),
        ({"default": None}, "flow.nodes[top].default"),
        ({"timeouts": 50}, "flow.nodes[top].timeouts"),
    ],
)
def test_bad_values_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigValueError) as refused:
        _with(two_level(), FlowNode("top", K.MENU, **{**MENU, **changes}))
    assert refused.value.field == field


def test_bad_kind_and_id_are_refused() -> None:
    with pytest.raises(ConfigValueError) as refused:
        FlowNode("x", "dance")  # type: ignore[arg-type]
    assert refused.value.field == "flow.nodes[x].kind"
    with pytest.raises(ConfigValueError) as refused:
        FlowNode("h\n[evil]", K.HANGUP)
    assert refused.value.field == "flow.nodes[h\n[evil]].id"


def test_unknown_queue_and_prompt_are_refused() -> None:
    with pytest.raises(ConfigValueError) as refused:
        check_flow(two_level(), queues={"hotline"}, prompts=PROMPTS)
    assert refused.value.field == "flow.nodes[q-b].queue"
    with pytest.raises(ConfigValueError) as refused:
        check_flow(two_level(), queues={"hotline", "hotline-b"}, prompts=PROMPTS[1:])
    assert refused.value.field == "flow.nodes[notice].prompt"


def test_compiled_dialplan_matches_its_golden_file() -> None:
    line = Line(
        "12347", "导航线", "hotline", flow="main",
        hours=(OpenHours(("mon", "tue", "wed", "thu", "fri"), "08:30", "17:30"),),
    )  # fmt: skip
    text = render_flow(two_level(), line)
    assert text == render_flow(two_level(), line)  # deterministic
    # The whole of a compiled flow is pinned by the sample model's golden
    # extensions.conf (line 12320); here, what each kind compiles to.
    assert text.startswith("\n[callctl-ivr-12347]\nexten => s,1,Set(__CALLCTL_FLOW=main)\n")
    assert " same => n(ask),Read(CALLCTL_IVR_KEY,callctl/top,1,,1,3)\n" in text
    assert ' same => n,GotoIf($["${DB(callctl-notice/flood)}" = "on"]?on)\n' in text
    assert " same => n,Gosub(callctl-hours-12347,s,1)\n" in text
    assert " same => n,Goto(callctl-queue-hotline-b,s,1)\n" in text
    assert "Record(${ASTSPOOLDIR}/callctl-messages/${UNIQUEID}.wav,5,60,k)" in text
    assert "Number: ${FILTER(0-9+,${CALLERID(num)})}" in text
    assert "GotoIf($[${CALLCTL_IVR_TIMEOUTS} < 1]?ask)\n same => n,Goto(n-q-a,1)" in text
    # Without a calendar the hours node is always open.
    assert "callctl-hours-" not in render_flow(two_level(), replace(line, hours=()))


def test_step_and_message_from_both_paths_are_equal() -> None:
    fields = {
        "Step": "3", "Line": "12347", "Flow": "main", "Node": "top", "Kind": "menu",
        "Key": "7", "Outcome": "invalid", "Elapsed": "4",
    }  # fmt: skip
    data = ("3", "12347", "main", "top", "menu", "7", "invalid", "4")
    expected = IvrStepFact("ast1", "u.1", 3, "12347", "main", "top", "menu", 100, 4, "7", "invalid")
    assert step_from_user_event("ast1", "u.1", fields, 100) == expected
    assert step_from_queue_log("ast1", "u.1", data, 100) == expected
    assert step_from_queue_log("ast1", "u.1", data[:-1], 100) is None
    assert step_from_user_event("ast1", "u.1", {**fields, "Step": "x"}, 100) is None
    message = CallbackTaskFact("ivr_message", "ast1/u.1", "12347", "13800000001", 100, "/m.wav")
    assert (
        message_from_user_event(
            "ast1", "u.1", {"Line": "12347", "Number": "13800000001", "Path": "/m.wav"}, 100
        )
        == message_from_queue_log("ast1", "u.1", ("12347", "13800000001", "/m.wav"), 100)
        == message
    )
