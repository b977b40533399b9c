"""The lab's persistent state: generated secrets and where things run."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LabState:
    ami_secret: str
    database_url: str | None = None

    @staticmethod
    def path(lab_dir: Path) -> Path:
        return lab_dir / "lab.json"

    @classmethod
    def load_or_create(cls, lab_dir: Path) -> LabState:
        """Reuse the lab's secret so a second ``lab up`` keeps clients' credentials valid."""
        path = cls.path(lab_dir)
        if path.is_file():
            data = json.loads(path.read_text())
            return cls(ami_secret=data["ami_secret"], database_url=data.get("database_url"))
        state = cls(ami_secret=secrets.token_urlsafe(24))
        state.save(lab_dir)
        return state

    @classmethod
    def load(cls, lab_dir: Path) -> LabState | None:
        path = cls.path(lab_dir)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(ami_secret=data["ami_secret"], database_url=data.get("database_url"))

    def with_database(self, url: str) -> LabState:
        return LabState(ami_secret=self.ami_secret, database_url=url)

    def save(self, lab_dir: Path) -> None:
        lab_dir.mkdir(parents=True, exist_ok=True)
        path = self.path(lab_dir)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out)
        os.replace(tmp, path)
