"""Recordings: metadata, retention classes, holds, the access audit trail, QA.

``recordings`` holds one row per dual-channel recording of an answered queue entry,
keyed naturally by ``(node, file_key)`` (the raw file's name, which the dialplan
builds from the call, the queue and the agent leg), so the spool scan and the AMI
path write it idempotently. ``seq`` links it to ``queue_entries`` once that entry is
known (the scan fills it in later when the facts come after the file). A deleted
recording keeps its row with ``deleted_at``: the metadata is the record of what was
deleted.

``recording_audit`` is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE,
so not even a bug in the API can change the trail.

The QA rule for dissatisfied callers reads ``survey_answers`` (made by 0009_ivr).

Revision ID: 0010_rec
Revises: 0009_ivr
Create Date: 2026-12-03
"""

from alembic import op

revision = "0010_rec"
down_revision = "0009_ivr"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE recording_retention_classes (
        name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,39}$'),
        days        integer NOT NULL CHECK (days BETWEEN 1 AND 36500),
        label_zh    text NOT NULL DEFAULT ''
    );
    """,
    """
    INSERT INTO recording_retention_classes (name, days, label_zh)
    VALUES ('standard', 1096, '标准（3年）');
    """,
    """
    CREATE TABLE recording_line_retention (
        line        text PRIMARY KEY,
        class       text NOT NULL REFERENCES recording_retention_classes (name)
    );
    """,
    """
    CREATE TABLE recordings (
        id               bigserial PRIMARY KEY,
        node             text NOT NULL,
        file_key         text NOT NULL,
        callid           text NOT NULL,
        queue            text NOT NULL,
        seq              integer,
        line             text,
        agent            text,
        agent_uniqueid   text NOT NULL,
        started_at       timestamptz NOT NULL,
        duration_s       double precision NOT NULL CHECK (duration_s >= 0),
        channels         smallint NOT NULL,
        sample_rate      integer NOT NULL,
        codec            text NOT NULL,
        size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
        sha256           text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        location         text NOT NULL,
        retention_class  text NOT NULL,
        expires_at       timestamptz NOT NULL,
        legal_hold       boolean NOT NULL DEFAULT false,
        hold_reason      text,
        permanent        boolean NOT NULL DEFAULT false,
        permanent_reason text,
        deleted_at       timestamptz,
        source           text NOT NULL CHECK (source IN ('ami', 'scan')),
        created_at       timestamptz NOT NULL DEFAULT now(),
        UNIQUE (node, file_key)
    );
    """,
    """
    CREATE INDEX recordings_started_at ON recordings (started_at);
    """,
    """
    CREATE INDEX recordings_entry ON recordings (node, callid, queue, seq);
    """,
    """
    CREATE INDEX recordings_agent_started ON recordings (agent, started_at);
    """,
    """
    CREATE INDEX recordings_unlinked ON recordings (node, callid) WHERE seq IS NULL;
    """,
    """
    CREATE INDEX recordings_expiry ON recordings (expires_at) WHERE deleted_at IS NULL;
    """,
    """
    CREATE TABLE recording_audit (
        id            bigserial PRIMARY KEY,
        at            timestamptz NOT NULL DEFAULT now(),
        actor         text NOT NULL,
        actor_role    text NOT NULL,
        action        text NOT NULL CHECK (action IN
                          ('listen', 'download', 'export', 'hold', 'release',
                           'permanent', 'delete', 'backup')),
        recording_id  bigint NOT NULL REFERENCES recordings (id),
        remote_addr   text,
        detail        jsonb NOT NULL DEFAULT '{}'::jsonb
    );
    """,
    """
    CREATE INDEX recording_audit_recording ON recording_audit (recording_id, at);
    """,
    """
    CREATE FUNCTION recording_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'recording_audit is append-only (% refused)', TG_OP;
    END;
    $$;
    """,
    """
    CREATE TRIGGER recording_audit_no_change
    BEFORE UPDATE OR DELETE ON recording_audit
    FOR EACH ROW EXECUTE FUNCTION recording_audit_append_only();
    """,
    """
    CREATE TRIGGER recording_audit_no_truncate
    BEFORE TRUNCATE ON recording_audit
    FOR EACH STATEMENT EXECUTE FUNCTION recording_audit_append_only();
    """,
    """
    CREATE TABLE qa_sampling_rules (
        id                 bigserial PRIMARY KEY,
        line               text,
        kind               text NOT NULL CHECK (kind IN
                               ('random', 'agent', 'long', 'short', 'dissatisfied')),
        share              double precision NOT NULL DEFAULT 1.0
                               CHECK (share > 0 AND share <= 1),
        agent              text,
        threshold_s        integer CHECK (threshold_s > 0),
        dissatisfied_keys  smallint[] NOT NULL DEFAULT '{3}',
        enabled            boolean NOT NULL DEFAULT true,
        created_at         timestamptz NOT NULL DEFAULT now()
    );
    """,
    """
    CREATE TABLE qa_samples (
        recording_id  bigint NOT NULL REFERENCES recordings (id),
        rule_id       bigint NOT NULL REFERENCES qa_sampling_rules (id),
        sampled_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (recording_id, rule_id)
    );
    """,
    """
    CREATE TABLE qa_scorecards (
        id          bigserial PRIMARY KEY,
        name        text NOT NULL UNIQUE,
        items       jsonb NOT NULL,
        pass_mark   double precision NOT NULL DEFAULT 60 CHECK (pass_mark BETWEEN 0 AND 100),
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    """,
    """
    CREATE TABLE qa_scores (
        id            bigserial PRIMARY KEY,
        recording_id  bigint NOT NULL REFERENCES recordings (id),
        scorecard_id  bigint NOT NULL REFERENCES qa_scorecards (id),
        agent         text,
        scorer        text NOT NULL,
        scored_at     timestamptz NOT NULL DEFAULT now(),
        item_scores   jsonb NOT NULL,
        score         double precision NOT NULL,
        fatal         boolean NOT NULL,
        error         boolean NOT NULL,
        UNIQUE (recording_id, scorecard_id)
    );
    """,
    """
    CREATE INDEX qa_scores_agent ON qa_scores (agent, scored_at);
    """,
)

DOWNGRADE: tuple[str, ...] = (
    "DROP TABLE qa_scores;",
    "DROP TABLE qa_scorecards;",
    "DROP TABLE qa_samples;",
    "DROP TABLE qa_sampling_rules;",
    "DROP TABLE recording_audit;",
    "DROP FUNCTION recording_audit_append_only();",
    "DROP TABLE recordings;",
    "DROP TABLE recording_line_retention;",
    "DROP TABLE recording_retention_classes;",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
