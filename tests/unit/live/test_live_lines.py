"""The live view's lines come from the routing config in force, and follow its changes."""

from __future__ import annotations

from typing import Any, cast

from callctl.ingest.pipeline import IngestPipeline
from callctl.live.hub import LiveHub
from callctl.live.service import LiveService
from callctl.live.state import LiveState
from callctl.routing_config.target import NoTargetError
from kpi.inputs import AcwCaps

T0 = 1_795_291_045.0


async def test_lines_are_loaded_refreshed_and_kept_when_loading_fails() -> None:
    in_force: list[Any] = [{"hotline": "12345"}]

    async def load() -> dict[str, str]:
        current = in_force[-1]
        if isinstance(current, Exception):
            raise current
        return dict(current)

    async def caps() -> AcwCaps:
        return AcwCaps.of({})

    hub = LiveHub(LiveState(T0), clock=lambda: T0)
    # refresh_lines touches only the hub and the loader; no pipeline is needed for it.
    service = LiveService(
        hub, cast(IngestPipeline, None), "postgresql://unused", caps, lines=load, lines_every_s=0
    )
    assert hub.state.lines == {}
    await service.refresh_lines()
    assert hub.state.lines == {"hotline": "12345"}
    in_force.append({"hotline": "12345", "hrss-expert": "12333"})
    await service.refresh_lines()
    assert hub.state.lines == {"hotline": "12345", "hrss-expert": "12333"}
    in_force.append(NoTargetError("CALLCTL_NODES_FILE: not set"))
    await service.refresh_lines()
    assert hub.state.lines == {"hotline": "12345", "hrss-expert": "12333"}
