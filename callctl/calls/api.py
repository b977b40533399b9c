"""REST for call control: ``POST /api/v1/calls/{node}/{callid}/monitor`` (listen,
whisper, barge; supervisors and admins), ``/transfer`` and ``/conference`` (three-way
call; also the call's own agent); ``GET /api/v1/monitors`` (sessions in progress) and
``GET /api/v1/conferences/{id}`` (a three-way call's audit and members)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import DbPool, Reader, db_pool, require
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN, MAX_ROW_ID
from callctl.api.openapi import error_responses
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.calls import repository
from callctl.calls.conference import ROLE_LABELS, ConferenceKind, Member, MemberRole
from callctl.calls.conference_watch import ConferenceWatches
from callctl.calls.monitor import MODE_LABELS, MonitorMode
from callctl.calls.service import CallControlService
from callctl.calls.transfer import TransferKind, TransferTarget
from callctl.calls.watch import MonitorWatches
from callctl.db_types import Pool
from callctl.routing_config.api import routing_service

router = APIRouter(
    prefix="/api/v1", tags=["call control"], responses=error_responses(409, 502, 503)
)
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)

Supervisor = Annotated[Principal, Depends(require(*SUPERVISORS))]
# The agent on the call may transfer it too (checked against the facts).
Transferrer = Annotated[Principal, Depends(require(Role.AGENT, *SUPERVISORS))]
NodeId = Annotated[str, Path(pattern=ID_PATTERN)]
CallId = Annotated[str, Path(pattern=ID_PATTERN)]


class MonitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    mode: MonitorMode = Field(description="listen (监听), whisper (耳语) or barge (强插)")
    endpoint: str | None = Field(
        default=None,
        pattern=r"^[0-9]{2,10}$",
        description="the supervisor's softphone (a seat id); default: the user's own seat",
    )


class MonitorOut(BaseModel):
    session_id: int
    agent: str
    agent_channel: str
    spy_channel_id: str
    mode: MonitorMode
    mode_label: dict[str, str]
    endpoint: str


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    kind: TransferKind = Field(description="queue, agent or external (a department's number)")
    target: str = Field(min_length=1, max_length=64)
    attended: bool = Field(
        default=False,
        description="attended (咨询转接): the agent talks to the target first and completes "
        "the transfer by hanging up; to a seat or a number only",
    )


class TransferOut(BaseModel):
    transfer_id: int
    agent_channel: str
    context: str
    exten: str


class ConferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    kind: ConferenceKind = Field(
        description="agent (a seat) or external (a number within the allowed outbound patterns)"
    )
    target: str = Field(min_length=1, max_length=64)


class ConferenceOut(BaseModel):
    conference_id: int
    conference: str
    agent: str
    agent_channel: str
    caller_channel: str
    party_channel: str
    party_channel_id: str


class ConferenceMemberOut(BaseModel):
    uniqueid: str
    channel: str
    role: MemberRole
    role_label: dict[str, str]
    joined_at: datetime
    left_at: datetime | None


class ConferenceAuditOut(BaseModel):
    id: int
    node: str
    callid: str
    queue: str | None
    agent: str
    conference: str | None
    target_kind: str
    target: str
    username: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    members: list[ConferenceMemberOut]


class MonitorSessionOut(BaseModel):
    id: int
    username: str
    node: str
    callid: str
    agent: str | None
    mode: str
    endpoint: str
    started_at: datetime


def monitor_watches_for(pool: Pool) -> MonitorWatches:
    """The monitoring sessions' watches, made in the app's lifespan and stopped there."""

    async def close(spy_uniqueid: str, reason: str) -> None:
        await repository.close_monitor(pool, spy_uniqueid, reason)

    return MonitorWatches(close)


def conference_watches_for(pool: Pool) -> ConferenceWatches:
    """Three-way calls' watches (members, end), made in the app's lifespan and stopped there."""

    async def joined(conference_id: int, member: Member, at: datetime) -> None:
        await repository.conference_joined(
            pool, conference_id, member.uniqueid, member.channel, member.role.value, at
        )

    async def left(conference_id: int, uniqueid: str, at: datetime) -> None:
        await repository.conference_left(pool, conference_id, uniqueid, at)

    async def ended(conference_id: int, reason: str, at: datetime) -> None:
        await repository.close_conference(pool, conference_id, reason, at.astimezone(UTC))

    return ConferenceWatches(joined, left, ended)


def monitor_watches(request: Request) -> MonitorWatches:
    watches: MonitorWatches | None = getattr(request.app.state, "monitor_watches", None)
    if watches is None:
        raise ApiError(503, "service.starting", "call control is not ready")
    return watches


def call_control(request: Request) -> CallControlService:
    return CallControlService(
        db_pool(request),
        request.app.state.settings,
        routing_service(request),
        monitor_watches(request),
        getattr(request.app.state, "conference_watches", None),
    )


Service = Annotated[CallControlService, Depends(call_control)]


@router.post(
    "/calls/{node}/{callid}/monitor",
    response_model=MonitorOut,
    responses=error_responses(409, 503),
)
async def monitor(
    body: MonitorIn, node: NodeId, callid: CallId, who: Supervisor, service: Service
) -> MonitorOut:
    """Ring the supervisor's softphone and put it in ChanSpy on the call's agent channel."""
    endpoint = body.endpoint or who.agent_id
    if endpoint is None:
        raise ApiError(
            422,
            "calls.no_endpoint",
            "endpoint: this user has no seat; name the softphone to ring",
            {"field": "endpoint"},
        )
    started = await service.monitor(
        user_id=who.user_id,
        username=who.username,
        node=node,
        callid=callid,
        mode=body.mode,
        endpoint=endpoint,
    )
    return MonitorOut(
        session_id=started.session_id,
        agent=started.agent,
        agent_channel=started.agent_channel,
        spy_channel_id=started.spy_uniqueid,
        mode=started.mode,
        mode_label=MODE_LABELS[started.mode],
        endpoint=started.endpoint,
    )


@router.post(
    "/calls/{node}/{callid}/transfer",
    response_model=TransferOut,
    responses=error_responses(409, 503),
)
async def transfer(
    body: TransferIn, node: NodeId, callid: CallId, who: Transferrer, service: Service
) -> TransferOut:
    """Blind-transfer the caller (the agent's peer) to a queue, a seat or a number;
    supervisors and admins any call, an agent only its own."""
    done = await service.transfer(
        user_id=who.user_id,
        only_agent=who.agent_id or "" if who.role is Role.AGENT else None,
        node=node,
        callid=callid,
        target=TransferTarget(body.kind, body.target),
        attended=body.attended,
    )
    return TransferOut(
        transfer_id=done.transfer_id,
        agent_channel=done.agent_channel,
        context=done.context,
        exten=done.exten,
    )


@router.post(
    "/calls/{node}/{callid}/conference",
    response_model=ConferenceOut,
    responses=error_responses(409, 503),
)
async def conference(
    body: ConferenceIn, node: NodeId, callid: CallId, who: Transferrer, service: Service
) -> ConferenceOut:
    """Three-way call (三方通话): the caller and its agent into a ConfBridge conference led
    by the agent (it ends when the agent leaves), and the third party (a seat or an
    allowed number) rung into it; supervisors and admins any call, an agent only its own."""
    started = await service.conference(
        user_id=who.user_id,
        username=who.username,
        only_agent=who.agent_id or "" if who.role is Role.AGENT else None,
        node=node,
        callid=callid,
        kind=body.kind,
        target=body.target,
    )
    return ConferenceOut(
        conference_id=started.conference_id,
        conference=started.conference,
        agent=started.agent,
        agent_channel=started.agent_channel,
        caller_channel=started.caller_channel,
        party_channel=started.party_channel,
        party_channel_id=started.party_channel_id,
    )


@router.get(
    "/conferences/{conference_id}",
    response_model=ConferenceAuditOut,
    responses=error_responses(404),
)
async def conference_audit(
    conference_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], who: Supervisor, pool: DbPool
) -> ConferenceAuditOut:
    """A three-way call's audit: who started it, when, the target, and each member's
    join and leave times."""
    row = await repository.conference(pool, conference_id)
    if row is None:
        raise ApiError(404, "calls.conference_not_found", f"no conference {conference_id}")
    members = [
        ConferenceMemberOut(**m, role_label=ROLE_LABELS[MemberRole(m["role"])])
        for m in row.pop("members")
    ]
    fields = set(ConferenceAuditOut.model_fields) - {"members"}
    return ConferenceAuditOut(**{k: row[k] for k in fields}, members=members)


@router.get("/monitors", response_model=list[MonitorSessionOut])
async def active_monitors(who: Reader, pool: DbPool) -> list[MonitorSessionOut]:
    """Monitoring sessions in progress (for the wallboard)."""
    return [MonitorSessionOut(**row) for row in await repository.active_monitors(pool)]
