"""Masking of citizens' phone numbers for users without the right to see them."""

from __future__ import annotations


def mask_number(number: str | None) -> str | None:
    """``13812345678`` → ``138****5678``.

    Numbers of 11 characters or more (mobiles, landlines with area code) keep
    their first three and last four; 8-10 keep the last four; 5-7 the last
    two; shorter ones are hidden entirely. A mobile's middle four digits are
    always hidden, and at least half of any shorter number.
    """
    if number is None or number == "":
        return number
    n = len(number)
    if n >= 11:
        return number[:3] + "****" + number[-4:]
    if n >= 8:
        return "****" + number[-4:]
    if n >= 5:
        return "****" + number[-2:]
    return "****"
