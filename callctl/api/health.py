"""Health: unauthenticated, for load balancers and the lab's demo."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter()


class NodeHealth(BaseModel):
    node: str
    state: str


class Health(BaseModel):
    status: str
    nodes: list[NodeHealth]


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    runtime = request.app.state.runtime
    if runtime is None:  # the API alone, without ingest
        return Health(status="ok", nodes=[])
    nodes = [NodeHealth(node=node, state=state) for node, state in runtime.node_states().items()]
    ok = bool(nodes) and all(n.state == "connected" for n in nodes)
    return Health(status="ok" if ok else "degraded", nodes=nodes)
