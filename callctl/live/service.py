"""The live state's life in the service: built from settings, seeded, ticked (I/O edge).

Seeding waits for the pipeline's startup reconcile (facts of the time callctl was
down land in the database first), then loads today's facts; it is done again
after each later reconcile, which fills in what an AMI gap hid from the live view.
The line caps (``acw_max_s``) of the routing config in force are read before the
first seed and every ``caps_every_s`` after, so a changed cap recounts today; the
surveyed lines' satisfied keys likewise every ``satisfied_every_s``, so a changed
setting re-reads today's 满意率 (``LiveState.set_satisfied_keys``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import asyncpg

from callctl.errors import ReportedError
from callctl.ingest.pipeline import IngestPipeline
from callctl.live.hub import LiveHub
from callctl.live.seed import load_today
from callctl.live.state import LiveState
from callctl.settings import Settings
from kpi.inputs import AcwCapsLoader

log = logging.getLogger(__name__)

LinesLoader = Callable[[], Awaitable[Mapping[str, str]]]
"""Each queue's service line, from the routing config in force."""

SatisfiedKeysLoader = Callable[[], Awaitable[Mapping[str, frozenset[int]]]]
"""Each surveyed line's satisfied keys, from the routing config in force."""


def build_live_hub(
    settings: Settings,
    clock: Callable[[], float] = time.time,
    lines: Mapping[str, str] | None = None,
) -> LiveHub:
    """``lines``: queue → line to start with; the service then keeps them in step with
    the routing config in force (LiveService)."""
    state = LiveState(clock(), timezone=settings.timezone, lines=lines)
    return LiveHub(state, clock=clock)


# What reading the routing config in force can raise: the live view then keeps what it
# had and tries again at the next turn.
_ROUTING_READ_ERRORS = (
    OSError,
    ValueError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ReportedError,
)


class _Every:
    """True at the first call, then once ``every_s`` has passed since the last true."""

    def __init__(self, every_s: float) -> None:
        self._every_s = every_s
        self._last: float | None = None

    def __call__(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < self._every_s:
            return False
        self._last = now
        return True


class LiveService:
    """Keeps ``hub`` seeded from the database and rolled over at midnight."""

    def __init__(
        self,
        hub: LiveHub,
        pipeline: IngestPipeline,
        database_url: str,
        acw_caps: AcwCapsLoader,
        *,
        tick_s: float = 1.0,
        retry_s: float = 5.0,
        caps_every_s: float = 10.0,
        lines: LinesLoader | None = None,
        lines_every_s: float = 10.0,
        satisfied_keys: SatisfiedKeysLoader | None = None,
        satisfied_every_s: float = 10.0,
    ) -> None:
        self.hub = hub
        self._lines = lines
        self._lines_due = _Every(lines_every_s)
        self._satisfied_keys = satisfied_keys
        self._satisfied_due = _Every(satisfied_every_s)
        self._pipeline = pipeline
        self._url = database_url
        self._acw_caps = acw_caps
        self._caps_due = _Every(caps_every_s)
        self._tick_s = tick_s
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self._seeded_after = -1  # pipeline.stats.reconciles at the last seed

    def start(self) -> None:
        """Attach to the pipeline before the AMI connections start: no event is missed."""
        self._pipeline.live = self.hub.on_event
        self._pipeline.corrections = self.hub.on_corrections
        self._task = asyncio.create_task(self._run(), name="callctl-live")
        self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        self._pipeline.live = None
        self._pipeline.corrections = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh_lines(self) -> None:
        """Lines and queues come from the routing config in force (it can change)."""
        if self._lines is None or not self._lines_due():
            return
        try:
            lines = dict(await self._lines())
        except _ROUTING_READ_ERRORS as exc:  # the live view keeps its last lines
            log.warning("live: reading the lines of the routing config failed (%s)", exc)
            return
        if lines != self.hub.state.lines:
            self.hub.state.lines = lines
            log.info("live: lines from the routing config: %s", lines)

    async def refresh_satisfied_keys(self) -> None:
        """满意率's satisfied keys, per surveyed line, from the routing config in force."""
        if self._satisfied_keys is None or not self._satisfied_due():
            return
        try:
            by_line = await self._satisfied_keys()
        except _ROUTING_READ_ERRORS as exc:  # the live view keeps its last keys
            log.warning("live: reading the lines' satisfied survey keys failed (%s)", exc)
            return
        self.hub.set_satisfied_keys(by_line)

    async def _run(self) -> None:
        while True:
            await self.refresh_lines()
            await self.refresh_satisfied_keys()
            self.hub.tick()
            await self._read_caps()
            reconciles = self._pipeline.stats.reconciles
            if self._pipeline.startup_reconciled.is_set() and reconciles != self._seeded_after:
                try:
                    await self._seed()
                    self._seeded_after = reconciles
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    log.warning("live: seeding today's figures failed (%s); will retry", exc)
                    await asyncio.sleep(self._retry_s)
                    continue
            await asyncio.sleep(self._tick_s)

    async def _read_caps(self) -> None:
        if not self._caps_due():
            return
        try:
            caps = await self._acw_caps()
        except _ROUTING_READ_ERRORS as exc:  # the live view keeps its last caps
            log.warning("live: reading the lines' acw_max_s failed (%s); will retry", exc)
            return
        self.hub.set_acw_caps(caps)

    async def _seed(self) -> None:
        # Facts still in the writer's queue are live already and at least as far
        # along as their stored rows: the merge in LiveState.seed keeps them.
        facts = await load_today(self._url, self.hub.state.today.window)
        self.hub.seed(facts)
        log.info("live: seeded today's figures from %d stored facts", len(facts))


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live service crashed", exc_info=task.exception())
