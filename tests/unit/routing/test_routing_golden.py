"""Rendered config is pinned byte for byte; regenerate with scripts/regen-routing-golden."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.lab.golden import golden_files

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "routing_golden"
CASES = [(model, name) for model, files in golden_files().items() for name in sorted(files)]


@pytest.mark.parametrize(("model", "file_name"), CASES)
def test_rendered_file_matches_golden(model: str, file_name: str) -> None:
    expected = (GOLDEN / model / file_name).read_text(encoding="utf-8")
    actual = golden_files()[model][file_name]
    assert actual == expected, f"{model}/{file_name} differs: run scripts/regen-routing-golden"


def test_golden_dir_has_no_stale_files() -> None:
    for model, files in golden_files().items():
        assert {p.name for p in (GOLDEN / model).iterdir()} == set(files)
