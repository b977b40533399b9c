"""REST for the routing config (ops, admin write; readers read):
``/api/v1/routing/...``. Every change is validated, stored and applied to Asterisk.

Each kind of entry (skills, queues, lines, agents, pause reasons, IVR flows) gets the same two
routes, ``PUT`` and ``DELETE /api/v1/routing/<kind>/{key}``, from one table
(``ENTITIES``); agents differ only in how their softphone password is kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from callctl.api.deps import DbPool, Reader, Writer, db_pool
from callctl.api.errors import ApiError
from callctl.api.openapi import error_responses
from callctl.auth.principal import Principal
from callctl.routing_config import repository
from callctl.routing_config.convert import InvalidConfigError
from callctl.routing_config.schemas import (
    AgentDoc,
    AgentIn,
    AgentPublic,
    FlowDoc,
    LineDoc,
    OutboundTrunkView,
    PauseReasonDoc,
    QueueDoc,
    RoutingDoc,
    RoutingView,
    SkillDoc,
    VersionView,
)
from callctl.routing_config.service import Mutation, RoutingService

# Applying a change can fail in Asterisk (502) or find no node to apply it to (503).
router = APIRouter(
    prefix="/api/v1/routing", tags=["routing"], responses=error_responses(409, 502, 503)
)


class ChangeResult(BaseModel):
    version: int
    status: str = "applied"


def routing_service(request: Request) -> RoutingService:
    service: RoutingService | None = getattr(request.app.state, "routing", None)
    if service is None:
        service = RoutingService(db_pool(request), request.app.state.settings)
        request.app.state.routing = service
    return service


Service = Annotated[RoutingService, Depends(routing_service)]


def _view(version: int | None, doc: RoutingDoc) -> RoutingView:
    return RoutingView(
        version=version,
        skills=doc.skills,
        queues=doc.queues,
        lines=doc.lines,
        agents=[AgentPublic.model_validate(a.model_dump(exclude={"password"})) for a in doc.agents],
        pause_reasons=doc.pause_reasons,
        flows=doc.flows,
        prompts=doc.prompts,
        outbound_trunk=None
        if doc.outbound_trunk is None
        else OutboundTrunkView(
            **doc.outbound_trunk.model_dump(exclude={"secret"}),
            has_secret=doc.outbound_trunk.secret is not None,
        ),
    )


async def _change(
    service: RoutingService, mutate: Mutation, who: Principal, what: str
) -> ChangeResult:
    try:
        version = await service.change(mutate, who.user_id, what)
    except InvalidConfigError as exc:
        raise ApiError(
            422,
            exc.error_id,
            f"{exc.where}: {exc.field}: {exc.why}",
            {"field": exc.field, "where": exc.where, "why": exc.why},
        ) from exc
    return ChangeResult(version=version)


def _agent_with_password(doc: RoutingDoc, body: BaseModel) -> BaseModel:
    """An agent as stored: the body's password, else the one it already has."""
    assert isinstance(body, AgentIn)
    password = body.password
    if password is None:
        existing = [a for a in doc.agents if a.agent_id == body.agent_id]
        if not existing:
            raise ApiError(
                422, "request.invalid", "a new agent needs a password", {"field": "password"}
            )
        password = existing[0].password
    return AgentDoc(**body.model_dump(exclude={"password"}), password=password)


@dataclass(frozen=True, slots=True)
class Entity:
    """One kind of entry of the routing document, and how its routes read."""

    path: str  # URL segment, e.g. "pause-reasons"
    kind: str  # in error ids and change notes, e.g. "pause_reason"
    attr: str  # the RoutingDoc list, e.g. "pause_reasons"
    key: str  # the field naming an entry, e.g. "name"
    body: type[BaseModel]
    stored: Callable[[RoutingDoc, BaseModel], BaseModel] = field(default=lambda _, body: body)
    summary: str = ""

    def key_of(self, item: BaseModel) -> str:
        return str(getattr(item, self.key))

    def upsert(self, doc: RoutingDoc, item: BaseModel) -> RoutingDoc:
        items: list[BaseModel] = getattr(doc, self.attr)
        key = self.key_of(item)
        if any(self.key_of(i) == key for i in items):
            setattr(doc, self.attr, [item if self.key_of(i) == key else i for i in items])
        else:
            setattr(doc, self.attr, [*items, item])
        return doc

    def remove(self, doc: RoutingDoc, key: str) -> RoutingDoc:
        items: list[BaseModel] = getattr(doc, self.attr)
        kept = [i for i in items if self.key_of(i) != key]
        if len(kept) == len(items):
            raise ApiError(404, f"routing.{self.kind}_not_found", f"no {self.kind} {key!r}")
        setattr(doc, self.attr, kept)
        return doc


ENTITIES = (
    Entity("skills", "skill", "skills", "name", SkillDoc),
    Entity("queues", "queue", "queues", "name", QueueDoc),
    Entity(
        "lines", "line", "lines", "number", LineDoc,
        summary="A line with its business hours and holidays (营业时间、节假日).",
    ),
    Entity("agents", "agent", "agents", "agent_id", AgentIn, stored=_agent_with_password),
    Entity("pause-reasons", "pause_reason", "pause_reasons", "name", PauseReasonDoc),
    Entity(
        "flows", "flow", "flows", "name", FlowDoc,
        summary="An IVR flow (语音导航); a line uses it by `flow`. A flow with an unreachable "
        "node, a dead end, a loop without a way out or an unknown queue or prompt is 422.",
    ),
)  # fmt: skip


def _add_routes(entity: Entity) -> None:
    label = entity.kind.replace("_", " ")

    async def put(key: str, body: BaseModel, service: Service, who: Writer) -> ChangeResult:
        if key != entity.key_of(body):
            raise ApiError(
                422,
                "request.invalid",
                f"{entity.key} in the body differs from the path",
                {"field": entity.key},
            )
        return await _change(
            service,
            lambda doc: entity.upsert(doc, entity.stored(doc, body)),
            who,
            f"put {label} {key}",
        )

    async def delete(key: str, service: Service, who: Writer) -> ChangeResult:
        return await _change(
            service, lambda doc: entity.remove(doc, key), who, f"delete {label} {key}"
        )

    put.__annotations__["body"] = entity.body  # the body's model, for validation and docs
    path = f"/{entity.path}/{{key}}"
    router.put(
        path,
        response_model=ChangeResult,
        name=f"put_{entity.kind}",
        description=entity.summary or f"Create or replace a {label}.",
    )(put)
    router.delete(
        path,
        response_model=ChangeResult,
        name=f"delete_{entity.kind}",
        description=f"Delete a {label}.",
    )(delete)


@router.get("/config", response_model=RoutingView)
async def get_config(service: Service, _: Reader) -> RoutingView:
    version, doc = await service.in_force()
    return _view(version, doc)


@router.get("/versions", response_model=list[VersionView])
async def list_versions(
    pool: DbPool, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[VersionView]:
    return await repository.versions(pool, limit)


for _entity in ENTITIES:
    _add_routes(_entity)


@router.put("/config", response_model=ChangeResult)
async def put_config(body: RoutingDoc, service: Service, who: Writer) -> ChangeResult:
    """Replace the whole routing config at once (agents' passwords included)."""
    return await _change(service, lambda _: body, who, "put config")
