"""queue_log lines shipped from each Asterisk node, and the service's place in them.

``queue_log_lines`` holds every queue_log line a shipper read
(``callctl ship-queue-log``, or the service's in-process shipper for a local
file), once: the primary key is the line's place in its file (node, file
identity, byte offset after the line), so a line shipped again after a crash
is dropped by ``ON CONFLICT DO NOTHING``. A file is identified by its inode
and the epoch of its first line: an inode can be reused after a rotation, and
``copytruncate`` refills the same inode from offset 0. ``id`` orders the lines
of one node as they were shipped (one shipper per node, one transaction at a
time under an advisory lock), which is file order across rotations.

``queue_log_consumers`` is how far the service has folded each node's lines,
saved in the transaction that commits the facts folded from them.

Revision ID: 0008_qlog
Revises: 0007_acw
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008_qlog"
down_revision = "0007_acw"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE queue_log_lines (
        node        text NOT NULL,
        inode       bigint NOT NULL,
        file_start  bigint NOT NULL,
        end_offset  bigint NOT NULL,
        id          bigserial NOT NULL,
        logged_at   bigint,
        line        text NOT NULL,
        shipped_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (node, inode, file_start, end_offset)
    );
    """,
    """
    CREATE INDEX queue_log_lines_node_id ON queue_log_lines (node, id);
    """,
    """
    CREATE INDEX queue_log_lines_node_logged_at ON queue_log_lines (node, logged_at);
    """,
    """
    CREATE TABLE queue_log_consumers (
        node        text PRIMARY KEY,
        last_id     bigint NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    """,
)

DOWNGRADE: tuple[str, ...] = (
    """
    DROP TABLE queue_log_consumers;
    """,
    """
    DROP TABLE queue_log_lines;
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
