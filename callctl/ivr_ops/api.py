"""REST for the IVR at run time: ``/api/v1/ivr/...``.

- ``PUT /notices/{flag}``: switch an emergency notice (紧急通知) on or off, no reload;
- ``GET /notices``: the flags the flows in force can play;
- ``GET /messages``: messages left in the IVR (留言), as callback tasks;
- ``GET /calls/{node}/{callid}/path``: a call's path through its flow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from callctl.api.deps import db_pool, require
from callctl.api.filters import ID_PATTERN, FactFilter, fact_filter
from callctl.auth.principal import Principal
from callctl.auth.roles import READERS, Role
from callctl.ivr_ops import repository
from callctl.ivr_ops.service import notice_flags, switch_notice
from callctl.privacy import mask_number
from callctl.routing_config.api import routing_service
from callctl.routing_config.service import RoutingService

router = APIRouter(prefix="/api/v1/ivr", tags=["ivr"])

Routing = Annotated[RoutingService, Depends(routing_service)]
Pool = Annotated[Any, Depends(db_pool)]
Reader = Annotated[Principal, Depends(require(*READERS))]
Switcher = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.OPS, Role.ADMIN))]
Window = Annotated[FactFilter, Depends(fact_filter)]
Flag = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
NodeId = Annotated[str, Path(pattern=ID_PATTERN)]
CallId = Annotated[str, Path(pattern=r"^[0-9A-Za-z._-]{1,64}$")]


class NoticeIn(BaseModel):
    on: bool = Field(description="开启 · on / 关闭 · off")


class NoticeOut(BaseModel):
    flag: str
    on: bool
    nodes: list[str] = Field(description="the Asterisk nodes switched")


class MessageOut(BaseModel):
    id: int
    source_ref: str = Field(description="<node>/<uniqueid> of the call")
    line: str
    number: str | None
    created_at: datetime
    recording_path: str | None
    status: str


class StepOut(BaseModel):
    step: int
    line: str
    flow: str
    ivr_node: str
    kind: str
    digit: str | None
    outcome: str | None
    at: datetime
    since_start_s: int = Field(description="seconds since the call began (系统接入)")


@router.get("/notices", response_model=list[str])
async def list_notices(routing: Routing, _: Reader) -> list[str]:
    """Flags of the emergency notices the flows in force can play."""
    return await notice_flags(routing)


@router.put("/notices/{flag}", response_model=NoticeOut)
async def put_notice(flag: Flag, body: NoticeIn, routing: Routing, _: Switcher) -> NoticeOut:
    """Switch an emergency notice: the next call hears it (or not), without a reload."""
    switched = await switch_notice(routing, flag, body.on)
    return NoticeOut(flag=switched.flag, on=switched.on, nodes=switched.nodes)


@router.get("/messages", response_model=list[MessageOut])
async def list_messages(
    f: Window,
    pool: Pool,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MessageOut]:
    """Messages left after hours (留言), newest first: callback tasks to pick up."""
    async with pool.acquire() as conn:
        rows = await repository.messages(conn, f.window.start, f.window.end, limit)
    out = []
    for row in rows:
        if not principal.can_see_numbers:
            row["number"] = mask_number(row["number"])
        out.append(MessageOut(**row))
    return out


@router.get("/calls/{node}/{callid}/path", response_model=list[StepOut])
async def call_path(node: NodeId, callid: CallId, pool: Pool, _: Reader) -> list[StepOut]:
    """A call's steps through its line's IVR flow, in order."""
    async with pool.acquire() as conn:
        rows = await repository.call_path(conn, node, callid)
    return [StepOut(**row) for row in rows]
