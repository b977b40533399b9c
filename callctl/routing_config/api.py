"""REST for the routing config (ops, admin write; readers read):
``/api/v1/routing/...``. Every change is validated, stored and applied to Asterisk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from callctl.api.deps import db_pool, require
from callctl.api.errors import ApiError
from callctl.auth.principal import Principal
from callctl.auth.roles import READERS, Role
from callctl.routing_config import repository
from callctl.routing_config.convert import InvalidConfigError
from callctl.routing_config.schemas import (
    AgentDoc,
    AgentIn,
    AgentPublic,
    FlowDoc,
    LineDoc,
    PauseReasonDoc,
    QueueDoc,
    RoutingDoc,
    RoutingView,
    SkillDoc,
    VersionView,
)
from callctl.routing_config.service import Mutation, RoutingService

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])
WRITERS = (Role.OPS, Role.ADMIN)
_T = TypeVar("_T", bound=BaseModel)


class ChangeResult(BaseModel):
    version: int
    status: str = "applied"


def routing_service(request: Request) -> RoutingService:
    service: RoutingService | None = getattr(request.app.state, "routing", None)
    if service is None:
        service = RoutingService(db_pool(request), request.app.state.settings)
        request.app.state.routing = service
    return service


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


def _upsert(items: list[_T], key: Callable[[_T], str], item: _T) -> list[_T]:
    kept = [i for i in items if key(i) != key(item)]
    if len(kept) == len(items):
        return [*items, item]
    return [item if key(i) == key(item) else i for i in items]


def _remove(items: list[_T], key: Callable[[_T], str], value: str, kind: str) -> list[_T]:
    kept = [i for i in items if key(i) != value]
    if len(kept) == len(items):
        raise ApiError(404, f"routing.{kind}_not_found", f"no {kind} {value!r}")
    return kept


def _path_matches(path_key: str, body_key: str, field: str) -> None:
    if path_key != body_key:
        raise ApiError(
            422, "request.invalid", f"{field} in the body differs from the path", {"field": field}
        )


@router.get("/config", response_model=RoutingView)
async def get_config(
    service: RoutingService = Depends(routing_service),  # noqa: B008
    _: Principal = Depends(require(*READERS)),  # noqa: B008
) -> RoutingView:
    version, doc = await service.in_force()
    return _view(version, doc)


@router.get("/versions", response_model=list[VersionView])
async def list_versions(
    limit: int = Query(50, ge=1, le=500),
    pool: Any = Depends(db_pool),  # noqa: B008
    _: Principal = Depends(require(*READERS)),  # noqa: B008
) -> list[VersionView]:
    return await repository.versions(pool, limit)


@router.put("/skills/{name}", response_model=ChangeResult)
async def put_skill(
    name: str,
    body: SkillDoc,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    _path_matches(name, body.name, "name")

    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.skills = _upsert(doc.skills, lambda s: s.name, body)
        return doc

    return await _change(service, mutate, who, f"put skill {name}")


@router.delete("/skills/{name}", response_model=ChangeResult)
async def delete_skill(
    name: str,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.skills = _remove(doc.skills, lambda s: s.name, name, "skill")
        return doc

    return await _change(service, mutate, who, f"delete skill {name}")


@router.put("/queues/{name}", response_model=ChangeResult)
async def put_queue(
    name: str,
    body: QueueDoc,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    _path_matches(name, body.name, "name")

    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.queues = _upsert(doc.queues, lambda q: q.name, body)
        return doc

    return await _change(service, mutate, who, f"put queue {name}")


@router.delete("/queues/{name}", response_model=ChangeResult)
async def delete_queue(
    name: str,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.queues = _remove(doc.queues, lambda q: q.name, name, "queue")
        return doc

    return await _change(service, mutate, who, f"delete queue {name}")


@router.put("/lines/{number}", response_model=ChangeResult)
async def put_line(
    number: str,
    body: LineDoc,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    """A line with its business hours and holidays (营业时间、节假日)."""
    _path_matches(number, body.number, "number")

    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.lines = _upsert(doc.lines, lambda ln: ln.number, body)
        return doc

    return await _change(service, mutate, who, f"put line {number}")


@router.delete("/lines/{number}", response_model=ChangeResult)
async def delete_line(
    number: str,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.lines = _remove(doc.lines, lambda ln: ln.number, number, "line")
        return doc

    return await _change(service, mutate, who, f"delete line {number}")


@router.put("/agents/{agent_id}", response_model=ChangeResult)
async def put_agent(
    agent_id: str,
    body: AgentIn,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    _path_matches(agent_id, body.agent_id, "agent_id")

    def mutate(doc: RoutingDoc) -> RoutingDoc:
        password = body.password
        if password is None:
            existing = [a for a in doc.agents if a.agent_id == agent_id]
            if not existing:
                raise ApiError(
                    422, "request.invalid", "a new agent needs a password", {"field": "password"}
                )
            password = existing[0].password
        agent = AgentDoc(**body.model_dump(exclude={"password"}), password=password)
        doc.agents = _upsert(doc.agents, lambda a: a.agent_id, agent)
        return doc

    return await _change(service, mutate, who, f"put agent {agent_id}")


@router.delete("/agents/{agent_id}", response_model=ChangeResult)
async def delete_agent(
    agent_id: str,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.agents = _remove(doc.agents, lambda a: a.agent_id, agent_id, "agent")
        return doc

    return await _change(service, mutate, who, f"delete agent {agent_id}")


@router.put("/pause-reasons/{name}", response_model=ChangeResult)
async def put_pause_reason(
    name: str,
    body: PauseReasonDoc,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    _path_matches(name, body.name, "name")

    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.pause_reasons = _upsert(doc.pause_reasons, lambda r: r.name, body)
        return doc

    return await _change(service, mutate, who, f"put pause reason {name}")


@router.delete("/pause-reasons/{name}", response_model=ChangeResult)
async def delete_pause_reason(
    name: str,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.pause_reasons = _remove(doc.pause_reasons, lambda r: r.name, name, "pause_reason")
        return doc

    return await _change(service, mutate, who, f"delete pause reason {name}")


RoutingServiceDep = Annotated[RoutingService, Depends(routing_service)]
RoutingWriter = Annotated[Principal, Depends(require(*WRITERS))]


@router.put("/flows/{name}", response_model=ChangeResult)
async def put_flow(
    name: str,
    body: FlowDoc,
    service: RoutingServiceDep,
    who: RoutingWriter,
) -> ChangeResult:
    """An IVR flow (语音导航); a line uses it by ``flow``. A flow with an unreachable
    node, a dead end, a loop without a way out or an unknown queue or prompt is 422."""
    _path_matches(name, body.name, "name")

    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.flows = _upsert(doc.flows, lambda f: f.name, body)
        return doc

    return await _change(service, mutate, who, f"put flow {name}")


@router.delete("/flows/{name}", response_model=ChangeResult)
async def delete_flow(
    name: str,
    service: RoutingServiceDep,
    who: RoutingWriter,
) -> ChangeResult:
    def mutate(doc: RoutingDoc) -> RoutingDoc:
        doc.flows = _remove(doc.flows, lambda f: f.name, name, "flow")
        return doc

    return await _change(service, mutate, who, f"delete flow {name}")


@router.put("/config", response_model=ChangeResult)
async def put_config(
    body: RoutingDoc,
    service: RoutingService = Depends(routing_service),  # noqa: B008
    who: Principal = Depends(require(*WRITERS)),  # noqa: B008
) -> ChangeResult:
    """Replace the whole routing config at once (agents' passwords included)."""
    return await _change(service, lambda _: body, who, "put config")
