"""Typed errors of the lab, each with a stable id and a one-line message."""

from __future__ import annotations


class LabError(Exception):
    """A lab step failed; ``str(err)`` is the one line shown to the user."""

    error_id = "lab.failed"


class RootfsBuildError(LabError):
    error_id = "lab.rootfs_build_failed"


class AsteriskStartError(LabError):
    error_id = "lab.asterisk_start_failed"


class PostgresStartError(LabError):
    error_id = "lab.postgres_start_failed"
