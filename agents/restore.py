"""What to put back when an Asterisk node restarts: members' logins and pauses. Pure.

Static members (``member =>`` lines in queues.conf, as the lab defines its agents)
come back from a restart logged in and **unpaused**: Asterisk keeps no state for
them. Dynamic members come back from astdb (``persistentmembers = yes``) with their
penalty, pause and pause reason as of Asterisk's last astdb write, before app_queue
takes any call. callctl keeps each member's last known state from AMI
(QueueMember* events and resync snapshots, in ``MemberBook``); when FullyBooted
shows a new Asterisk start time (``ami.boot.BootClock``), the first resync snapshot
of the new boot is compared with the state known before it and the difference is
sent back (``restore_actions``):

- a dynamic member that is missing is added again (QueueAdd, with its penalty,
  name, state interface and, in the same action, its pause and reason);
- a member that was paused and is not, or is paused for another reason, is
  paused again with its reason (QueuePause in that queue);
- a member that was available and came back paused (an astdb older than
  callctl's knowledge) is unpaused.

Members callctl did not know are left alone, and so are members whose queue
configuration dropped them. An agent whose home node (agents.home) is another node
is not logged in again here: its softphone registers there, and a login on this
node would ring a device that is not on it; its pause is still put back (a paused
member is offered no call). Every value goes through ``ami.actions``, which
refuses anything unsafe for an AMI header or a queue_log line.

If callctl heard nothing from the node for longer than ``max_silence_s`` before
the restart, its knowledge may be older than the node's own (astdb), so nothing is
restored (``RestorePlan.skipped`` says why).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from ami import actions
from ami.actions import Action
from ami.errors import AmiError
from ami.events import (
    AmiEvent,
    QueueMember,
    QueueMemberAdded,
    QueueMemberEvent,
    QueueMemberPause,
    QueueMemberRemoved,
)

DEFAULT_MAX_SILENCE_S: Final = 120.0

MemberKey = tuple[str, str]
"""(queue, interface)."""


@dataclass(frozen=True, slots=True)
class KnownMember:
    """A queue member as callctl last knew it."""

    queue: str
    interface: str
    member_name: str | None
    dynamic: bool
    paused: bool
    reason: str
    penalty: int | None = None
    state_interface: str | None = None

    @property
    def key(self) -> MemberKey:
        return (self.queue, self.interface)


def known_member(event: QueueMemberEvent) -> KnownMember:
    return KnownMember(
        queue=event.queue,
        interface=event.interface,
        member_name=event.member_name,
        dynamic=event.membership == "dynamic",
        paused=bool(event.paused),
        reason=(event.paused_reason or "") if event.paused else "",
        penalty=event.penalty,
        state_interface=event.state_interface,
    )


class MemberBook:
    """Members of one node as last known: a resync snapshot, then each change."""

    def __init__(self) -> None:
        self._members: dict[MemberKey, KnownMember] = {}

    @property
    def members(self) -> Mapping[MemberKey, KnownMember]:
        return dict(self._members)

    def resynced(self, members: Iterable[QueueMember]) -> None:
        self._members = {m.key: m for m in map(known_member, members)}

    def on_event(self, event: AmiEvent) -> None:
        if isinstance(event, QueueMemberRemoved):
            self._members.pop((event.queue, event.interface), None)
        elif isinstance(event, QueueMemberPause):
            known = self._members.get((event.queue, event.interface))
            if known is None or event.paused is None:
                self._members[(event.queue, event.interface)] = known_member(event)
            else:
                reason = (event.paused_reason or "") if event.paused else ""
                self._members[known.key] = replace(known, paused=event.paused, reason=reason)
        elif isinstance(event, QueueMemberAdded):
            self._members[(event.queue, event.interface)] = known_member(event)


@dataclass(frozen=True, slots=True)
class RestorePlan:
    actions: tuple[Action, ...] = ()
    skipped: str | None = None
    """Why nothing is restored (stale knowledge), or None."""
    refused: tuple[str, ...] = ()
    """Members whose stored values an action refused (logged, never sent)."""


def restore_actions(
    before: Mapping[MemberKey, KnownMember],
    after: Iterable[QueueMember],
    homed_elsewhere: Collection[str] = frozenset(),
) -> RestorePlan:
    """The actions that turn the members after a restart into those known before it;
    ``homed_elsewhere``: interfaces of agents whose home is another node (not re-added)."""
    now = {m.key: m for m in map(known_member, after)}
    planned: list[Action] = []
    refused: list[str] = []
    for key, was in sorted(before.items()):
        current = now.get(key)
        if current is None and was.interface in homed_elsewhere:
            continue
        try:
            action = _restore_one(was, current)
        except (AmiError, ValueError) as exc:
            refused.append(f"{was.queue}/{was.interface}: {exc}")
            continue
        if action is not None:
            planned.append(action)
    return RestorePlan(tuple(planned), refused=tuple(refused))


def _restore_one(was: KnownMember, current: KnownMember | None) -> Action | None:
    if current is None:
        if not was.dynamic:
            return None  # a static member the configuration no longer has
        return actions.queue_add(
            was.queue,
            was.interface,
            member_name=was.member_name,
            penalty=was.penalty,
            paused=was.paused,
            reason=was.reason if was.paused and was.reason else None,
            state_interface=was.state_interface,
        )
    if was.paused and (not current.paused or current.reason != was.reason):
        return actions.queue_pause(was.interface, True, queue=was.queue, reason=was.reason or None)
    if not was.paused and current.paused:
        return actions.queue_pause(was.interface, False, queue=was.queue)
    return None


def plan_after_restart(
    before: Mapping[MemberKey, KnownMember],
    after: Iterable[QueueMember],
    *,
    last_heard_at: float | None,
    restarted_at: float,
    max_silence_s: float = DEFAULT_MAX_SILENCE_S,
    homed_elsewhere: Collection[str] = frozenset(),
) -> RestorePlan:
    """``restore_actions``, unless callctl's knowledge predates the restart by too much."""
    if last_heard_at is None:
        return RestorePlan(skipped="nothing known about the node before its restart")
    silence = restarted_at - last_heard_at
    if silence > max_silence_s:
        return RestorePlan(
            skipped=f"last heard from the node {silence:.0f} s before it restarted "
            f"(more than {max_silence_s:.0f} s): its own state is newer"
        )
    return restore_actions(before, after, homed_elsewhere)
