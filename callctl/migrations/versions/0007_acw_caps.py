"""One home for ``acw_max_s``: each line's cap in the routing config; no rollup setting.

``kpi_rollup_settings.acw_max_s`` (one cap for the whole hotline, set by nothing)
goes. Rollups are built with the line caps of the routing config in force;
``kpi_rollup_basis`` records which caps the stored rollups agree with, so that a
query with other caps reads the facts, and the refresher, seeing new caps,
marks the affected intervals dirty and rebuilds them (``kpi.rollups``). It is
written only by the refresher: a record of work done, not a setting.

Revision ID: 0007_acw
Revises: 0006_restart
Create Date: 2026-12-03
"""

from alembic import op

revision = "0007_acw"
down_revision = "0006_restart"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE kpi_rollup_basis (
        id        boolean PRIMARY KEY DEFAULT true CHECK (id),
        acw_caps  jsonb NOT NULL
    );
    """,
    # The rollups stored so far were built with the old row's one cap, for every line.
    """
    INSERT INTO kpi_rollup_basis (id, acw_caps)
    SELECT true, jsonb_build_object('by_line', '{}'::jsonb, 'default_s', acw_max_s)
    FROM kpi_rollup_settings;
    """,
    """
    DROP TABLE kpi_rollup_settings;
    """,
)

DOWNGRADE: tuple[str, ...] = (
    """
    CREATE TABLE kpi_rollup_settings (
        id         boolean PRIMARY KEY DEFAULT true CHECK (id),
        acw_max_s  integer NOT NULL CHECK (acw_max_s >= 0)
    );
    """,
    """
    INSERT INTO kpi_rollup_settings (id, acw_max_s) VALUES (true, 300);
    """,
    # Rollups built with per-line caps: rebuild them all with the one cap.
    """
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT interval_start FROM kpi_queue_rollups
    UNION SELECT interval_start FROM kpi_agent_time_rollups
    ON CONFLICT (interval_start) DO UPDATE SET gen = EXCLUDED.gen, marked_at = now();
    """,
    """
    DROP TABLE kpi_rollup_basis;
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
