"""Skills with levels → queue memberships with penalties (pure).

An agent holding a queue's own skill at level L (1-10, 10 = expert) joins it with
penalty ``10 - L``; an agent holding only the queue's overflow skill joins with
``20 - L``, which a caller reaches once the queue's overflow rule widens the penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.model import ConfigValueError, Membership, Queue, check_name, check_range

MAX_LEVEL = 10


@dataclass(frozen=True, slots=True)
class AgentSkill:
    skill: str
    level: int = 5

    def __post_init__(self) -> None:
        check_name("agent.skills.skill", self.skill)
        check_range("agent.skills.level", self.level, 1, MAX_LEVEL)


def memberships_for(
    skills: tuple[AgentSkill, ...], queues: tuple[Queue, ...]
) -> tuple[Membership, ...]:
    levels: dict[str, int] = {}
    for held in skills:
        if held.skill in levels:
            raise ConfigValueError("agent.skills.skill", held.skill, "duplicate")
        levels[held.skill] = held.level
    memberships: list[Membership] = []
    for queue in queues:
        if queue.skill is not None and queue.skill in levels:
            memberships.append(Membership(queue.name, MAX_LEVEL - levels[queue.skill]))
        elif queue.overflow is not None and queue.overflow.skill in levels:
            level = levels[queue.overflow.skill]
            memberships.append(Membership(queue.name, 2 * MAX_LEVEL - level))
    return tuple(memberships)
