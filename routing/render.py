"""Render a validated ``PbxModel`` into Asterisk config files (pure, deterministic).

Static files come from ``callctl/asterisk-config/static``; templated ones from
``callctl/asterisk-config/templates`` with ``@@name@@`` placeholders (Asterisk's own
``${...}`` syntax stays untouched). The same model always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from ivr.compile import ivr_context, render_flow, render_step_context
from ivr.survey import render_survey
from routing.model import (
    NO_PENALTY_LIMIT,
    OVERFLOW_BAND_MAX,
    OWN_BAND_MAX,
    Agent,
    Line,
    Network,
    OutboundTrunk,
    PauseReason,
    PbxModel,
    Queue,
    Trunk,
)
from routing.node import NodeLayout

TRUNK_CONTEXT: Final = "from-trunk"
"""The dialplan context trunk calls enter (extensions.conf.in); the AMI normalizer
reads a call's dialed number (DNIS) from a channel in this context."""

_PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")
# Agents' feature codes (dialed from the softphone; see extensions.conf.in).
FEATURE_LOGIN = "*21"
FEATURE_LOGOUT = "*22"
FEATURE_PAUSE = "*23"  # followed by the pause reason's code, 1-9
FEATURE_UNPAUSE = "*24"
FEATURE_END_ACW = "*25"
# The digest realm agents' softphones authenticate in; part of every stored HA1, so
# changing it invalidates them all.
SIP_REALM = "callctl"


class TemplateError(Exception):
    error_id = "config.template"


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``@@name@@``; a missing name is an error, never left in place."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise TemplateError(f"template placeholder @@{key}@@ has no value")
        return values[key]

    return _PLACEHOLDER.sub(sub, template)


def render_trunk(trunk: Trunk) -> str:
    return (
        f"\n[{trunk.name}](endpoint-base)\n"
        f"context = {TRUNK_CONTEXT}\n"
        "allow_unauthenticated_options = yes\n"
        f"\n[{trunk.name}-identify]\n"
        "type = identify\n"
        f"endpoint = {trunk.name}\n"
        f"match = {trunk.match_ip}\n"
    )


def render_outbound_trunk(trunk: OutboundTrunk | None) -> str:
    """The outbound trunk's endpoint, AOR (the provider's server), digest auth and
    outbound registration, each only when configured (values validated by the model).
    The presented number goes out as the From user; the dialplan also sets it (and the
    name) as the outgoing channel's caller id (callctl-outbound-cid). No endpoint
    ``callerid``: it would replace the number of every citizen calling in by it."""
    if trunk is None:
        return ""
    name = trunk.name
    uri = f"sip:{trunk.host}:{trunk.port}"
    auth = f"outbound_auth = {name}-auth\n" if trunk.username is not None else ""
    out = [
        f"\n; outbound trunk (外呼中继), presented number {trunk.caller_id}\n",
        f"[{name}](endpoint-base)\n",
        f"context = {TRUNK_CONTEXT}\n",
        f"aors = {name}\n",
        auth,
        f"from_user = {trunk.caller_id}\n",
        "send_pai = yes\n",
        f"\n[{name}]\n",
        "type = aor\n",
        f"contact = {uri}\n",
    ]
    if trunk.username is not None and trunk.secret is not None:
        out += [
            f"\n[{name}-auth]\n",
            "type = auth\n",
            "auth_type = userpass\n",
            f"username = {trunk.username}\n",
            f"password = {trunk.secret}\n",
        ]
    if trunk.registration:
        out += [
            f"\n[{name}-reg]\n",
            "type = registration\n",
            "transport = transport-udp\n",
            f"outbound_auth = {name}-auth\n",
            f"server_uri = {uri}\n",
            f"client_uri = sip:{trunk.username}@{trunk.host}:{trunk.port}\n",
            f"contact_user = {trunk.caller_id}\n",
            f"expiration = {trunk.expiration_s}\n",
            "retry_interval = 60\n",
            "forbidden_retry_interval = 300\n",
            "max_retries = 100000\n",
            "line = yes\n",
            f"endpoint = {name}\n",
        ]
    if trunk.identifies_by_ip:
        out += [
            f"\n[{name}-identify]\n",
            "type = identify\n",
            f"endpoint = {name}\n",
            f"match = {trunk.host}\n",
        ]
    return "".join(out)


def render_outbound_globals(trunk: OutboundTrunk | None) -> str:
    if trunk is None:
        return "CALLCTL_OUTBOUND =\nCALLCTL_OUTBOUND_CID =\nCALLCTL_OUTBOUND_NAME =\n"
    name = "" if trunk.caller_name is None else f" {trunk.caller_name}"
    return (
        f"CALLCTL_OUTBOUND = {trunk.name}\n"
        f"CALLCTL_OUTBOUND_CID = {trunk.caller_id}\n"
        f"CALLCTL_OUTBOUND_NAME ={name}\n"
    )


def digest_ha1(username: str, password: str, realm: str = SIP_REALM) -> str:
    """RFC 2617's HA1, MD5(username:realm:password): what Asterisk needs to check a
    softphone's digest, so the rendered config never holds the password itself."""
    # MD5 is what SIP digest auth (and every softphone) speaks; not our choice.
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def render_agent(agent: Agent) -> str:
    aid = agent.agent_id
    contact = ""
    if agent.static_contact_ip is not None:
        contact = f"contact = sip:{aid}@{agent.static_contact_ip}:{agent.static_contact_port}\n"
    return (
        f"\n[{aid}](endpoint-base)\n"
        "context = agents\n"
        f"auth = {aid}-auth\n"
        f"aors = {aid}\n"
        f'callerid = "{agent.name}" <{aid}>\n'
        f"\n[{aid}-auth]\n"
        "type = auth\n"
        "auth_type = digest\n"
        f"username = {aid}\n"
        f"realm = {SIP_REALM}\n"
        f"password_digest = MD5:{digest_ha1(aid, agent.password)}\n"
        f"\n[{aid}]\n"
        "type = aor\n"
        "max_contacts = 1\n"
        "remove_existing = yes\n"
        f"{contact}"
    )


def render_queue(queue: Queue, agents: tuple[Agent, ...]) -> str:
    # Static members (the lab) are config lines; dynamic ones log in and Asterisk keeps
    # them in its astdb across restarts (persistentmembers = yes).
    members = "".join(
        f"member => {a.interface},{m.penalty},{a.agent_id},{a.interface}\n"
        for a in agents
        if a.static_member
        for m in a.memberships
        if m.queue == queue.name
    )
    rule = f"defaultrule = {overflow_rule_name(queue)}\n" if queue.overflow else ""
    return (
        f"\n[{queue.name}]\n"
        f"strategy = {queue.strategy}\n"
        f"timeout = {queue.ring_timeout_s}\n"
        f"retry = {queue.retry_s}\n"
        "wrapuptime = 0\n"
        "ringinuse = no\n"
        "autofill = yes\n"
        f"servicelevel = {queue.service_level_s}\n"
        "joinempty = yes\n"
        "leavewhenempty = no\n"
        "announce-frequency = 0\n"
        "announce-position = no\n"
        "reportholdtime = no\n"
        "timeoutpriority = conf\n"
        # MEMBERNAME on the caller's channel: the agent its survey answer is tied to.
        "setinterfacevar = yes\n"
        f"{rule}"
        f"{members}"
    )


def overflow_rule_name(queue: Queue) -> str:
    return f"callctl-overflow-{queue.name}"


def render_queue_rule(queue: Queue) -> str:
    """Widen the caller's maximum penalty from the own-skill band to the overflow band."""
    if queue.overflow is None:
        return ""
    return (
        f"\n[{overflow_rule_name(queue)}]\n"
        f"penaltychange => {queue.overflow.after_s},{OVERFLOW_BAND_MAX}\n"
    )


def render_queue_context(queue: Queue) -> str:
    max_penalty = OWN_BAND_MAX if queue.overflow else NO_PENALTY_LIMIT
    rule = f",{overflow_rule_name(queue)}" if queue.overflow else ""
    on_timeout = ""
    if queue.timeout_queue is not None:
        on_timeout = (
            f' same => n,GotoIf($["${{QUEUESTATUS}}" = "TIMEOUT"]'
            f"?callctl-queue-{queue.timeout_queue},s,1)\n"
        )
    return (
        f"\n[callctl-queue-{queue.name}]\n"
        f"exten => s,1,Set(__CALLCTL_QUEUE={queue.name})\n"
        # The entry's seq (its stays in this queue so far), as callctl keys entries.
        f" same => n,Set(CALLCTL_SEQ_{queue.name}=$[0${{CALLCTL_SEQ_{queue.name}}} + 1])\n"
        f" same => n,Set(CALLCTL_SEQ=${{CALLCTL_SEQ_{queue.name}}})\n"
        f" same => n,Set(QUEUE_MAX_PENALTY={max_penalty})\n"
        # The 3rd argument (URL) carries the line into queue_log's ENTERQUEUE. Option
        # c: the caller goes on (to the survey) when the agent hangs up first; option t:
        # the agent may transfer the caller (features.conf blindxfer/atxfer).
        f" same => n,Queue({queue.name},rct,${{CALLCTL_LINE}},,{queue.max_wait_s},,"
        f"callctl-agent-connected{rule})\n"
        " same => n,UserEvent(CallctlQueueExit,Line: ${CALLCTL_LINE},"
        f"Queue: {queue.name},Status: ${{QUEUESTATUS}})\n"
        ' same => n,GotoIf($["${QUEUESTATUS}" = "CONTINUE"]?callctl-after-call,s,1)\n'
        f"{on_timeout}"
        " same => n,Hangup(19)\n"
    )


def render_line(line: Line) -> str:
    hours = closed = ""
    survey = f" same => n,Set(CALLCTL_SURVEY={line.number})\n" if line.survey else ""
    target = f"callctl-queue-{line.queue}"
    if line.flow is not None:
        target = ivr_context(line.number)  # the flow judges hours itself
    elif line.hours or line.holidays:
        hours = (
            f" same => n,Gosub(callctl-hours-{line.number},s,1)\n"
            ' same => n,GotoIf($["${GOSUB_RETVAL}" = "closed"]?closed)\n'
        )
        closed = (
            f" same => n(closed),UserEvent(CallctlAfterHours,Line: {line.number})\n"
            " same => n,Answer()\n"
            f" same => n,Playback({line.after_hours_sound})\n"
            " same => n,Hangup(16)\n"
        )
    return (
        f"exten => {line.number},1,NoOp(callctl line {line.number})\n"
        f" same => n,Set(__CALLCTL_LINE={line.number})\n"
        f" same => n,Set(__CALLCTL_ACW={'yes' if line.acw else 'no'})\n"
        f"{survey}"
        f"{hours}"
        # The caller's uniqueid (queue_log's callid) for the agent leg, which records
        # the answered entry (callctl-agent-connected).
        " same => n,Set(__CALLCTL_CALLID=${UNIQUEID})\n"
        f" same => n,Goto({target},s,1)\n"
        f"{closed}"
    )


def render_line_hours(line: Line) -> str:
    """Returns ``open`` or ``closed``, judged in the line's own time zone."""
    if not line.hours and not line.holidays:
        return ""
    tz = line.timezone
    out = [
        f"\n[callctl-hours-{line.number}]\n",
        f"exten => s,1,Set(CALLCTL_TODAY=${{STRFTIME(${{EPOCH}},{tz},%Y-%m-%d)}})\n",
    ]
    out.extend(
        f' same => n,GotoIf($["${{CALLCTL_TODAY}}" = "{day.isoformat()}"]?closed)\n'
        for day in sorted(line.holidays)
    )
    if not line.hours:
        out.append(" same => n,Return(open)\n")
    out.extend(
        f" same => n,GotoIfTime({h.start}-{h.end},{'&'.join(h.days)},*,*,{tz}?open)\n"
        for h in line.hours
    )
    out.append(" same => n(closed),Return(closed)\n")
    if line.hours:
        out.append(" same => n(open),Return(open)\n")
    return "".join(out)


def render_ivr(model: PbxModel) -> str:
    """Each line's flow; the step reporter once, if any line has a flow."""
    flows = "".join(
        render_flow(model.flow(ln.flow), ln) for ln in model.lines if ln.flow is not None
    )
    return render_step_context() + flows if flows else ""


def render_agent_context(agent: Agent) -> str:
    """Log in/out across the agent's queues; Gosub'd from the agent's feature codes."""
    iface = agent.interface
    login = "".join(
        f" same => n,AddQueueMember({m.queue},{iface},{m.penalty},,{agent.agent_id},{iface})\n"
        for m in agent.memberships
    )
    logout = "".join(
        f" same => n,RemoveQueueMember({m.queue},{iface})\n" for m in agent.memberships
    )
    return (
        f"\n[callctl-agent-{agent.agent_id}]\n"
        f"exten => login,1,NoOp(callctl login {agent.agent_id})\n"
        f"{login}"
        " same => n,Return()\n"
        f"exten => logout,1,NoOp(callctl logout {agent.agent_id})\n"
        f"{logout}"
        f" same => n,NoOp(${{DB_DELETE(callctl-acw/{agent.agent_id})}})\n"
        " same => n,Return()\n"
    )


def render_transfer_agent(agent: Agent) -> str:
    """A seat reached by a transfer or another seat: ring it (30 s)."""
    return f"exten => {agent.agent_id},1,Dial({agent.interface},30)\n same => n,Hangup()\n"


def render_feature_codes(reasons: tuple[PauseReason, ...]) -> str:
    return "".join(
        f"exten => {FEATURE_PAUSE}{r.code},1,Gosub(callctl-pause,s,1({r.name}))\n"
        " same => n,Goto(callctl-feature-done,s,1)\n"
        for r in sorted(reasons, key=lambda r: r.code)
    )


def render_ami_tls(network: Network) -> str:
    """manager.conf's TLS listener, on the plain listener's address (values validated
    by ``AmiTlsListener``); nothing when the node has none."""
    tls = network.ami_tls
    if tls is None:
        return ""
    return (
        "tlsenable = yes\n"
        f"tlsbindaddr = {network.ami_bind}:{tls.port}\n"
        f"tlscertfile = {tls.cert_file}\n"
        f"tlsprivatekey = {tls.key_file}\n"
    )


def template_values(model: PbxModel, layout: NodeLayout) -> dict[str, str]:
    system_name = "" if layout.system_name is None else f"systemname = {layout.system_name}\n"
    return {
        "etc_dir": layout.etc_dir,
        "var_lib_dir": layout.var_lib_dir,
        "spool_dir": layout.spool_dir,
        "run_dir": layout.run_dir,
        "log_dir": layout.log_dir,
        "rtp_start": str(layout.rtp_start),
        "rtp_end": str(layout.rtp_end),
        "system_name_option": system_name,
        "ami_bind": model.network.ami_bind,
        "ami_port": str(model.network.ami_port),
        "ami_username": model.ami.username,
        "ami_secret": model.ami.secret,
        "ami_permit": model.ami.permit_ip,
        "ami_tls_options": render_ami_tls(model.network),
        "sip_bind": model.network.sip_bind,
        "sip_port": str(model.network.sip_port),
        "trunks": "".join(render_trunk(t) for t in model.trunks),
        "outbound_trunk": render_outbound_trunk(model.outbound),
        "outbound_globals": render_outbound_globals(model.outbound),
        "agents": "".join(render_agent(a) for a in model.agents),
        "queues": "".join(render_queue(q, model.agents) for q in model.queues),
        "queue_rules": "".join(render_queue_rule(q) for q in model.queues),
        "lines": "".join(render_line(ln) for ln in model.lines),
        "line_hours": "".join(render_line_hours(ln) for ln in model.lines),
        "queue_contexts": "".join(render_queue_context(q) for q in model.queues),
        "agent_contexts": "".join(render_agent_context(a) for a in model.agents),
        "surveys": "".join(render_survey(ln) for ln in model.lines),
        "ivr": render_ivr(model),
        "pause_codes": render_feature_codes(model.pause_reasons),
        "transfer_agents": "".join(render_transfer_agent(a) for a in model.agents),
    }


def render(
    model: PbxModel,
    config_dir: Path,
    etc_dir: str = "/etc/asterisk",
    layout: NodeLayout | None = None,
) -> dict[str, str]:
    """All config files, name → text, for an Asterisk whose config lives in ``etc_dir``
    (or, for one of several nodes, wherever ``layout`` puts its directories)."""
    layout = layout or NodeLayout(etc_dir=etc_dir)
    files: dict[str, str] = {}
    for path in sorted((config_dir / "static").iterdir()):
        if path.is_file():
            files[path.name] = path.read_text(encoding="utf-8")
    values = template_values(model, layout)
    for path in sorted((config_dir / "templates").glob("*.in")):
        files[path.name.removesuffix(".in")] = fill(path.read_text(encoding="utf-8"), values)
    return files
