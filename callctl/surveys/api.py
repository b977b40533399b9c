"""REST for the automated outbound survey (回访测评): ``POST /api/v1/surveys/outbound``
calls the citizen of a finished answered call and plays its line's survey
(supervisors and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import db_pool, require
from callctl.api.filters import ID_PATTERN
from callctl.api.openapi import error_responses
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.routing_config.api import routing_service
from callctl.surveys.outbound import CALL_ID_PATTERN, OutboundSurveys

router = APIRouter(
    prefix="/api/v1/surveys", tags=["surveys"], responses=error_responses(404, 409, 502, 503)
)
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]


class OutboundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    node: str = Field(pattern=ID_PATTERN, description="the node the surveyed call was on")
    callid: str = Field(pattern=CALL_ID_PATTERN, description="the surveyed call's id (UNIQUEID)")


class OutboundOut(BaseModel):
    node: str
    callid: str
    queue: str
    seq: int
    line: str
    channel_id: str = Field(description="the survey call's channel id (Originate ChannelId)")
    status: str = Field(description="dialling: the answer, if any, arrives as a survey answer")


def outbound_surveys(request: Request) -> OutboundSurveys:
    return OutboundSurveys(db_pool(request), request.app.state.settings, routing_service(request))


Service = Annotated[OutboundSurveys, Depends(outbound_surveys)]


@router.post("/outbound", response_model=OutboundOut, status_code=202)
async def outbound(body: OutboundIn, who: Supervisor, service: Service) -> OutboundOut:
    """Call the citizen back and play the survey of the call's line; the answer is
    recorded for the call's answered entry, marked ``outbound``. Refused inside the
    line's forbidden hours (callbacks' calendar): 409 ``surveys.forbidden_hours``."""
    placed = await service.place(body.node, body.callid)
    return OutboundOut(
        node=placed.node,
        callid=placed.callid,
        queue=placed.queue,
        seq=placed.seq,
        line=placed.line,
        channel_id=placed.channel_id,
        status="dialling",
    )
