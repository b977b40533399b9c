"""Request models' shared rules: unknown fields refused, labels without control or
bidi characters."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class RequestModel(BaseModel):
    """A request body: an unknown field (a typo such as ``can_see_number``) is a 422,
    never silently dropped."""

    model_config = ConfigDict(extra="forbid")


def printable(value: str) -> str:
    """Refuse control, format (bidi overrides such as U+202E, zero-width) and unassigned
    characters: Unicode categories C*."""
    for char in value:
        if unicodedata.category(char).startswith("C"):
            raise ValueError(f"control or bidi character U+{ord(char):04X} is not allowed")
    return value


Label = Annotated[str, Field(max_length=64), AfterValidator(printable)]
"""A short free text shown to people (token labels …)."""
