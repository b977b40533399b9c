"""What a username, display name and token may look like (checked before any query)."""

from __future__ import annotations

import re
import unicodedata

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
AGENT_ID_RE = re.compile(r"[0-9]{2,10}")
TOKEN_PREFIX = "cct_"
TOKEN_RE = re.compile(r"cct_[A-Za-z0-9_-]{40,64}")
DISPLAY_NAME_MAX = 64


class InvalidUserValueError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_username(value: str) -> str:
    if not USERNAME_RE.fullmatch(value):
        raise InvalidUserValueError(
            "username", "1-64 letters, digits or _ . @ - (starting with a letter or digit)"
        )
    return value


def check_agent_id(value: str | None) -> str | None:
    if value is not None and not AGENT_ID_RE.fullmatch(value):
        raise InvalidUserValueError("agent_id", "2-10 digits")
    return value


def check_display_name(value: str) -> str:
    if len(value) > DISPLAY_NAME_MAX:
        raise InvalidUserValueError("display_name", f"at most {DISPLAY_NAME_MAX} characters")
    for char in value:
        if unicodedata.category(char).startswith("C"):
            raise InvalidUserValueError("display_name", "control characters are not allowed")
    return value


def looks_like_token(value: str) -> bool:
    return TOKEN_RE.fullmatch(value) is not None
