"""Production knows nothing of the lab: no module outside callctl/lab/ (and tests)
imports ``callctl.lab`` (DESIGN.md, principle 8)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("callctl", "ami", "agents", "kpi", "routing", "ivr", "recording", "migrations")


def lab_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        if any(name == "callctl.lab" or name.startswith("callctl.lab.") for name in names):
            found.append(f"{path}:{node.lineno}")
    return found


def production_modules() -> list[Path]:
    lab = ROOT / "callctl" / "lab"
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if lab not in path.parents
    ]


def test_no_production_module_imports_the_lab() -> None:
    modules = production_modules()
    assert len(modules) > 50  # the walk found the packages
    assert [hit for path in modules for hit in lab_imports(path)] == []


def test_the_check_sees_each_way_of_importing_the_lab(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "from callctl.lab.state import LabState\n"
        "from callctl import lab\n"
        "import callctl.lab\n"
        "from callctl import settings\n"
        "def f() -> None:\n"
        "    from callctl.lab import sipp\n"
    )
    assert lab_imports(module) == [f"{module}:{n}" for n in (1, 2, 3, 6)]
