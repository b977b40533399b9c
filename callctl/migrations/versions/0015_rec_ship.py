"""Recordings shipped over HTTP from each Asterisk host (``callctl recordings ship``).

- ``recordings.source`` may be ``ship`` (delivered by a node's shipper), beside ``ami``
  and ``scan`` (read from a spool callctl sees itself).
- ``recordings.raw_sha256``: the SHA-256 of the raw MixMonitor file as the node hashed
  it and callctl received it (checked end to end on upload). A second upload of the
  same name with the same raw hash is a replay, stored once; with another hash it is
  refused (409): nothing stored is ever replaced by different audio.
- ``recording_audit.action`` may be ``ingest``: which user (the node's token) delivered
  which recording from which address, the first link of the chain of custody.
- ``qa_sampling_rules.dissatisfied_keys`` may be NULL: the rule then reads the keys of
  each call's line (its survey's keys not counted as satisfied).

Revision ID: 0015_rec_ship
Revises: 0014_audit
Create Date: 2026-12-04
"""

from alembic import op

revision = "0015_rec_ship"
down_revision = "0014_audit"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    "ALTER TABLE recordings DROP CONSTRAINT recordings_source_check;",
    """
    ALTER TABLE recordings ADD CONSTRAINT recordings_source_check
        CHECK (source IN ('ami', 'scan', 'ship'));
    """,
    """
    ALTER TABLE recordings ADD COLUMN raw_sha256 text
        CHECK (raw_sha256 IS NULL OR raw_sha256 ~ '^[0-9a-f]{64}$');
    """,
    "ALTER TABLE recording_audit DROP CONSTRAINT recording_audit_action_check;",
    """
    ALTER TABLE recording_audit ADD CONSTRAINT recording_audit_action_check
        CHECK (action IN ('listen', 'download', 'export', 'hold', 'release',
                          'permanent', 'delete', 'backup', 'ingest'));
    """,
    # A dissatisfied rule without keys of its own takes its line's (the survey's keys
    # not counted as satisfied); rules stored before keep the {3} they were given.
    """
    ALTER TABLE qa_sampling_rules
        ALTER COLUMN dissatisfied_keys DROP NOT NULL,
        ALTER COLUMN dissatisfied_keys DROP DEFAULT;
    """,
)

DOWNGRADE: tuple[str, ...] = (
    "UPDATE qa_sampling_rules SET dissatisfied_keys = '{3}' WHERE dissatisfied_keys IS NULL;",
    """
    ALTER TABLE qa_sampling_rules
        ALTER COLUMN dissatisfied_keys SET DEFAULT '{3}',
        ALTER COLUMN dissatisfied_keys SET NOT NULL;
    """,
    "ALTER TABLE recording_audit DROP CONSTRAINT recording_audit_action_check;",
    """
    ALTER TABLE recording_audit ADD CONSTRAINT recording_audit_action_check
        CHECK (action IN ('listen', 'download', 'export', 'hold', 'release',
                          'permanent', 'delete', 'backup')) NOT VALID;
    """,
    "ALTER TABLE recordings DROP COLUMN raw_sha256;",
    "ALTER TABLE recordings DROP CONSTRAINT recordings_source_check;",
    """
    ALTER TABLE recordings ADD CONSTRAINT recordings_source_check
        CHECK (source IN ('ami', 'scan')) NOT VALID;
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
