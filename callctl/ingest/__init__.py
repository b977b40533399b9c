"""Ingest: AMI events → call facts → batched idempotent writes to PostgreSQL.

The write side: ``writer.FactWriter`` batches submitted facts and commits them
(``upserts`` holds the SQL and the in-batch merge); when PostgreSQL is
unreachable or the in-memory queue is full, batches go to an fsync'd on-disk
``spool`` that is drained in order later. ``fact_codec`` (de)serialises facts
for the spool; ``metrics`` holds the writer's counters.

Nothing here opens a connection at import time.
"""
