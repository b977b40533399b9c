"""Apply the QA sampling rules to recent recordings (the I/O around ``recording.qa``).

Idempotent: a recording sampled by a rule is one ``qa_samples`` row, and the
random rules draw the same number for the same recording every time. Survey
answers may come after the recording, so recordings of the last ``days`` are
looked at again on each run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import asyncpg

from recording.qa import Candidate, RuleKind, SamplingRule, picks
from recording.survey_keys import keys_for_line

_CANDIDATES = """
SELECT r.id, r.node || '/' || r.file_key AS key, r.line, r.agent, r.duration_s,
       s.answer AS survey_answer
FROM recordings r
LEFT JOIN survey_answers s
  ON s.node = r.node AND s.callid = r.callid AND s.queue = r.queue AND s.seq = r.seq
WHERE r.deleted_at IS NULL AND r.started_at >= now() - $1::interval
"""


async def sample_recordings(
    conn: asyncpg.Connection,
    *,
    days: int = 14,
    dissatisfied_by_line: Mapping[str, frozenset[int]] | None = None,
) -> list[tuple[int, int]]:
    """Sample what the enabled rules pick; the new (recording id, rule id) pairs.
    ``dissatisfied_by_line``: each surveyed line's dissatisfied keys (the routing
    config's), for the rules without keys of their own."""
    rule_rows = await conn.fetch(
        "SELECT id, kind, line, share, agent, threshold_s, dissatisfied_keys"
        " FROM qa_sampling_rules WHERE enabled ORDER BY id"
    )
    if not rule_rows:
        return []
    rules = [
        SamplingRule(
            r["id"],
            RuleKind(r["kind"]),
            r["line"],
            r["share"],
            r["agent"],
            r["threshold_s"],
            None if r["dissatisfied_keys"] is None else tuple(r["dissatisfied_keys"]),
        )
        for r in rule_rows
    ]
    calls = await conn.fetch(_CANDIDATES, timedelta(days=days))
    pairs = [
        (row["id"], rule.rule_id)
        for row in calls
        for rule in rules
        if picks(
            rule,
            Candidate(
                row["key"],
                row["line"],
                row["agent"],
                row["duration_s"],
                row["survey_answer"],
                keys_for_line(dissatisfied_by_line or {}, row["line"]),
            ),
        )
    ]
    if not pairs:
        return []
    inserted = await conn.fetch(
        "INSERT INTO qa_samples (recording_id, rule_id)"
        " SELECT * FROM unnest($1::bigint[], $2::bigint[])"
        " ON CONFLICT DO NOTHING RETURNING recording_id, rule_id",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return [(r["recording_id"], r["rule_id"]) for r in inserted]
