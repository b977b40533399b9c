"""REST for the IVR at run time: ``/api/v1/ivr/...``.

- ``PUT /notices/{flag}``: switch an emergency notice (紧急通知) on or off, no reload;
- ``GET /notices``: the flags the flows in force can play;
- ``GET /messages``: messages left in the IVR (留言), as callback tasks;
- ``GET /calls/{node}/{callid}/path``: a call's path through its flow;
- ``PUT /prompts/{name}`` (audio body) and ``POST /prompts/{name}/synthesize``: prompts
  converted by sox (or spoken by espeak-ng), then listed in the routing config.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from callctl.api.deps import DbPool, Reader, Writer, require
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN, FactFilter, fact_filter
from callctl.api.openapi import error_responses
from callctl.api.types import RequestModel
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.ivr_ops import prompts, repository
from callctl.ivr_ops.service import notice_flags, switch_notice
from callctl.privacy import mask_number
from callctl.routing_config.api import routing_service
from callctl.routing_config.schemas import RoutingDoc
from callctl.routing_config.service import RoutingService

# Without nodes (notices) or a prompts directory (uploads) these answer 503.
router = APIRouter(prefix="/api/v1/ivr", tags=["ivr"], responses=error_responses(502, 503))

Routing = Annotated[RoutingService, Depends(routing_service)]
Switcher = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.OPS, Role.ADMIN))]
Window = Annotated[FactFilter, Depends(fact_filter)]
Flag = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
PromptName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
NodeId = Annotated[str, Path(pattern=ID_PATTERN)]
CallId = Annotated[str, Path(pattern=r"^[0-9A-Za-z._-]{1,64}$")]


class NoticeIn(RequestModel):
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
    pool: DbPool,
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
async def call_path(node: NodeId, callid: CallId, pool: DbPool, _: Reader) -> list[StepOut]:
    """A call's steps through its line's IVR flow, in order."""
    async with pool.acquire() as conn:
        rows = await repository.call_path(conn, node, callid)
    return [StepOut(**row) for row in rows]


class PromptOut(BaseModel):
    prompt: str = Field(description="the name flows use, e.g. callctl/welcome")
    seconds: float
    version: int = Field(description="the routing config version that lists it")


class SpeakIn(RequestModel):
    text: str = Field(max_length=prompts.MAX_TEXT_CHARS, description="文本 · what to say")
    voice: str = Field(default="cmn", max_length=8, description="cmn (普通话) or en")


def _prompts_dir(request: Request) -> Any:
    folder = request.app.state.settings.prompts_dir
    if folder is None:
        raise ApiError(503, "prompt.no_target", "CALLCTL_PROMPTS_DIR is not set")
    return folder


async def _listed(routing: RoutingService, name: str, who: Principal, seconds: float) -> PromptOut:
    ref = prompts.prompt_ref(name)

    def mutate(doc: RoutingDoc) -> RoutingDoc:
        if ref not in doc.prompts:
            doc.prompts = sorted([*doc.prompts, ref])
        return doc

    version = await routing.change(mutate, who.user_id, f"prompt {ref}")
    return PromptOut(prompt=ref, seconds=seconds, version=version)


@router.put("/prompts/{name}", response_model=PromptOut)
async def put_prompt(
    name: PromptName, request: Request, routing: Routing, who: Writer
) -> PromptOut:
    """Upload a prompt (the request body: WAV, FLAC, OGG ... as sox reads them); it is
    converted to 8 kHz mono WAV for Asterisk. Keep zh-CN recordings."""
    folder = _prompts_dir(request)
    seconds = await prompts.store_upload(await request.body(), folder, name)
    return await _listed(routing, name, who, seconds)


@router.post("/prompts/{name}/synthesize", response_model=PromptOut)
async def synthesize_prompt(
    name: PromptName, body: SpeakIn, request: Request, routing: Routing, who: Writer
) -> PromptOut:
    """A stand-in prompt spoken by espeak-ng where no recording exists yet."""
    folder = _prompts_dir(request)
    seconds = await prompts.synthesize(body.text, folder, name, body.voice)
    return await _listed(routing, name, who, seconds)
