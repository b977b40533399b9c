"""Facts → rows → idempotent, merging upserts (one transaction per batch).

Each fact is a whole snapshot of its entry or interval, so the later snapshot
wins on its natural key, except that it never erases what an earlier one
knew: a nullable field keeps its stored value when the new one is NULL, and
``ring_attempts`` only grows. Writing a fact twice, or replaying an older,
less complete snapshot (spool replay, queue_log reconciliation), therefore
changes nothing, and the ``WHERE ... IS DISTINCT FROM`` guard skips such no-op
updates entirely (no dead tuple, no ``updated_at`` bump).

Calls (``CallFact``) merge by other rules, because their two sources do not
know the same things: AMI sees the call's first channel from Newchannel to
Hangup, queue_log only the caller's ENTERQUEUE. ``started_at`` keeps the
earliest value written (queue_log's entry time is at or after the real start,
so it only stands in until AMI's Newchannel time arrives), ``ended_at`` the
latest, and caller number, name and line are filled in by queue_log only where
AMI has not given them, while AMI's values replace queue_log's
(``Merge.AMI_FIRST``, decided by the ``source`` of the incoming row).
``calls.source`` becomes ``ami`` once AMI wrote the call and stays so. Every
rule is commutative and idempotent: replays and out-of-order arrivals give the
same row.

The same merge is applied in Python to collapse duplicates inside one batch,
because PostgreSQL refuses an ``ON CONFLICT DO UPDATE`` that touches a row twice
in one statement.

Rows go through binary COPY into a per-connection temporary stage table, then
one ``INSERT ... SELECT ... ON CONFLICT`` per table. Times travel as epoch
seconds (bigint) and become timestamptz in SQL: cheaper than building
``datetime`` objects in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from operator import attrgetter
from typing import Any, Final

from callctl.db_types import Connection, Queryable
from callctl.facts.models import (
    AcwInterval,
    AgentSession,
    AgentStateInterval,
    CallbackTaskFact,
    CallFact,
    Fact,
    IvrStepFact,
    QueueEntryFact,
    SurveyAnswerFact,
)
from callctl.ingest.fact_codec import FactSource

Row = tuple[Any, ...]


class Merge(Enum):
    KEY = "key"
    REPLACE = "replace"
    """The newer snapshot's value (NOT NULL columns)."""
    COALESCE = "coalesce"
    """The newer value unless it is NULL."""
    GREATEST = "greatest"
    """Monotonic counters."""
    LEAST = "least"
    """The earliest known time (NULLs ignored, as SQL's LEAST does)."""
    AMI_FIRST = "ami_first"
    """Filled by any source, replaced only by AMI: queue_log never overwrites AMI."""
    SOURCE = "source"
    """Replaced with the data, but a change of source alone is not a change."""
    BEST_SOURCE = "best_source"
    """``ami`` once any snapshot came from AMI (``'ami' < 'queue_log'``: LEAST)."""
    TRUTH_SOURCE = "truth_source"
    """``queue_log`` once any snapshot came from queue_log (GREATEST)."""


_SOURCES: Final = frozenset({Merge.SOURCE, Merge.BEST_SOURCE, Merge.TRUTH_SOURCE})

_KEEP_QUEUE_LOG: Final = "(t.source = 'queue_log' AND EXCLUDED.source = 'ami')"
"""An AMI snapshot arriving after queue_log's: the stored values stand."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    stage_type: str
    merge: Merge
    is_time: bool = False

    def merged_sql(self, *, queue_log_wins: bool = False) -> str:
        new, old = f"EXCLUDED.{self.name}", f"t.{self.name}"
        if queue_log_wins and self.merge is Merge.COALESCE:
            return (
                f"CASE WHEN {_KEEP_QUEUE_LOG} THEN COALESCE({old}, {new}) "
                f"ELSE COALESCE({new}, {old}) END"
            )
        if queue_log_wins and self.merge is Merge.REPLACE:
            return f"CASE WHEN {_KEEP_QUEUE_LOG} THEN {old} ELSE {new} END"
        if self.merge is Merge.COALESCE:
            return f"COALESCE({new}, {old})"
        if self.merge in (Merge.GREATEST, Merge.TRUTH_SOURCE):
            return f"GREATEST({new}, {old})"
        if self.merge in (Merge.LEAST, Merge.BEST_SOURCE):
            return f"LEAST({new}, {old})"
        if self.merge is Merge.AMI_FIRST:
            return (
                f"CASE WHEN EXCLUDED.source = 'ami' THEN COALESCE({new}, {old}) "
                f"ELSE COALESCE({old}, {new}) END"
            )
        return new


def _col(name: str, stage_type: str, merge: Merge, *, time: bool = False) -> Column:
    return Column(name, stage_type, merge, time)


K, R, C, G, L = Merge.KEY, Merge.REPLACE, Merge.COALESCE, Merge.GREATEST, Merge.LEAST


@dataclass(frozen=True, slots=True, eq=False)
class TableSpec:
    """One fact table. Compared by identity: hashing the column tuple per fact was
    a measurable share of the writer's CPU."""

    table: str
    fact_type: type[Fact]
    columns: tuple[Column, ...]
    """Key columns first, then data columns; ``source`` (if any) last."""
    has_updated_at: bool = False
    queue_log_wins: bool = False
    """Where a row written from queue_log and a later AMI snapshot disagree, the
    stored (queue_log) value stands: queue_log is Asterisk's durable record, and
    the follower's write can land before the AMI writer's batch."""

    @property
    def stage_table(self) -> str:
        return f"callctl_stage_{self.table}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def key_length(self) -> int:
        return sum(1 for c in self.columns if c.merge is Merge.KEY)

    @property
    def has_source(self) -> bool:
        return any(c.merge in _SOURCES for c in self.columns)

    def stage_ddl(self) -> str:
        columns = ", ".join(f"{c.name} {c.stage_type}" for c in self.columns)
        # ON COMMIT DELETE ROWS: the stage is empty at the start of every batch,
        # also after a rollback, without an extra TRUNCATE round trip.
        return f"CREATE TEMP TABLE {self.stage_table} ({columns}) ON COMMIT DELETE ROWS"

    def upsert_sql(self) -> str:
        names = ", ".join(self.column_names)
        selected = ", ".join(
            f"to_timestamp({c.name})" if c.is_time else c.name for c in self.columns
        )
        keys = ", ".join(c.name for c in self.columns if c.merge is Merge.KEY)
        data = [c for c in self.columns if c.merge is not Merge.KEY]
        wins = self.queue_log_wins
        assignments = [f"{c.name} = {c.merged_sql(queue_log_wins=wins)}" for c in data]
        if self.has_updated_at:
            assignments.append("updated_at = now()")
        compared = [c for c in data if c.merge not in (Merge.SOURCE, Merge.TRUTH_SOURCE)]
        old_row = ", ".join(f"t.{c.name}" for c in compared)
        new_row = ", ".join(c.merged_sql(queue_log_wins=wins) for c in compared)
        # ORDER BY the key: every writer (the AMI writer, the queue_log follower,
        # reconcile) locks the rows of a table in the same order, so two batches
        # sharing rows wait for each other instead of deadlocking.
        return (
            f"INSERT INTO {self.table} AS t ({names}) "
            f"SELECT {selected} FROM {self.stage_table} ORDER BY {keys} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {', '.join(assignments)} "
            f"WHERE ROW({old_row}) IS DISTINCT FROM ROW({new_row})"
        )


TABLES: Final[tuple[TableSpec, ...]] = (
    TableSpec(
        "queue_entries",
        QueueEntryFact,
        (
            _col("node", "text", K),
            _col("callid", "text", K),
            _col("queue", "text", K),
            _col("seq", "integer", K),
            _col("entered_at", "bigint", R, time=True),
            _col("caller_num", "text", C),
            _col("position", "integer", C),
            _col("outcome", "text", C),
            _col("ended_wait_at", "bigint", C, time=True),
            _col("wait_s", "integer", C),
            _col("agent", "text", C),
            _col("ring_attempts", "integer", G),
            _col("talk_s", "integer", C),
            _col("hangup_side", "text", C),
            _col("completed_at", "bigint", C, time=True),
            _col("line", "text", C),
            _col("source", "text", Merge.TRUTH_SOURCE),
        ),
        has_updated_at=True,
        queue_log_wins=True,
    ),
    TableSpec(
        "agent_state_intervals",
        AgentStateInterval,
        (
            _col("node", "text", K),
            _col("agent", "text", K),
            _col("state", "text", K),
            _col("started_at", "bigint", K, time=True),
            _col("reason", "text", R),
            _col("ended_at", "bigint", C, time=True),
        ),
    ),
    TableSpec(
        "agent_sessions",
        AgentSession,
        (
            _col("node", "text", K),
            _col("agent", "text", K),
            _col("queue", "text", K),
            _col("started_at", "bigint", K, time=True),
            _col("ended_at", "bigint", C, time=True),
        ),
    ),
    TableSpec(
        "acw_intervals",
        AcwInterval,
        (
            _col("node", "text", K),
            _col("agent", "text", K),
            _col("started_at", "bigint", K, time=True),
            _col("ended_at", "bigint", C, time=True),
            _col("ended_by", "text", C),
            _col("callid", "text", C),
            _col("queue", "text", C),
            _col("seq", "integer", C),
        ),
    ),
    TableSpec(
        "calls",
        CallFact,
        (
            _col("node", "text", K),
            _col("linkedid", "text", K),
            _col("started_at", "bigint", L, time=True),
            _col("line", "text", Merge.AMI_FIRST),
            _col("caller_num", "text", Merge.AMI_FIRST),
            _col("caller_name", "text", Merge.AMI_FIRST),
            _col("ended_at", "bigint", G, time=True),
            _col("hangup_cause", "integer", C),
            _col("source", "text", Merge.BEST_SOURCE),
        ),
    ),
    TableSpec(
        "survey_answers",
        SurveyAnswerFact,
        (
            _col("node", "text", K),
            _col("callid", "text", K),
            _col("queue", "text", K),
            _col("seq", "integer", K),
            _col("answer", "smallint", R),
            # AMI's and queue_log's second of the same answer may differ by one.
            _col("answered_at", "bigint", L, time=True),
            _col("agent", "text", C),
            _col("channel", "text", R),
        ),
    ),
    TableSpec(
        "ivr_steps",
        IvrStepFact,
        (
            _col("node", "text", K),
            _col("callid", "text", K),
            _col("step", "integer", K),
            _col("line", "text", R),
            _col("flow", "text", R),
            _col("ivr_node", "text", R),
            _col("kind", "text", R),
            _col("digit", "text", C),
            _col("outcome", "text", C),
            _col("at", "bigint", L, time=True),
            _col("since_start_s", "integer", L),
        ),
    ),
    TableSpec(
        "callback_tasks",
        CallbackTaskFact,
        (
            # ``source`` here is the task's origin (a key), not the fact's ingest path.
            _col("source", "text", K),
            _col("source_ref", "text", K),
            _col("line", "text", R),
            _col("number", "text", R),
            _col("created_at", "bigint", L, time=True),
            _col("recording_path", "text", C),
        ),
    ),
)


def _row_builder(spec: TableSpec) -> Callable[[Fact, FactSource], Row]:
    names = [c.name for c in spec.columns if c.merge not in _SOURCES]
    # attrgetter with 2+ names returns a tuple in one C call: the hot path.
    getter = attrgetter(*names)
    if spec.has_source:
        return lambda fact, source: (*getter(fact), source)
    return lambda fact, _source: tuple(getter(fact))


@dataclass(frozen=True, slots=True)
class _Plan:
    spec: TableSpec
    build: Callable[[Fact, FactSource], Row]
    key_length: int


_PLANS: Final[dict[type[Fact], _Plan]] = {
    spec.fact_type: _Plan(spec, _row_builder(spec), spec.key_length) for spec in TABLES
}


def merge_rows(spec: TableSpec, older: Row, newer: Row) -> Row:
    """The Python twin of the SQL merge, for two snapshots of one key."""
    merged: list[Any] = []
    # A source column is always last (``_row_builder``).
    newer_from_ami = spec.has_source and newer[-1] == "ami"
    keep_older = spec.queue_log_wins and older[-1] == "queue_log" and newer_from_ami
    for column, old, new in zip(spec.columns, older, newer, strict=True):
        merge = column.merge
        if keep_older and merge is Merge.COALESCE:
            merged.append(new if old is None else old)
        elif keep_older and merge is Merge.REPLACE:
            merged.append(old)
        elif merge is Merge.COALESCE:
            merged.append(old if new is None else new)
        elif merge is Merge.TRUTH_SOURCE:
            merged.append(max(old, new))
        elif merge is Merge.GREATEST:
            merged.append(old if new is None else new if old is None else max(old, new))
        elif merge is Merge.LEAST or merge is Merge.BEST_SOURCE:
            merged.append(old if new is None else new if old is None else min(old, new))
        elif merge is Merge.AMI_FIRST:
            first, second = (new, old) if newer_from_ami else (old, new)
            merged.append(second if first is None else first)
        else:
            merged.append(new)
    return tuple(merged)


def collapse(facts: Iterable[tuple[Fact, FactSource]]) -> list[tuple[TableSpec, list[Row]]]:
    """Rows per table, one per natural key, duplicates merged in submission order."""
    by_type: dict[type[Fact], dict[Row, Row]] = {}
    for fact, source in facts:
        fact_type = type(fact)
        plan = _PLANS[fact_type]
        row = plan.build(fact, source)
        rows = by_type.get(fact_type)
        if rows is None:
            rows = by_type[fact_type] = {}
        key = row[: plan.key_length]
        previous = rows.get(key)
        rows[key] = row if previous is None else merge_rows(plan.spec, previous, row)
    return [
        (spec, list(by_type[spec.fact_type].values()))
        for spec in TABLES
        if spec.fact_type in by_type
    ]


async def create_stage_tables(connection: Queryable) -> None:
    """Per-connection setup (asyncpg pool ``init``): temp tables live per session."""
    for spec in TABLES:
        await connection.execute(spec.stage_ddl())


async def commit_facts(connection: Connection, facts: Iterable[tuple[Fact, FactSource]]) -> int:
    """Upsert ``facts`` in one transaction; returns the number of distinct rows.

    Inside a caller's transaction this is a savepoint, and may be called again
    in the same transaction: the stage tables are then emptied here, since
    ``ON COMMIT DELETE ROWS`` only empties them at the outer commit.
    """
    tables = collapse(facts)
    nested = connection.is_in_transaction()
    async with connection.transaction():
        for spec, rows in tables:
            await connection.copy_records_to_table(
                spec.stage_table, records=rows, columns=spec.column_names
            )
            await connection.execute(_UPSERT_SQL[spec.table])
        if nested and tables:
            await connection.execute(
                f"TRUNCATE {', '.join(spec.stage_table for spec, _ in tables)}"
            )
    return sum(len(rows) for _, rows in tables)


_UPSERT_SQL: Final[dict[str, str]] = {spec.table: spec.upsert_sql() for spec in TABLES}
