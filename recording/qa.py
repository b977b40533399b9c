"""Quality assurance (质检), pure: which recordings a sampling rule picks, and how a
scorecard turns item marks into a score.

Rules (per line, or every line when ``line`` is None):

- ``random``: a share of the calls, picked by a hash of the rule and the recording
  (the same answer every time it is asked, so a rerun samples nothing new);
- ``agent``: a share of one agent's calls;
- ``long`` / ``short``: calls talking at least / at most ``threshold_s``;
- ``dissatisfied``: every call whose survey answer is one of the rule's
  dissatisfied keys, whatever the share; without keys of its own, those of the
  call's line (its survey's keys that do not count as satisfied: 3, 不满意, by
  default; ``recording.survey_keys``).

A scorecard's items each have a weight (the weights add up to 100) and may be
fatal (致命差错): a fatal item marked failed makes the score 0. A scored call is an
error (差错) when it has a fatal error or scores below the card's pass mark; an
agent's error rate (差错率) is errors ÷ scored calls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class RuleKind(StrEnum):
    RANDOM = "random"
    AGENT = "agent"
    LONG = "long"
    SHORT = "short"
    DISSATISFIED = "dissatisfied"


class QaError(ValueError):
    def __init__(self, error_id: str, message: str, field: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.field = field


@dataclass(frozen=True, slots=True)
class SamplingRule:
    rule_id: int
    kind: RuleKind
    line: str | None = None
    share: float = 1.0
    agent: str | None = None
    threshold_s: int | None = None
    dissatisfied_keys: tuple[int, ...] | None = None
    """None: the line's own (its survey's keys that are not satisfied; 3 by default)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    recording_key: str  # node/file_key: stable across reruns
    line: str | None
    agent: str | None
    duration_s: float
    survey_answer: int | None
    dissatisfied_keys: frozenset[int] = frozenset({3})
    """The call's line's dissatisfied survey keys (``recording.survey_keys``)."""


def draw(rule_id: int, recording_key: str) -> float:
    """A number in [0, 1) fixed for this rule and recording."""
    digest = hashlib.sha256(f"{rule_id}:{recording_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def picks(rule: SamplingRule, call: Candidate) -> bool:
    if rule.line is not None and call.line != rule.line:
        return False
    if rule.kind is RuleKind.DISSATISFIED:
        keys = call.dissatisfied_keys if rule.dissatisfied_keys is None else rule.dissatisfied_keys
        return call.survey_answer is not None and call.survey_answer in keys
    if rule.kind is RuleKind.AGENT and call.agent != rule.agent:
        return False
    if rule.kind is RuleKind.LONG and (
        rule.threshold_s is None or call.duration_s < rule.threshold_s
    ):
        return False
    if rule.kind is RuleKind.SHORT and (
        rule.threshold_s is None or call.duration_s > rule.threshold_s
    ):
        return False
    return draw(rule.rule_id, call.recording_key) < rule.share


def check_rule(rule: SamplingRule) -> None:
    if rule.kind is RuleKind.AGENT and not rule.agent:
        raise QaError("qa.rule_needs_agent", "an agent rule names its agent", "agent")
    if rule.kind in (RuleKind.LONG, RuleKind.SHORT) and rule.threshold_s is None:
        raise QaError("qa.rule_needs_threshold", "long/short rules need threshold_s", "threshold_s")
    if not 0 < rule.share <= 1:
        raise QaError("qa.bad_share", "share must be in (0, 1]", "share")
    if any(not 0 <= key <= 9 for key in rule.dissatisfied_keys or ()):
        raise QaError("qa.bad_keys", "dissatisfied keys are digits 0-9", "dissatisfied_keys")


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    label: str
    weight: float
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Scorecard:
    items: tuple[Item, ...]
    pass_mark: float = 60.0


@dataclass(frozen=True, slots=True)
class Score:
    score: float
    fatal: bool
    error: bool


def check_scorecard(card: Scorecard) -> None:
    ids = [item.item_id for item in card.items]
    if not ids:
        raise QaError("qa.empty_scorecard", "a scorecard needs items", "items")
    if len(set(ids)) != len(ids):
        raise QaError("qa.duplicate_item", "item ids must be unique", "items")
    if any(item.weight < 0 for item in card.items):
        raise QaError("qa.bad_weight", "weights are not negative", "items")
    if abs(sum(item.weight for item in card.items) - 100.0) > 1e-6:
        raise QaError("qa.weights_not_100", "item weights must add up to 100", "items")
    if not 0 <= card.pass_mark <= 100:
        raise QaError("qa.bad_pass_mark", "pass_mark is 0-100", "pass_mark")


def score(card: Scorecard, marks: dict[str, float], fatal_errors: frozenset[str]) -> Score:
    """``marks``: item id → points given (0..weight) for every item; ``fatal_errors``:
    fatal items failed."""
    items = {item.item_id: item for item in card.items}
    if set(marks) != set(items):
        missing = sorted(set(items) - set(marks))
        extra = sorted(set(marks) - set(items))
        raise QaError("qa.marks_mismatch", f"marks missing {missing}, unknown {extra}", "marks")
    for item_id, points in marks.items():
        if not 0 <= points <= items[item_id].weight:
            raise QaError(
                "qa.mark_out_of_range",
                f"item {item_id!r}: {points} not in 0..{items[item_id].weight}",
                "marks",
            )
    for item_id in fatal_errors:
        if item_id not in items or not items[item_id].fatal:
            raise QaError(
                "qa.not_fatal_item", f"item {item_id!r} is not a fatal item", "fatal_errors"
            )
    fatal = bool(fatal_errors)
    total = 0.0 if fatal else round(sum(marks.values()), 2)
    return Score(score=total, fatal=fatal, error=fatal or total < card.pass_mark)
