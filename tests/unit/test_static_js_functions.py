"""The pages' scripts declare each function once: a second ``function f`` in the same
scope replaces the first everywhere (hoisting), which once broke every wallboard figure."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "callctl" / "web" / "static"
DECLARATION = re.compile(r"^\s*(?:async\s+)?function\s+([A-Za-z_$][\w$]*)\s*\(", re.M)


@pytest.mark.parametrize("script", sorted(STATIC.glob("*.js")), ids=lambda p: p.name)
def test_each_function_is_declared_once(script: Path) -> None:
    counts = Counter(DECLARATION.findall(script.read_text(encoding="utf-8")))
    assert [name for name, n in counts.items() if n > 1] == []
