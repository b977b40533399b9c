"""The wheel the service image installs: callctl as a package (not ``-e``), finding its
migrations and Asterisk templates inside itself, with no lab files (``sipp/``).

Builds the wheel from a copy of the source tree (``pip wheel --no-deps``; pip fetches
the build backend from PyPI), installs it into a fresh venv whose only other path is
this venv's site-packages (the dependencies; the editable install of callctl there is
not activated), and runs it from a directory outside the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(
    ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache", "test-artifacts", "var"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src") / "callctl"
    shutil.copytree(REPO, src, ignore=SKIP)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (built,) = out.glob("callctl-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel installed; returns its python."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies from this venv, after the installed wheel on sys.path.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return python


def run(python: Path, code: str, cwd: Path) -> str:
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=cwd, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_wheel_holds_migrations_and_templates_but_no_lab_scenarios(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "callctl/migrations/env.py" in names
    assert "callctl/migrations/script.py.mako" in names
    assert any(n.startswith("callctl/migrations/versions/0001_") for n in names)
    assert "callctl/asterisk-config/templates/asterisk.conf.in" in names
    assert "callctl/asterisk-config/static/modules.conf" in names
    assert "callctl/kamailio/kamailio.cfg.in" in names
    assert not [n for n in names if n.startswith("sipp/") or n.endswith(".xml")]


def test_installed_package_finds_its_data_outside_the_repo(installed: Path, tmp_path: Path) -> None:
    out = run(
        installed,
        "import callctl, callctl.db as db, callctl.settings as s\n"
        "print(callctl.__file__)\n"
        "print(db.MIGRATIONS_DIR)\n"
        "print(s.Settings().asterisk_config_dir)\n"
        "print(sorted(p.name for p in (db.MIGRATIONS_DIR / 'versions').glob('0*.py')))\n",
        cwd=tmp_path,
    )
    package_file, migrations, templates, versions = out.splitlines()
    prefix = str(installed.parent.parent)
    assert package_file.startswith(prefix) and not package_file.startswith(str(REPO))
    assert migrations.startswith(prefix) and templates.startswith(prefix)
    assert (Path(templates) / "templates" / "pjsip.conf.in").is_file()
    assert "0001_call_facts.py" in versions


def test_installed_migrate_and_config_render_run(installed: Path, tmp_path: Path) -> None:
    script = installed.parent / "callctl"
    help_text = subprocess.run(
        [str(script), "migrate", "--help"], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout
    assert "revision" in help_text
    # Alembic sees every revision of the installed migrations (no database needed).
    heads = run(
        installed,
        "from alembic.script import ScriptDirectory\n"
        "from callctl.db import alembic_config\n"
        "print(ScriptDirectory.from_config(alembic_config('postgresql://x/y')).get_heads())\n",
        cwd=tmp_path,
    )
    from alembic.script import ScriptDirectory

    from callctl.db import alembic_config

    source_heads = ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_heads()
    assert heads.strip() == str(source_heads)
    model = tmp_path / "routing.json"
    model.write_text(
        '{"queues": [{"name": "hotline"}], "lines": [{"number": "12345", "name": "12345 热线",'
        ' "queue": "hotline"}]}'
    )
    secret = tmp_path / "ami_secret"
    secret.write_text("installed-secret-0123456789\n")
    done = subprocess.run(
        [
            str(script),
            "config",
            "render",
            "--out",
            str(tmp_path / "etc"),
            "--node",
            "a",
            "--model",
            str(model),
            "--ami-secret-file",
            str(secret),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[hotline]" in (tmp_path / "etc" / "queues.conf").read_text()
    assert "systemname = a" in (tmp_path / "etc" / "asterisk.conf").read_text()
