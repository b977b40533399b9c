"""The automated outbound survey (回访测评): call the citizen of an answered call back
and play its line's post-call survey (``ivr.survey``), reporting the answer for that
call's queue entry, marked ``outbound``.

Everything is checked before any AMI action: the call must be known (404), have a
finished answered entry on a line with a survey, not be surveyed yet, and have a
caller number within the allowed outbound patterns; the line's callback calendar
(forbidden hours) must allow calling now; an outbound trunk must be set (409 each).
The call goes out through the same trunk settings as the callback dialer
(``CALLCTL_CALLBACK_TRUNK`` / ``_HOST``, else the routing config's outbound trunk), from
the node the surveyed call was on (its answer must be reported there: the queue_log
line and UserEvent are that node's).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from ami import actions
from ami.connection import NodeConnection
from ami.errors import AmiError, UnsafeValueError
from ami.state import ConnectionState
from callctl.callbacks import repository as callbacks_repository
from callctl.callbacks.calendar import CallbackCalendar
from callctl.calls.transfer import InvalidTargetError, check_number
from callctl.db_types import Pool
from callctl.errors import ReportedError
from callctl.nodes import NodesConfigError, load_nodes
from callctl.routing_config.service import RoutingService
from callctl.settings import Settings
from ivr.survey import (
    OUT_AGENT_VAR,
    OUT_CALLID_VAR,
    OUT_DIAL_CONTEXT,
    OUT_QUEUE_VAR,
    OUT_SEQ_VAR,
    outbound_survey_context,
)

CALL_ID_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,128}$"
"""An Asterisk UNIQUEID (the surveyed call's id; it becomes a channel variable)."""
_CALL_ID = re.compile(CALL_ID_PATTERN)
_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_AGENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SurveyCallError(ReportedError):
    """An outbound survey call was refused or could not be placed."""


@dataclass(frozen=True, slots=True)
class SurveyedEntry:
    """The answered queue entry of a finished call, and what calling it back needs."""

    queue: str
    seq: int
    agent: str | None
    line: str | None
    caller_num: str | None


@dataclass(frozen=True, slots=True)
class SurveyCall:
    node: str
    callid: str
    queue: str
    seq: int
    line: str
    channel_id: str


async def surveyed_entry(pool: Pool, node: str, callid: str) -> tuple[bool, SurveyedEntry | None]:
    """Whether the call is known, and its last finished answered entry (None: none,
    or the call already has a survey answer)."""
    rows = await pool.fetch(
        "SELECT e.queue, e.seq, e.agent, e.outcome, e.completed_at, "
        "       COALESCE(e.line, c.line) AS line, c.caller_num, "
        "       EXISTS (SELECT 1 FROM survey_answers s WHERE s.node = e.node "
        "               AND s.callid = e.callid) AS surveyed "
        "FROM queue_entries e LEFT JOIN calls c "
        "  ON c.node = e.node AND c.linkedid = COALESCE(e.linkedid, e.callid) "
        "WHERE e.node = $1 AND e.callid = $2 "
        "ORDER BY e.entered_at DESC, e.seq DESC",
        node,
        callid,
    )
    if not rows:
        known = await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM calls WHERE node = $1 AND linkedid = $2)", node, callid
        )
        return bool(known), None
    if any(r["surveyed"] for r in rows):
        return True, None
    for row in rows:
        if row["outcome"] == "answered" and row["completed_at"] is not None:
            return True, SurveyedEntry(
                row["queue"], row["seq"], row["agent"], row["line"], row["caller_num"]
            )
    return True, None


def survey_variables(
    node_callid: str, entry: SurveyedEntry, trunk: str, trunk_host: str | None, ring_s: int
) -> dict[str, str]:
    """The survey call's channel variables; every value from the facts is checked
    (ids only: no ``,``, ``|``, ``;``, CR or LF can reach the dialplan)."""
    if not _CALL_ID.fullmatch(node_callid):
        raise UnsafeValueError("callid", "not an Asterisk unique id")
    if not _QUEUE.fullmatch(entry.queue):
        raise UnsafeValueError("queue", "not a plain queue name")
    agent = entry.agent or ""
    if agent and not _AGENT.fullmatch(agent):
        raise UnsafeValueError("agent", "not a plain agent id")
    variables = {
        OUT_CALLID_VAR: node_callid,
        OUT_QUEUE_VAR: entry.queue,
        OUT_SEQ_VAR: str(entry.seq),
        OUT_AGENT_VAR: agent,
        "CALLCTL_TRUNK": trunk,
        "CALLCTL_RING_S": str(ring_s),
    }
    if trunk_host is not None:
        variables["CALLCTL_TRUNK_HOST"] = trunk_host
    return variables


def forbidden_until(calendar: CallbackCalendar, now: datetime) -> datetime | None:
    """The end of the forbidden window ``now`` is in, or None when calling is allowed."""
    allowed = calendar.next_allowed(now)
    return None if allowed <= now else allowed


@dataclass
class OutboundSurveys:
    pool: Pool
    settings: Settings
    routing: RoutingService
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def place(self, node: str, callid: str) -> SurveyCall:
        known, entry = await surveyed_entry(self.pool, node, callid)
        if not known:
            raise SurveyCallError(404, "surveys.call_not_found", f"no call {callid} on {node}")
        if entry is None:
            raise SurveyCallError(
                409,
                "surveys.not_surveyable",
                f"call {callid}: no finished answered entry, or already surveyed",
            )
        model = await self.routing.model_in_force()
        line = next((ln for ln in model.lines if ln.number == entry.line), None)
        if line is None or line.survey is None:
            raise SurveyCallError(
                409, "surveys.no_survey", f"call {callid}: its line {entry.line} has no survey"
            )
        try:
            number = check_number(entry.caller_num or "", "caller_num")
        except InvalidTargetError as exc:
            raise SurveyCallError(
                409, "surveys.number_not_allowed", f"call {callid}: {exc}", {"field": "caller_num"}
            ) from None
        calendar = (await callbacks_repository.calendars(self.pool)).get(
            line.number, CallbackCalendar()
        )
        now = self.clock()
        until = forbidden_until(calendar, now)
        if until is not None:
            raise SurveyCallError(
                409,
                "surveys.forbidden_hours",
                f"line {line.number}: no calls to citizens now (forbidden hours until "
                f"{until.isoformat()})",
                {"allowed_from": until.isoformat()},
            )
        trunk, host = self.settings.callback_trunk, self.settings.callback_trunk_host
        if trunk is None:
            if model.outbound is None:
                raise SurveyCallError(409, "surveys.no_trunk", "no outbound trunk is configured")
            trunk, host = model.outbound.name, None
        try:
            variables = survey_variables(callid, entry, trunk, host, self.settings.callback_ring_s)
        except UnsafeValueError as exc:
            raise SurveyCallError(409, "surveys.unsafe_facts", str(exc)) from None
        channel_id = f"callctl-sv-{secrets.token_hex(6)}"
        action = actions.originate_to_extension(
            f"Local/{number}@{OUT_DIAL_CONTEXT}",
            outbound_survey_context(line.number),
            "s",
            timeout_ms=(self.settings.callback_ring_s + 5) * 1000,
            caller_id_name="回访测评",
            channel_id=channel_id,
            variables=variables,
        )
        await self._send(node, action)
        return SurveyCall(node, callid, entry.queue, entry.seq, line.number, channel_id)

    def _ami_node(self, node: str) -> Any:
        try:
            settings = load_nodes(self.settings.nodes_file).node(node)
        except NodesConfigError as exc:
            raise SurveyCallError(503, "config.no_target", str(exc)) from None
        except KeyError:
            raise SurveyCallError(404, "node.not_found", f"no node {node!r}") from None
        return replace(settings.ami_node(), event_mask=("system",), excluded_events=())

    async def _send(self, node: str, action: actions.Action) -> None:
        conn = NodeConnection(self._ami_node(node), on_event=lambda _event: None)
        conn.start()
        try:
            try:
                await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
            except TimeoutError:
                raise SurveyCallError(
                    503, "ami.unavailable", f"Asterisk's AMI on node {node} does not answer"
                ) from None
            try:
                reply = await conn.action(action, check=False)
            except AmiError as exc:
                raise SurveyCallError(502, "ami.failed", f"Originate failed: {exc}") from None
            if not reply.ok:
                raise SurveyCallError(
                    502, "ami.failed", f"Originate refused: {reply.message or 'no reason'}"
                )
        finally:
            await conn.stop()
