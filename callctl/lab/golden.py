"""The models whose rendered config is pinned by golden files in tests/fixtures.

``python -m callctl.lab.golden DIR`` rewrites the golden files; tests only compare,
never write, so a changed rendering is always an explicit, reviewed step.
"""

from __future__ import annotations

import sys
from pathlib import Path

from callctl.lab.lab_model import lab_model
from callctl.lab.sample_model import sample_model
from routing.model import PbxModel
from routing.render import render

GOLDEN_SECRET = "golden-secret-0123456789"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "asterisk-config"


def golden_models() -> dict[str, PbxModel]:
    return {"lab": lab_model(GOLDEN_SECRET, agents=3), "sample": sample_model(GOLDEN_SECRET)}


def golden_files(config_dir: Path = CONFIG_DIR) -> dict[str, dict[str, str]]:
    """model name → file name → text; only the templated files (static ones are copies)."""
    templated = {p.name.removesuffix(".in") for p in (config_dir / "templates").glob("*.in")}
    return {
        name: {f: text for f, text in render(model, config_dir).items() if f in templated}
        for name, model in golden_models().items()
    }


def write_golden(target: Path) -> list[Path]:
    written: list[Path] = []
    for model_name, files in golden_files().items():
        folder = target / model_name
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if stale.name not in files:
                stale.unlink()
        for file_name, text in files.items():
            path = folder / file_name
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m callctl.lab.golden tests/fixtures/routing_golden", file=sys.stderr)
        return 2
    for path in write_golden(Path(argv[0])):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
