"""A sample multi-line hotline as data: 12345 general, 12333 人社, 12320 卫健.

12333's expert queue overflows to general agents after 30 s of waiting; 12320's
callers who wait out its maximum go on to the general 12345 queue.
"""

from __future__ import annotations

import datetime as dt

from ivr.flow import Flow, FlowNode, NodeKind
from routing.model import (
    DEFAULT_PAUSE_REASONS,
    Agent,
    AmiUser,
    Line,
    Network,
    OpenHours,
    OutboundTrunk,
    Overflow,
    PbxModel,
    Queue,
    Skill,
    Trunk,
)
from routing.skills import AgentSkill, memberships_for

ALL_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")

SKILLS = (
    Skill("general", "综合"),
    Skill("hrss", "人社"),
    Skill("health", "卫健"),
)
QUEUES = (
    Queue(name="general-12345", skill="general", max_wait_s=300),
    Queue(
        name="hrss-expert",
        skill="hrss",
        max_wait_s=300,
        overflow=Overflow(after_s=30, skill="general"),
    ),
    Queue(
        name="health-12320",
        skill="health",
        max_wait_s=120,
        overflow=Overflow(after_s=60, skill="general"),
        timeout_queue="general-12345",
    ),
)
NATIONAL_DAY_2026 = tuple(dt.date(2026, 10, day) for day in range(1, 8))
LINES = (
    Line(number="12345", name="12345 政务服务便民热线", queue="general-12345", acw_max_s=300),
    Line(
        number="12333",
        name="12333 人社服务热线",
        queue="hrss-expert",
        acw_max_s=180,
        hours=(
            OpenHours(days=WORKDAYS, start="08:30", end="17:30"),
            OpenHours(days=("sat",), start="09:00", end="12:00"),
        ),
        holidays=NATIONAL_DAY_2026,
    ),
    Line(
        number="12320",
        name="12320 卫生健康热线",
        queue="health-12320",
        acw_max_s=240,
        hours=(OpenHours(days=ALL_WEEK, start="08:00", end="20:00"),),
        flow="health",
    ),
)
# 12320's voice menu: the emergency notice when ops switch it on, business hours, a
# menu (1 health, 2 the general queue, 9 again), a message after hours. Stock sounds
# stand in for the zh-CN prompts a hotline uploads.
HEALTH_FLOW = Flow(
    name="health",
    start="notice",
    nodes=(
        FlowNode(
            "notice", NodeKind.NOTICE, flag="epidemic", prompt="one-moment-please", next="hours"
        ),
        FlowNode("hours", NodeKind.HOURS, open="menu", closed="message"),
        FlowNode(
            "menu",
            NodeKind.MENU,
            prompt="vm-press",
            choices=(("1", "health"), ("2", "general"), ("9", "menu-again")),
            default="health",
            timeouts=2,
        ),
        FlowNode("menu-again", NodeKind.PLAY, prompt="please-try-again", next="menu"),
        FlowNode("health", NodeKind.QUEUE, queue="health-12320"),
        FlowNode("general", NodeKind.QUEUE, queue="general-12345"),
        FlowNode("message", NodeKind.MESSAGE, prompt="vm-intro", max_s=120),
    ),
)
# The carrier's trunk for outbound calls (transfers to departments, three-way calls,
# callbacks): registered, digest auth, presenting the hotline's own number. Loopback
# here, so a lab that loads the sample never reaches out.
CARRIER = OutboundTrunk(
    name="carrier",
    host="127.0.0.20",
    port=5060,
    caller_id="089812345",
    caller_name="12345热线",
    username="hotline12345",
    secret="sample-carrier-secret",
    registration=True,
    expiration_s=3600,
    max_channels=30,
)
# (agent id, name, skills)
AGENT_SKILLS: tuple[tuple[str, str, tuple[AgentSkill, ...]], ...] = (
    ("2001", "王芳", (AgentSkill("hrss", 10), AgentSkill("general", 6))),
    ("2002", "李娜", (AgentSkill("hrss", 8), AgentSkill("general", 6))),
    ("2101", "张伟", (AgentSkill("general", 7),)),
    ("2102", "刘洋", (AgentSkill("general", 5),)),
    ("2103", "陈静", (AgentSkill("general", 5), AgentSkill("health", 3))),
    ("2201", "赵敏", (AgentSkill("health", 9), AgentSkill("general", 4))),
)


def sample_model(
    ami_secret: str,
    *,
    trunk_ip: str = "127.0.0.2",
    network: Network | None = None,
    password_for: dict[str, str] | None = None,
) -> PbxModel:
    passwords = password_for or {}
    return PbxModel(
        ami=AmiUser(username="callctl", secret=ami_secret),
        network=network or Network(),
        trunks=(Trunk(name="trunk", match_ip=trunk_ip),),
        skills=SKILLS,
        queues=QUEUES,
        lines=LINES,
        agents=tuple(
            Agent(
                agent_id=aid,
                name=name,
                password=passwords.get(aid, f"sample-{aid}-password"),
                memberships=memberships_for(skills, QUEUES),
            )
            for aid, name, skills in AGENT_SKILLS
        ),
        pause_reasons=DEFAULT_PAUSE_REASONS,
        flows=(HEALTH_FLOW,),
        outbound=CARRIER,
    )
