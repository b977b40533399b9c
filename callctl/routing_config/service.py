"""Use cases: read the routing config in force, change it (validate, store, apply)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.acw_timer import AcwLimits, acw_caps, acw_limits
from callctl.routing_config import repository
from callctl.routing_config.apply import (
    AmiSession,
    ApplyError,
    ApplyTarget,
    ami_session,
    apply_model,
)
from callctl.routing_config.convert import from_model, to_model
from callctl.routing_config.schemas import RoutingDoc
from callctl.routing_config.target import default_model, deployment, lab_target
from callctl.settings import Settings
from kpi.inputs import AcwCaps, AcwCapsLoader
from routing.model import PbxModel

Mutation = Callable[[RoutingDoc], RoutingDoc]


@dataclass
class RoutingService:
    pool: Any
    settings: Settings
    session: AmiSession = ami_session
    target: Callable[[Settings], ApplyTarget] = lab_target
    # One change at a time: each is validated against, and applied over, the last.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def in_force(self) -> tuple[int | None, RoutingDoc]:
        stored = await repository.current(self.pool)
        if stored is None:
            return None, from_model(default_model(self.settings))
        return stored

    async def model_in_force(self) -> PbxModel:
        _, doc = await self.in_force()
        return to_model(doc, deployment(self.settings))

    async def change(self, mutate: Mutation, user_id: int | None, change: str) -> int:
        """Validate (InvalidConfigError), store, apply (ApplyError); the new version id."""
        async with self.lock:
            _, doc = await self.in_force()
            dep = deployment(self.settings)
            previous = to_model(doc, dep)
            new_doc = mutate(doc.model_copy(deep=True))
            model = to_model(new_doc, dep)
            version = await repository.add_version(self.pool, new_doc, user_id, change)
            try:
                await apply_model(model, self.target(self.settings), previous, session=self.session)
            except ApplyError as exc:
                status = "rejected" if exc.status == 409 else "failed"
                await repository.set_status(
                    self.pool, version, status, error_id=exc.error_id, error_message=exc.message
                )
                raise
            await repository.set_status(self.pool, version, "applied")
            return version


def routing_acw_limits(pool: Any, settings: Settings) -> Callable[[], Awaitable[AcwLimits]]:
    """The ACW limits of the routing config in force, loaded when the ACW watch asks."""
    service = RoutingService(pool, settings)

    async def load() -> AcwLimits:
        return acw_limits(await service.model_in_force())

    return load


def routing_acw_caps(pool: Any, settings: Settings) -> AcwCapsLoader:
    """Each line's ``acw_max_s`` in the routing config in force: the one source of the
    ACW cap for the KPIs, the rollups and the live view (the ACW watch's limits above
    come from the same lines)."""
    service = RoutingService(pool, settings)

    async def load() -> AcwCaps:
        return acw_caps(await service.model_in_force())

    return load
