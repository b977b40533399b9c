"""Render a validated ``PbxModel`` into Asterisk config files (pure, deterministic).

Static files come from ``asterisk-config/static``; templated ones from
``asterisk-config/templates`` with ``@@name@@`` placeholders (Asterisk's own
``${...}`` syntax stays untouched). The same model always gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from routing.model import Agent, Line, PbxModel, Queue, Trunk

TRUNK_CONTEXT: Final = "from-trunk"
"""The dialplan context trunk calls enter (extensions.conf.in); the AMI normalizer
reads a call's dialed number (DNIS) from a channel in this context."""

_PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")


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
        "auth_type = userpass\n"
        f"username = {aid}\n"
        f"password = {agent.password}\n"
        f"\n[{aid}]\n"
        "type = aor\n"
        "max_contacts = 1\n"
        "remove_existing = yes\n"
        f"{contact}"
    )


def render_queue(queue: Queue, agents: tuple[Agent, ...]) -> str:
    members = "".join(
        f"member => {a.interface},{m.penalty},{a.agent_id},{a.interface}\n"
        for a in agents
        for m in a.memberships
        if m.queue == queue.name
    )
    return (
        f"\n[{queue.name}]\n"
        f"strategy = {queue.strategy}\n"
        f"timeout = {queue.ring_timeout_s}\n"
        f"retry = {queue.retry_s}\n"
        "wrapuptime = 0\n"
        "ringinuse = no\n"
        f"servicelevel = {queue.service_level_s}\n"
        "joinempty = yes\n"
        "leavewhenempty = no\n"
        "announce-frequency = 0\n"
        "announce-position = no\n"
        "reportholdtime = no\n"
        "timeoutpriority = conf\n"
        f"{members}"
    )


def render_line(line: Line, queue: Queue) -> str:
    return (
        f"exten => {line.number},1,NoOp(callctl line {line.number})\n"
        f" same => n,Set(__CALLCTL_LINE={line.number})\n"
        f" same => n,Set(__CALLCTL_QUEUE={queue.name})\n"
        f" same => n,Set(__CALLCTL_ACW={'yes' if line.acw else 'no'})\n"
        f" same => n,Set(CALLCTL_MAX_WAIT={queue.max_wait_s})\n"
        " same => n,Goto(callctl-queue,s,1)\n"
    )


def template_values(model: PbxModel, etc_dir: str) -> dict[str, str]:
    queues = {q.name: q for q in model.queues}
    return {
        "etc_dir": etc_dir,
        "ami_bind": model.network.ami_bind,
        "ami_port": str(model.network.ami_port),
        "ami_username": model.ami.username,
        "ami_secret": model.ami.secret,
        "ami_permit": model.ami.permit_ip,
        "sip_bind": model.network.sip_bind,
        "sip_port": str(model.network.sip_port),
        "trunks": "".join(render_trunk(t) for t in model.trunks),
        "agents": "".join(render_agent(a) for a in model.agents),
        "queues": "".join(render_queue(q, model.agents) for q in model.queues),
        "lines": "".join(render_line(ln, queues[ln.queue]) for ln in model.lines),
    }


def render(model: PbxModel, config_dir: Path, etc_dir: str = "/etc/asterisk") -> dict[str, str]:
    """All config files, name → text, for an Asterisk whose config lives in ``etc_dir``."""
    files: dict[str, str] = {}
    for path in sorted((config_dir / "static").iterdir()):
        if path.is_file():
            files[path.name] = path.read_text(encoding="utf-8")
    values = template_values(model, etc_dir)
    for path in sorted((config_dir / "templates").glob("*.in")):
        files[path.name.removesuffix(".in")] = fill(path.read_text(encoding="utf-8"), values)
    return files
