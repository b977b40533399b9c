"""The roles a user can hold, and their labels."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    OPS = "ops"
    ADMIN = "admin"
    AUDITOR = "auditor"


ROLE_LABELS: dict[Role, dict[str, str]] = {
    Role.AGENT: {"zh-CN": "坐席", "en": "agent"},
    Role.SUPERVISOR: {"zh-CN": "班长", "en": "supervisor"},
    Role.OPS: {"zh-CN": "运维", "en": "operations"},
    Role.ADMIN: {"zh-CN": "管理员", "en": "administrator"},
    Role.AUDITOR: {"zh-CN": "审计", "en": "auditor"},
}

READERS: tuple[Role, ...] = (Role.SUPERVISOR, Role.OPS, Role.ADMIN, Role.AUDITOR)
"""Roles that may read every figure and fact (not change anything)."""
