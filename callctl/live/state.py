"""The live state of all nodes (pure): boards per node and today's KPIs, as deltas.

``apply(event, facts)`` takes one AMI event, in the reader's order, together with
the facts the normalizer made of it, and returns the deltas the change produced;
``on_resync`` rebuilds a node's board from a resync snapshot; ``seed`` folds in
today's facts read from the database at start (facts already seen live win);
``tick`` rolls the day over at local midnight; ``set_acw_caps`` takes the line
caps of the routing config in force (each answered entry's ACW is capped by its
line's ``acw_max_s``, as in ``kpi.query``); ``set_satisfied_keys`` takes each
surveyed line's ``satisfied_keys`` (满意率 read as ``/kpis`` reads it, see
``_params_for``). ``snapshot`` is the whole picture.

Deltas are JSON-able dicts with a ``type``; each replaces a whole item (a queue's
waiting figures, an agent's state, a queue's/line's/interval's figures), so
applying one twice is harmless. ``at`` is when the AMI event behind a delta
arrived (UTC epoch seconds): clients may show or measure their lag with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from ami.connection import ResyncSnapshot
from ami.events import (
    AmiEvent,
    Hangup,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueMember,
    QueueMemberAdded,
    QueueMemberEvent,
    QueueMemberPause,
    QueueMemberPenalty,
    QueueMemberRemoved,
    QueueMemberRinginuse,
    QueueMemberStatus,
)
from callctl.facts.models import Fact, QueueEntryFact
from callctl.live.board import AgentLiveState, NodeBoard
from callctl.live.today import Figures, KpiChange, TodayKpis, figures
from callctl.live.window import day_window
from ivr.survey import satisfied_keys_for
from kpi.inputs import AcwCaps, KpiParams

Delta = dict[str, Any]
_Handler = Callable[[NodeBoard, Any], list[Delta]]


class LiveState:
    """Boards of every node and today's KPIs across them.

    ``lines`` maps each queue to its service line (DNIS): a line's figures are the
    sums of its queues' counters, so they agree with the queues' by construction.
    ``satisfied_keys`` maps each surveyed line to the survey keys its 满意率 counts
    as satisfied (the routing config's ``line.survey.satisfied_keys``).
    """

    def __init__(
        self,
        now: float,
        *,
        timezone: str = "Asia/Shanghai",
        lines: Mapping[str, str] | None = None,
        params: KpiParams | None = None,
        acw_reason: str = "acw",
        satisfied_keys: Mapping[str, frozenset[int]] | None = None,
    ) -> None:
        self.timezone = timezone
        self.lines = dict(lines or {})
        self.params = params or KpiParams()
        self.satisfied_keys = dict(satisfied_keys or {})
        # The figures' params for one line (None: several lines), built once per setting.
        self._read_params: dict[str | None, KpiParams] = {}
        self.acw_reason = acw_reason
        self.today = TodayKpis(day_window(now, timezone), self.params)
        self.seeded = False
        self.boards: dict[str, NodeBoard] = {}
        self._handlers: dict[type[AmiEvent], _Handler] = {
            QueueCallerJoin: self._on_join,
            QueueCallerLeave: self._on_leave,
            QueueCallerAbandon: self._on_leave,
            Hangup: self._on_hangup,
            QueueMemberAdded: self._on_member,
            QueueMemberRemoved: self._on_member,
            QueueMemberPause: self._on_member,
            QueueMemberStatus: self._on_member,
            QueueMemberPenalty: self._on_member,
            QueueMemberRinginuse: self._on_member,
            QueueMember: self._on_member,
        }

    def board(self, node: str) -> NodeBoard:
        board = self.boards.get(node)
        if board is None:
            board = self.boards[node] = NodeBoard(node, self.acw_reason)
        return board

    # --- input ---------------------------------------------------------------------------

    def apply(self, event: AmiEvent, facts: Iterable[Fact] = ()) -> list[Delta]:
        """One AMI event and the facts the normalizer made of it."""
        handler = self._handlers.get(type(event))
        deltas = [] if handler is None else handler(self.board(event.node), event)
        deltas += self.on_facts(facts)
        for delta in deltas:
            delta["at"] = event.received_at
        return deltas

    def on_facts(self, facts: Iterable[Fact]) -> list[Delta]:
        facts = list(facts)
        if not facts:
            return []
        deltas: list[Delta] = []
        newest = max((f.entered_at for f in facts if isinstance(f, QueueEntryFact)), default=None)
        if newest is not None and newest >= self.today.window.end:
            # Asterisk's clock passed midnight before ours did.
            deltas += self._roll(newest)
        return deltas + self._kpi_deltas(self.today.apply(facts))

    def on_corrections(self, facts: Iterable[Fact]) -> list[Delta]:
        """Facts folded from queue_log and committed: they correct what AMI said."""
        facts = list(facts)
        if not facts:
            return []
        return self._kpi_deltas(self.today.apply(facts, from_queue_log=True))

    def on_resync(self, snapshot: ResyncSnapshot) -> list[Delta]:
        board = self.board(snapshot.node)
        board.rebuild(snapshot.queue_entries, snapshot.queue_members, snapshot.started_at)
        return [{"type": "node", "node": snapshot.node, **board.as_json()}]

    def on_node_link(self, node: str, ami: str, at: float) -> list[Delta]:
        """A node's AMI link changed (connected, down, auth_failed): one ``node_link``
        delta, so that a wallboard shows a node down as soon as callctl knows it."""
        board = self.board(node)
        if board.ami == ami:
            return []
        board.ami = ami
        return [{"type": "node_link", "node": node, "ami": ami, "at": at}]

    def seed(self, facts: Iterable[Fact]) -> list[Delta]:
        """Today's stored facts, read at start or after a reconcile: they fill in what
        was not seen live; a live fact at least as far along is kept."""
        self.today.apply(facts, stored=True)
        self.seeded = True
        return [{"type": "today", "today": self.today_json()}]

    def set_acw_caps(self, caps: AcwCaps) -> list[Delta]:
        """The line caps in force changed (or were first read): recount today with them."""
        if caps == self.params.acw_caps:
            return []
        self.params = replace(self.params, acw_caps=caps)
        known = self.today
        self.today = TodayKpis(known.window, self.params)
        self.today.apply([*known.acw_intervals, *known.entries, *known.survey_answers])
        self._read_params.clear()
        return [{"type": "today", "today": self.today_json()}]

    def set_satisfied_keys(self, by_line: Mapping[str, frozenset[int]]) -> list[Delta]:
        """The surveyed lines' satisfied keys in force changed (or were first read).

        The counters keep the answers per key (``KpiCounters.survey_by_key``) and the
        keys are applied only when figures are read, so nothing is recounted: today's
        figures, every answer of the day included, are re-read with the new keys (as
        ``/kpis`` reads a window with the setting in force at the request), and one
        ``today`` delta carries them.
        """
        by_line = dict(by_line)
        if by_line == self.satisfied_keys:
            return []
        self.satisfied_keys = by_line
        self._read_params.clear()
        return [{"type": "today", "today": self.today_json()}]

    def _params_for(self, line: str | None) -> KpiParams:
        """The params figures of ``line`` (``None``: a queue, an interval, all lines) are
        read with: its satisfied keys, else those all surveyed lines share, else 1 and 2
        (``ivr.survey.satisfied_keys_for``, the rule ``/kpis`` applies to ``line=``)."""
        params = self._read_params.get(line)
        if params is None:
            keys = satisfied_keys_for(self.satisfied_keys, line)
            params = replace(self.params, satisfied_keys=keys)
            self._read_params[line] = params
        return params

    def tick(self, now: float) -> list[Delta]:
        """Roll over to a new day once local midnight has passed."""
        if now < self.today.window.end:
            return []
        return self._roll(now)

    def _roll(self, now: float) -> list[Delta]:
        self.today = TodayKpis(day_window(now, self.timezone), self.params)
        return [{"type": "today", "today": self.today_json()}]

    # --- handlers ------------------------------------------------------------------------

    def _on_join(self, board: NodeBoard, event: QueueCallerJoin) -> list[Delta]:
        return [self._queue_delta(board, board.join(event))]

    def _on_leave(
        self, board: NodeBoard, event: QueueCallerLeave | QueueCallerAbandon
    ) -> list[Delta]:
        queue = board.leave(event)
        return [] if queue is None else [self._queue_delta(board, queue)]

    def _on_hangup(self, board: NodeBoard, event: Hangup) -> list[Delta]:
        return [self._queue_delta(board, queue) for queue in board.hang_up(event.uniqueid)]

    def _on_member(self, board: NodeBoard, event: QueueMemberEvent) -> list[Delta]:
        agent = board.member(event)
        view = board.agent_view(agent)
        delta: Delta = {"type": "agent", "node": board.node, "agent": agent}
        if view is None:
            delta.update(state=None, reason="", queues=[])
        else:
            delta.update(view.as_json())
        return [delta]

    @staticmethod
    def _queue_delta(board: NodeBoard, queue: str) -> Delta:
        return {"type": "queue", "node": board.node, "queue": queue, **board.queue_view(queue)}

    def _kpi_deltas(self, changes: list[KpiChange]) -> list[Delta]:
        if not changes:
            return []
        today = self.today
        params = self._params_for(None)
        total = figures(today.total(), params)
        lines = today.by_line(self.lines)
        deltas: list[Delta] = []
        for change in changes:
            line = self.lines.get(change.queue)
            line_today = None
            if line is not None:
                line_today = figures(lines[line], self._params_for(line))
            deltas.append(
                {
                    "type": "kpi",
                    "day": today.window.day.isoformat(),
                    "queue": change.queue,
                    "queue_today": figures(today.by_queue[change.queue], params),
                    "line": line,
                    "line_today": line_today,
                    "total": total,
                    "interval": {
                        "start": change.interval,
                        "total": figures(today.by_interval[change.interval], params),
                    },
                }
            )
        return deltas

    # --- output --------------------------------------------------------------------------

    def today_json(self) -> dict[str, Any]:
        today = self.today
        params = self._params_for(None)
        intervals: list[dict[str, Any]] = [
            {"start": start, "total": figures(counters, params)}
            for start, counters in sorted(today.by_interval.items())
        ]
        queues: dict[str, Figures] = {
            queue: figures(counters, params) for queue, counters in sorted(today.by_queue.items())
        }
        lines: dict[str, Figures] = {
            line: figures(counters, self._params_for(line))
            for line, counters in sorted(today.by_line(self.lines).items())
        }
        return {
            "day": today.window.day.isoformat(),
            "start": today.window.start,
            "end": today.window.end,
            "timezone": self.timezone,
            "seeded": self.seeded,
            "total": figures(today.total(), params),
            "queues": queues,
            "lines": lines,
            "intervals": intervals,
        }

    def snapshot(self, now: float, node: str | None = None) -> dict[str, Any]:
        """The whole picture; ``summary`` is what a wallboard's big figures show.
        ``node``: that node's board and summary only (``today`` stays all nodes')."""
        boards = {n: b for n, b in sorted(self.boards.items()) if node is None or n == node}
        return {
            "type": "snapshot",
            "server_time": now,
            "nodes": {n: board.as_json() for n, board in boards.items()},
            "nodes_down": sorted(
                n for n, b in boards.items() if b.ami in ("down", "auth_failed", "tls_failed")
            ),
            "today": self.today_json(),
            "summary": self.summary(now, list(boards.values())),
        }

    def summary(self, now: float, boards: list[NodeBoard] | None = None) -> dict[str, Any]:
        waiting = 0
        oldest: float | None = None
        agents = dict.fromkeys((state.value for state in AgentLiveState), 0)
        for board in self.boards.values() if boards is None else boards:
            for callers in board.waiting.values():
                waiting += len(callers)
                if callers:
                    first = min(callers.values())
                    oldest = first if oldest is None else min(oldest, first)
            for agent in board.members:
                view = board.agent_view(agent)
                if view is not None:
                    agents[view.state.value] += 1
        return {
            "waiting": waiting,
            "oldest_joined_at": oldest,
            "longest_wait_s": None if oldest is None else max(0.0, now - oldest),
            "agents": agents,
        }

    def waiting_by_queue(self) -> dict[tuple[str, str], int]:
        """(node, queue) → callers waiting now (for /metrics)."""
        return {
            (node, queue): len(board.waiting.get(queue, {}))
            for node, board in self.boards.items()
            for queue in board.queues()
        }

    def agents_by_state(self) -> dict[tuple[str, str], int]:
        """(node, state) → agents in that state now (for /metrics)."""
        counts: dict[tuple[str, str], int] = {}
        for node, board in self.boards.items():
            for state in AgentLiveState:
                counts[(node, state.value)] = 0
            for agent in board.members:
                view = board.agent_view(agent)
                if view is not None:
                    counts[(node, view.state.value)] += 1
        return counts
