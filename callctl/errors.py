"""Errors that reach API clients as they are: an HTTP status, a stable id, a message.

Services raise subclasses of :class:`ReportedError` (applying a config, agent state
commands); the API's handler turns any of them into ``{"error": {...}}`` without
each router translating them.
"""

from __future__ import annotations


class ReportedError(Exception):
    def __init__(self, status: int, error_id: str, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.detail = detail


class SettingError(Exception):
    """A setting is missing or wrong; the message is one line naming it (the CLI exits 2)."""
