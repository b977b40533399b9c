"""Wire (and storage) shapes of the routing config. Types and sizes only: the domain
model in ``routing.model`` decides what is valid and names the refused field."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkillDoc(_Doc):
    name: str = Field(max_length=40)
    label: str = Field(max_length=40, description="用户可见名称 · label shown to users")


class OverflowDoc(_Doc):
    after_s: int
    skill: str = Field(max_length=40)


class QueueDoc(_Doc):
    name: str = Field(max_length=40)
    strategy: str = Field(default="rrmemory", max_length=20)
    ring_timeout_s: int = 15
    retry_s: int = 1
    service_level_s: int = 15
    max_wait_s: int = 300
    skill: str | None = Field(default=None, max_length=40)
    overflow: OverflowDoc | None = None
    timeout_queue: str | None = Field(default=None, max_length=40)


class HoursDoc(_Doc):
    days: list[str] = Field(max_length=7)
    start: str = Field(max_length=5)
    end: str = Field(max_length=5)


class SurveyDoc(_Doc):
    """满意度测评 · the post-call survey (see ``routing.model.Survey``)."""

    keys: list[int] = Field(default_factory=lambda: [1, 2, 3], max_length=10)
    satisfied_keys: list[int] = Field(
        default_factory=lambda: [1, 2], max_length=10, description="keys counted as satisfied"
    )
    prompt: str = Field(default="beep", max_length=128)
    invalid_sound: str = Field(default="invalid", max_length=128)
    thanks_sound: str = Field(default="auth-thankyou", max_length=128)
    timeout_s: int = 6
    attempts: int = 3


class FlowNodeDoc(_Doc):
    """One IVR node (``ivr.flow.FlowNode``; which fields matter depends on ``kind``)."""

    id: str = Field(max_length=40)
    kind: str = Field(
        max_length=20, description="play, menu, language, notice, hours, queue, message, hangup"
    )
    prompt: str | None = Field(default=None, max_length=128)
    next: str | None = Field(default=None, max_length=40)
    interruptible: bool = False
    choices: dict[str, str] = Field(
        default_factory=dict, max_length=12, description="menu: digit → node"
    )
    timeout_s: int = 5
    timeouts: int = 3
    invalids: int = 3
    default: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=8)
    flag: str | None = Field(default=None, max_length=40)
    open: str | None = Field(default=None, max_length=40)
    closed: str | None = Field(default=None, max_length=40)
    queue: str | None = Field(default=None, max_length=40)
    max_s: int = 120


class FlowDoc(_Doc):
    """语音导航流程 · an IVR flow."""

    name: str = Field(max_length=40)
    start: str = Field(max_length=40)
    nodes: list[FlowNodeDoc] = Field(max_length=200)
    max_steps: int = Field(
        default=20, description="nodes a call may enter (1-200) before it is sent to on_limit"
    )
    on_limit: str | None = Field(
        default=None, max_length=40, description="a queue or hangup node; null: hang up"
    )
    limit_prompt: str | None = Field(
        default=None, max_length=128, description="played before the call leaves at the limit"
    )


class LineDoc(_Doc):
    number: str = Field(max_length=20)
    name: str = Field(max_length=40)
    queue: str = Field(max_length=40)
    acw: bool = True
    acw_max_s: int = 300
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    hours: list[HoursDoc] = Field(default_factory=list, max_length=21)
    holidays: list[dt.date] = Field(default_factory=list, max_length=366)
    after_hours_sound: str = Field(default="ss-noservice", max_length=128)
    survey: SurveyDoc | None = Field(default=None, description="off when null")
    flow: str | None = Field(default=None, max_length=40, description="IVR flow, else the queue")
    survey_required: bool = Field(
        default=False,
        description="须开满意度测评 · the line's assessment scores satisfaction (满意率): "
        "a survey of null is refused (422 naming line.survey)",
    )


class AgentSkillDoc(_Doc):
    skill: str = Field(max_length=40)
    level: int = 5


class MembershipDoc(_Doc):
    queue: str = Field(max_length=40)
    penalty: int = 0


class AgentPublic(_Doc):
    agent_id: str = Field(max_length=10)
    name: str = Field(max_length=40)
    skills: list[AgentSkillDoc] = Field(default_factory=list, max_length=50)
    memberships: list[MembershipDoc] = Field(
        default_factory=list,
        max_length=50,
        description="explicit memberships; they win over those derived from skills",
    )
    static_contact_ip: str | None = Field(default=None, max_length=15)
    static_contact_port: int = 5060
    static_member: bool = False
    home_node: str | None = Field(
        default=None,
        max_length=32,
        description="归属节点 · home node: the id of the node (CALLCTL_NODES_FILE) its softphone "
        "registers with, where its login and pause commands go; may be left out with one node",
    )


class AgentDoc(AgentPublic):
    password: str = Field(max_length=128, description="softphone digest password")


class AgentIn(AgentPublic):
    password: str | None = Field(
        default=None, max_length=128, description="required for a new agent; omit to keep"
    )


class OutboundTrunkPublic(_Doc):
    name: str = Field(max_length=40, description="PJSIP endpoint name")
    host: str = Field(max_length=253, description="the provider's SIP server (IPv4 or host name)")
    port: int = 5060
    caller_id: str = Field(max_length=20, description="号码 · presented number")
    caller_name: str | None = Field(default=None, max_length=40)
    username: str | None = Field(default=None, max_length=64)
    registration: bool = Field(default=False, description="outbound registration (needs auth)")
    expiration_s: int = 3600
    max_channels: int = Field(default=30, description="concurrent calls the trunk allows")


class OutboundTrunkDoc(OutboundTrunkPublic):
    secret: str | None = Field(default=None, max_length=128, description="digest password")


class OutboundTrunkView(OutboundTrunkPublic):
    has_secret: bool


class PauseReasonDoc(_Doc):
    name: str = Field(max_length=40)
    label_zh: str = Field(max_length=40)
    label_en: str = Field(max_length=40)
    code: int


class RoutingDoc(_Doc):
    """The whole routing config: what one stored version holds."""

    skills: list[SkillDoc] = Field(default_factory=list)
    queues: list[QueueDoc] = Field(default_factory=list)
    lines: list[LineDoc] = Field(default_factory=list)
    agents: list[AgentDoc] = Field(default_factory=list)
    pause_reasons: list[PauseReasonDoc] = Field(default_factory=list)
    flows: list[FlowDoc] = Field(default_factory=list, max_length=100)
    prompts: list[str] = Field(
        default_factory=list, max_length=1000, description="uploaded prompts' names"
    )
    outbound_trunk: OutboundTrunkDoc | None = Field(
        default=None, description="外呼中继 · the outbound trunk; null: no outbound calls"
    )


class RoutingView(_Doc):
    """The routing config as shown: agents' passwords left out."""

    version: int | None
    skills: list[SkillDoc]
    queues: list[QueueDoc]
    lines: list[LineDoc]
    agents: list[AgentPublic]
    pause_reasons: list[PauseReasonDoc]
    flows: list[FlowDoc] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    outbound_trunk: OutboundTrunkView | None = None


class VersionView(_Doc):
    id: int
    created_at: dt.datetime
    created_by: int | None
    change: str
    status: str
    applied_at: dt.datetime | None
    error_id: str | None
    error_message: str | None
