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
from callctl.lab.sample_model import HEALTH_FLOW, sample_model
from callctl.routing_config.convert import Deployment, from_model, to_model
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


def silent_loop(**limits: Any) -> Flow:
    """A menu whose timeout branch plays a prompt and asks again: a caller who never
    presses a key goes round until the step limit."""
    return Flow(
        "loop", "ask",
        (
            FlowNode("ask", K.MENU, prompt="beep", choices=(("1", "q"),), default="again",
                     timeout_s=1, timeouts=1),
            FlowNode("again", K.PLAY, prompt="beep", next="ask"),
            FlowNode("q", K.QUEUE, queue="hotline"),
            FlowNode("bye", K.HANGUP),
        ),
        **limits,
    )  # fmt: skip


def test_the_step_limit_defaults_to_20_and_hangs_up() -> None:
    flow = _with(two_level())
    assert (flow.max_steps, flow.on_limit, flow.limit_prompt) == (20, None, None)


@pytest.mark.parametrize(
    ("limits", "field", "why"),
    [
        ({"max_steps": 0}, "flow.max_steps", "must be within 1..200"),
        ({"max_steps": 201}, "flow.max_steps", "must be within 1..200"),
        # ask → q is two nodes: a limit of one would cut every caller short.
        ({"max_steps": 1, "on_limit": "bye"}, "flow.max_steps", "below the 2 nodes"),
        ({"on_limit": "nowhere"}, "flow.on_limit", "no such node"),
        ({"on_limit": "again"}, "flow.on_limit", "a queue or hangup node"),
        ({"on_limit": "ask"}, "flow.on_limit", "a queue or hangup node"),
        ({"on_limit": "Bye;Hangup"}, "flow.on_limit", "must match"),
        ({"on_limit": "bye", "limit_prompt": "x;Hangup"}, "flow.limit_prompt", "a sound"),
    ],
)
def test_bad_step_limits_are_refused_naming_the_field(
    limits: dict[str, Any], field: str, why: str
) -> None:
    with pytest.raises(ConfigValueError) as refused:
        silent_loop(**limits)
    assert refused.value.field == field
    assert refused.value.why.startswith(why)


def test_the_limit_fallback_counts_as_reached_and_its_prompt_must_exist() -> None:
    # "bye" serves only as the fallback: without on_limit it is unreachable.
    with pytest.raises(ConfigValueError) as refused:
        silent_loop()
    assert refused.value.field == "flow.nodes[bye]"
    flow = silent_loop(on_limit="bye", limit_prompt="callctl/busy")
    with pytest.raises(ConfigValueError) as refused:
        check_flow(flow, queues={"hotline"}, prompts=())
    assert refused.value.field == "flow.limit_prompt"
    check_flow(flow, queues={"hotline"}, prompts=("callctl/busy",))


def test_every_node_counts_the_walk_and_the_limit_sends_the_call_on() -> None:
    line = Line("12347", "导航线", "hotline", flow="loop")
    text = render_flow(silent_loop(max_steps=6, on_limit="bye", limit_prompt="goodbye"), line)
    for node_id, kind in (("ask", "menu"), ("again", "play"), ("q", "queue"), ("bye", "hangup")):
        assert (
            f"exten => n-{node_id},1,Set(CALLCTL_IVR_VISITS=$[0${{CALLCTL_IVR_VISITS}} + 1])\n"
            f" same => n,GosubIf($[${{CALLCTL_IVR_VISITS}} > 6]?limit,1({node_id},{kind}))\n"
            f" same => n(in),NoOp(callctl ivr {node_id})\n"
        ) in text
    # The limit is reported as a step of the node the call was entering, key "limit",
    # then the call enters the fallback past its count (else the fallback would trip
    # the limit again).
    assert text.endswith(
        "exten => limit,1,NoOp(callctl ivr over 6 steps)\n"
        " same => n,Gosub(callctl-ivr-step,s,1(${ARG1},${ARG2},limit,bye))\n"
        " same => n,StackPop()\n"
        " same => n,Playback(goodbye)\n"
        " same => n,Goto(n-bye,in)\n"
    )
    queue = FlowNode("q", K.QUEUE, queue="hotline")
    assert render_flow(Flow("f", "q", (queue,), on_limit="q"), line).endswith(
        " same => n,Gosub(callctl-ivr-step,s,1(${ARG1},${ARG2},limit,q))\n"
        " same => n,StackPop()\n"
        " same => n,Goto(n-q,in)\n"
    )
    # No fallback: hung up (after the notice, if one is configured).
    assert render_flow(Flow("f", "q", (queue,)), line).endswith(
        " same => n,Gosub(callctl-ivr-step,s,1(${ARG1},${ARG2},limit,hangup))\n"
        " same => n,StackPop()\n"
        " same => n,Hangup(16)\n"
    )
    assert render_flow(Flow("f", "q", (queue,), limit_prompt="goodbye"), line).endswith(
        " same => n,Playback(goodbye)\n same => n,Hangup(16)\n"
    )


def test_step_limits_survive_the_routing_document() -> None:
    flow = replace(HEALTH_FLOW, max_steps=7, on_limit="general", limit_prompt="goodbye")
    model = replace(sample_model("sample-secret-0123456789"), flows=(flow,))
    doc = from_model(model)
    assert (doc.flows[0].max_steps, doc.flows[0].on_limit) == (7, "general")
    back = to_model(doc, Deployment(ami=model.ami, network=model.network, trunks=model.trunks))
    assert back.flow("health") == flow


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
