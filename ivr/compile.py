"""A line's IVR flow → its dialplan context (pure, deterministic).

Each line with a flow gets ``[callctl-ivr-<line>]``: ``s`` starts the clock and
answers, then each node is an extension ``n-<id>`` (a prefix, so that no node id
can be one of Asterisk's special extensions such as ``h`` or ``i``). Every step
is reported by ``callctl-ivr-step``: a ``UserEvent`` (AMI, live) and a
``QueueLog`` line (durable, reconciled), with the seconds since the call began;
the ``queue`` step's is the time from system entry to queue entry.

Each node's first priorities count the nodes the call has entered
(``CALLCTL_IVR_VISITS``); past the flow's ``max_steps`` the call goes to ``limit``,
which reports a step with the key ``limit`` for the node it was entering, then
sends the call to ``on_limit`` past that node's own count (label ``in``), or hangs
up.

All values were validated by ``ivr.flow`` and ``routing.model``; nothing here
comes from outside unchecked.
"""

from __future__ import annotations

from typing import Final

from ivr.flow import Flow, FlowNode, NodeKind
from routing.model import Line

IVR_USER_EVENT: Final = "CallctlIvr"
IVR_QUEUE_LOG_EVENT: Final = "CALLCTL_IVR"
"""queue_log: ``epoch|callid|NONE|NONE|CALLCTL_IVR|`` then
``step|line|flow|node|kind|key|outcome|elapsed``."""
MESSAGE_USER_EVENT: Final = "CallctlMessage"
MESSAGE_QUEUE_LOG_EVENT: Final = "CALLCTL_MESSAGE"
"""queue_log: ``epoch|callid|NONE|NONE|CALLCTL_MESSAGE|line|number|path``."""
NOTICE_FAMILY: Final = "callctl-notice"
"""astdb family of the emergency notices' switches: key = flag, value ``on``."""
MESSAGE_DIR: Final = "${ASTSPOOLDIR}/callctl-messages"
"""Where messages are recorded: the node's own spool directory (asterisk.conf)."""
CALLER_NUMBER: Final = "${FILTER(0-9+,${CALLERID(num)})}"
"""The caller's number as reported: digits and + only (it comes from outside)."""
STEP_CONTEXT: Final = "callctl-ivr-step"
KEY: Final = "CALLCTL_IVR_KEY"
VISITS: Final = "CALLCTL_IVR_VISITS"
LIMIT_EXTEN: Final = "limit"
LIMIT_KEY: Final = "limit"
"""The key of the step that reports a call sent away at ``max_steps``."""


def ivr_context(line_number: str) -> str:
    return f"callctl-ivr-{line_number}"


def node_exten(node_id: str) -> str:
    return f"n-{node_id}"


def render_step_context() -> str:
    """ARG1 node, ARG2 kind, ARG3 key, ARG4 outcome."""
    return (
        f"\n[{STEP_CONTEXT}]\n"
        "exten => s,1,Set(CALLCTL_IVR_STEP=$[0${CALLCTL_IVR_STEP} + 1])\n"
        " same => n,Set(CALLCTL_IVR_ELAPSED=$[${EPOCH} - ${CALLCTL_START}])\n"
        f" same => n,UserEvent({IVR_USER_EVENT},Line: ${{CALLCTL_LINE}},Flow: ${{CALLCTL_FLOW}},"
        "Node: ${ARG1},Kind: ${ARG2},Key: ${ARG3},Outcome: ${ARG4},"
        "Step: ${CALLCTL_IVR_STEP},Elapsed: ${CALLCTL_IVR_ELAPSED})\n"
        f" same => n,QueueLog(NONE,${{UNIQUEID}},NONE,{IVR_QUEUE_LOG_EVENT},"
        "${CALLCTL_IVR_STEP}|${CALLCTL_LINE}|${CALLCTL_FLOW}|${ARG1}|${ARG2}|${ARG3}|${ARG4}|"
        "${CALLCTL_IVR_ELAPSED})\n"
        " same => n,Return()\n"
    )


def _step(node: FlowNode, key: str = "", outcome: str = "") -> str:
    return f" same => n,Gosub({STEP_CONTEXT},s,1({node.id},{node.kind},{key},{outcome}))\n"


def _goto(node_id: str) -> str:
    return f" same => n,Goto({node_exten(node_id)},1)\n"


def _play(node: FlowNode) -> str:
    assert node.prompt is not None and node.next is not None
    # An interruptible prompt: a key ends it (and is dropped).
    play = (
        f" same => n,Read(CALLCTL_IVR_SKIP,{node.prompt},1,,1,0.1)\n"
        if node.interruptible
        else f" same => n,Playback({node.prompt})\n"
    )
    return _step(node, outcome="played") + play + _goto(node.next)


def _menu(node: FlowNode) -> str:
    assert node.prompt is not None and node.default is not None
    choose = "".join(
        f' same => n,ExecIf($["${{{KEY}}}" = "{digit}"]?Set(CALLCTL_IVR_NEXT={node_exten(t)}))\n'
        for digit, t in node.choices
    )
    return (
        " same => n,Set(CALLCTL_IVR_TIMEOUTS=0)\n"
        " same => n,Set(CALLCTL_IVR_INVALIDS=0)\n"
        f" same => n(ask),Read({KEY},{node.prompt},1,,1,{node.timeout_s})\n"
        " same => n,Set(CALLCTL_IVR_NEXT=)\n"
        f"{choose}"
        " same => n,Set(CALLCTL_IVR_OUTCOME=invalid)\n"
        f' same => n,ExecIf($["${{{KEY}}}" = ""]?Set(CALLCTL_IVR_OUTCOME=timeout))\n'
        ' same => n,ExecIf($["${CALLCTL_IVR_NEXT}" != ""]?Set(CALLCTL_IVR_OUTCOME=key))\n'
        + _step(node, f"${{{KEY}}}", "${CALLCTL_IVR_OUTCOME}")
        + ' same => n,GotoIf($["${CALLCTL_IVR_NEXT}" != ""]?${CALLCTL_IVR_NEXT},1)\n'
        ' same => n,GotoIf($["${CALLCTL_IVR_OUTCOME}" = "invalid"]?invalid)\n'
        " same => n,Set(CALLCTL_IVR_TIMEOUTS=$[${CALLCTL_IVR_TIMEOUTS} + 1])\n"
        f" same => n,GotoIf($[${{CALLCTL_IVR_TIMEOUTS}} < {node.timeouts}]?ask)\n"
        + _goto(node.default)
        + " same => n(invalid),Set(CALLCTL_IVR_INVALIDS=$[${CALLCTL_IVR_INVALIDS} + 1])\n"
        f" same => n,GotoIf($[${{CALLCTL_IVR_INVALIDS}} >= {node.invalids}]"
        f"?{node_exten(node.default)},1)\n"
        " same => n,Playback(invalid)\n"
        " same => n,Goto(ask)\n"
    )


def _language(node: FlowNode) -> str:
    assert node.language is not None and node.next is not None
    return (
        f" same => n,Set(CHANNEL(language)={node.language})\n"
        + _step(node, outcome=node.language)
        + _goto(node.next)
    )


def _notice(node: FlowNode) -> str:
    assert node.flag is not None and node.prompt is not None and node.next is not None
    return (
        f' same => n,GotoIf($["${{DB({NOTICE_FAMILY}/{node.flag})}}" = "on"]?on)\n'
        + _step(node, outcome="off")
        + _goto(node.next)
        + f" same => n(on),Gosub({STEP_CONTEXT},s,1({node.id},{node.kind},,on))\n"
        f" same => n,Playback({node.prompt})\n" + _goto(node.next)
    )


def _hours(node: FlowNode, line: Line) -> str:
    assert node.open is not None and node.closed is not None
    if not line.hours and not line.holidays:
        return _step(node, outcome="open") + _goto(node.open)
    return (
        f" same => n,Gosub(callctl-hours-{line.number},s,1)\n"
        f" same => n,Set(CALLCTL_IVR_HOURS=${{GOSUB_RETVAL}})\n"
        + _step(node, outcome="${CALLCTL_IVR_HOURS}")
        + f' same => n,GotoIf($["${{CALLCTL_IVR_HOURS}}" = "closed"]?{node_exten(node.closed)},1)\n'
        + _goto(node.open)
    )


def _queue(node: FlowNode) -> str:
    assert node.queue is not None
    return _step(node, outcome=node.queue) + f" same => n,Goto(callctl-queue-{node.queue},s,1)\n"


def _message(node: FlowNode) -> str:
    assert node.prompt is not None
    path = f"{MESSAGE_DIR}/${{UNIQUEID}}.wav"
    # Reported before Record: a caller ends a message by hanging up, and the
    # dialplan stops there; option k keeps the file.
    return (
        _step(node, outcome="recorded")
        + f" same => n,UserEvent({MESSAGE_USER_EVENT},Line: ${{CALLCTL_LINE}},"
        f"Number: {CALLER_NUMBER},Path: {path})\n"
        f" same => n,QueueLog(NONE,${{UNIQUEID}},NONE,{MESSAGE_QUEUE_LOG_EVENT},"
        f"${{CALLCTL_LINE}}|{CALLER_NUMBER}|{path})\n"
        f" same => n,Playback({node.prompt})\n"
        f" same => n,Record({path},5,{node.max_s},k)\n"
        " same => n,Hangup(16)\n"
    )


def _hangup(node: FlowNode) -> str:
    return _step(node, outcome="hangup") + " same => n,Hangup(16)\n"


def _node(node: FlowNode, line: Line, max_steps: int) -> str:
    # ``limit`` is a Gosub so that it learns the node; it drops its frame and never returns.
    over = f"$[${{{VISITS}}} > {max_steps}]"
    head = (
        f"exten => {node_exten(node.id)},1,Set({VISITS}=$[0${{{VISITS}}} + 1])\n"
        f" same => n,GosubIf({over}?{LIMIT_EXTEN},1({node.id},{node.kind}))\n"
        f" same => n(in),NoOp(callctl ivr {node.id})\n"
    )
    match node.kind:
        case NodeKind.PLAY:
            body = _play(node)
        case NodeKind.MENU:
            body = _menu(node)
        case NodeKind.LANGUAGE:
            body = _language(node)
        case NodeKind.NOTICE:
            body = _notice(node)
        case NodeKind.HOURS:
            body = _hours(node, line)
        case NodeKind.QUEUE:
            body = _queue(node)
        case NodeKind.MESSAGE:
            body = _message(node)
        case NodeKind.HANGUP:
            body = _hangup(node)
    return head + body


def _limit(flow: Flow) -> str:
    """ARG1 the node the call was entering, ARG2 its kind."""
    outcome = flow.on_limit or "hangup"
    notice = f" same => n,Playback({flow.limit_prompt})\n" if flow.limit_prompt else ""
    leave = (
        f" same => n,Goto({node_exten(flow.on_limit)},in)\n"
        if flow.on_limit
        else " same => n,Hangup(16)\n"
    )
    return (
        f"exten => {LIMIT_EXTEN},1,NoOp(callctl ivr over {flow.max_steps} steps)\n"
        f" same => n,Gosub({STEP_CONTEXT},s,1(${{ARG1}},${{ARG2}},{LIMIT_KEY},{outcome}))\n"
        " same => n,StackPop()\n"
        f"{notice}{leave}"
    )


def render_flow(flow: Flow, line: Line) -> str:
    """The IVR context of ``line``, which runs ``flow``."""
    nodes = "".join(_node(node, line, flow.max_steps) for node in flow.nodes)
    return (
        f"\n[{ivr_context(line.number)}]\n"
        f"exten => s,1,Set(__CALLCTL_FLOW={flow.name})\n"
        " same => n,Set(CALLCTL_START=${EPOCH})\n"
        " same => n,Answer()\n"
        f" same => n,Goto({node_exten(flow.start)},1)\n"
        f"{nodes}"
        f"{_limit(flow)}"
    )
