"""The database URL (with its password) can come from a file, as compose secrets do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from callctl.settings import Settings


def test_database_url_is_read_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLCTL_DATABASE_URL", raising=False)
    secret = tmp_path / "database_url"
    secret.write_text("postgresql+asyncpg://callctl:pw@db:5432/callctl\n")
    monkeypatch.setenv("CALLCTL_DATABASE_URL_FILE", str(secret))
    assert Settings().database_url == "postgresql+asyncpg://callctl:pw@db:5432/callctl"


def test_the_environment_variable_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_DATABASE_URL", "postgresql+asyncpg://env@h/db")
    monkeypatch.setenv("CALLCTL_DATABASE_URL_FILE", str(tmp_path / "missing"))
    assert Settings().database_url == "postgresql+asyncpg://env@h/db"


def test_a_missing_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLCTL_DATABASE_URL", raising=False)
    monkeypatch.setenv("CALLCTL_DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match=r"CALLCTL_DATABASE_URL_FILE .*missing"):
        Settings()
