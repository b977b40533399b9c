"""Agent state commands → validated AMI actions (pure): login and logout across the
agent's queues, pause with a configured reason, unpause, end after-call work."""

from __future__ import annotations

from ami import actions
from ami.actions import Action
from routing.model import ACW_REASON, Agent, PbxModel

UNPAUSE_REASON = "unpause"
END_ACW_REASON = "acw-end"


class UnknownPauseReasonError(ValueError):
    error_id = "agent.unknown_pause_reason"


def login_actions(agent: Agent) -> list[Action]:
    """One QueueAdd per membership; the member name is the agent id (queue_log's agent)."""
    return [
        actions.queue_add(
            m.queue,
            agent.interface,
            member_name=agent.agent_id,
            penalty=m.penalty,
            state_interface=agent.interface,
        )
        for m in agent.memberships
    ]


def logout_actions(agent: Agent) -> list[Action]:
    return [actions.queue_remove(m.queue, agent.interface) for m in agent.memberships]


def pause_action(model: PbxModel, agent: Agent, reason: str) -> Action:
    """Pause in every queue; only a configured reason (never ``acw``: Asterisk's own)."""
    if reason not in {r.name for r in model.pause_reasons}:
        raise UnknownPauseReasonError(f"pause reason {reason!r} is not configured")
    return actions.queue_pause(agent.interface, True, reason=reason)


def unpause_action(agent: Agent, reason: str = UNPAUSE_REASON) -> Action:
    return actions.queue_pause(agent.interface, False, reason=reason)


def is_in_acw(paused: bool | None, paused_reason: str | None) -> bool:
    return bool(paused) and paused_reason == ACW_REASON


def already_member(message: str | None) -> bool:
    """QueueAdd's error for a member that is already there: logging in twice is fine."""
    return message is not None and "already there" in message.lower()


def not_member(message: str | None) -> bool:
    return message is not None and "not there" in message.lower()
