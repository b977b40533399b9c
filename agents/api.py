"""REST for agent state: ``/api/v1/agents/{agent_id}/login|logout|pause|unpause|acw/end``.
An agent may change only itself; supervisors, ops and admins anyone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from agents.service import AgentStateService, MemberState
from callctl.api.deps import require
from callctl.api.errors import ApiError
from callctl.api.openapi import error_responses
from callctl.api.types import RequestModel
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.routing_config.api import routing_service

# Asterisk can refuse a command (409, 502) or be out of reach (503).
router = APIRouter(
    prefix="/api/v1/agents", tags=["agent state"], responses=error_responses(409, 502, 503)
)
ACTORS = (Role.AGENT, Role.SUPERVISOR, Role.OPS, Role.ADMIN)
AgentId = Annotated[str, Path(pattern=r"^[0-9]{2,10}$")]
Actor = Annotated[Principal, Depends(require(*ACTORS))]


class PauseIn(RequestModel):
    reason: str = Field(max_length=40, description="a configured pause reason, e.g. break (小休)")


class MemberOut(BaseModel):
    queue: str
    penalty: int | None
    paused: bool | None
    paused_reason: str | None
    status: int | None


class AgentStateOut(BaseModel):
    agent_id: str
    queues: list[MemberOut]


def agent_state_service(request: Request) -> AgentStateService:
    return AgentStateService(routing_service(request))


Service = Annotated[AgentStateService, Depends(agent_state_service)]


async def _act(
    principal: Principal, agent_id: str, run: Callable[[], Awaitable[list[MemberState]]]
) -> AgentStateOut:
    if principal.role is Role.AGENT and principal.agent_id != agent_id:
        raise ApiError(403, "auth.forbidden", "an agent may change only its own state")
    states = await run()
    return AgentStateOut(
        agent_id=agent_id,
        queues=[
            MemberOut(
                queue=s.queue,
                penalty=s.penalty,
                paused=s.paused,
                paused_reason=s.paused_reason,
                status=s.status,
            )
            for s in states
        ],
    )


@router.post("/{agent_id}/login", response_model=AgentStateOut)
async def login(
    agent_id: AgentId,
    service: Service,
    who: Actor,
) -> AgentStateOut:
    return await _act(who, agent_id, lambda: service.login(agent_id))


@router.post("/{agent_id}/logout", response_model=AgentStateOut)
async def logout(
    agent_id: AgentId,
    service: Service,
    who: Actor,
) -> AgentStateOut:
    return await _act(who, agent_id, lambda: service.logout(agent_id))


@router.post("/{agent_id}/pause", response_model=AgentStateOut)
async def pause(
    body: PauseIn,
    agent_id: AgentId,
    service: Service,
    who: Actor,
) -> AgentStateOut:
    return await _act(who, agent_id, lambda: service.pause(agent_id, body.reason))


@router.post("/{agent_id}/unpause", response_model=AgentStateOut)
async def unpause(
    agent_id: AgentId,
    service: Service,
    who: Actor,
) -> AgentStateOut:
    return await _act(who, agent_id, lambda: service.unpause(agent_id))


@router.post("/{agent_id}/acw/end", response_model=AgentStateOut)
async def end_acw(
    agent_id: AgentId,
    service: Service,
    who: Actor,
) -> AgentStateOut:
    return await _act(who, agent_id, lambda: service.end_acw(agent_id))
