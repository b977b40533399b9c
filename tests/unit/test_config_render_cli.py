"""``callctl config render|kamailio``: files from a routing document and a secret file;
bad input gives one line and exit code 2; the secret is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.cli import main
from callctl.lab.lab_model import lab_model
from callctl.routing_config.convert import from_model

SECRET = "cli-secret-0123456789abcdef"


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.delenv("CALLCTL_DATABASE_URL", raising=False)
    model = tmp_path / "routing.json"
    model.write_text(from_model(lab_model("model-secret-0123456789", agents=2)).model_dump_json())
    secret = tmp_path / "ami_secret"
    secret.write_text(SECRET + "\n")
    return model, secret


def test_render_writes_a_nodes_complete_config(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, secret = inputs
    out = tmp_path / "etc"
    code = main(
        [
            *("config", "render", "--out", str(out), "--node", "b", "--model", str(model)),
            *("--ami-secret-file", str(secret), "--sip-bind", "127.0.1.1"),
            *("--ami-bind", "127.0.1.1", "--trunk-ip", "127.0.0.9"),
            *("--rtp-start", "21000", "--rtp-end", "21999", "--per-node-dirs"),
        ]
    )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "asterisk.conf",
        "manager.conf",
        "pjsip.conf",
        "queues.conf",
        "extensions.conf",
        "modules.conf",
        "logger.conf",
        "rtp.conf",
    } <= names
    assert "systemname = b\n" in (out / "asterisk.conf").read_text()
    assert "bindaddr = 127.0.1.1\n" in (out / "manager.conf").read_text()
    assert f"secret = {SECRET}\n" in (out / "manager.conf").read_text()
    pjsip = (out / "pjsip.conf").read_text()
    assert "bind = 127.0.1.1:5060\n" in pjsip and "match = 127.0.0.9\n" in pjsip
    assert (out / "manager.conf").stat().st_mode & 0o007 == 0
    printed = capsys.readouterr()
    assert SECRET not in printed.out + printed.err
    assert "/var/log/asterisk-b/queue_log" in printed.out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--node", "B"], "node.system_name"),
        (["--rtp-start", "21000", "--rtp-end", "20000"], "node.rtp_end"),
        (["--sip-port", "70000"], "network.sip_port"),
    ],
)
def test_render_refuses_bad_values_in_one_line(
    inputs: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    model, secret = inputs
    args = ["config", "render", "--node", "a", "--out", str(tmp_path / "o"), "--model", str(model)]
    code = main([*args, "--ami-secret-file", str(secret), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_bad_secret_is_refused_without_being_echoed(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, secret = inputs
    secret.write_text("short\r\nEvents: on")
    args = ["config", "render", "--node", "a", "--out", str(tmp_path / "o"), "--model", str(model)]
    code = main([*args, "--ami-secret-file", str(secret)])
    err = capsys.readouterr().err
    assert code == 2 and "ami.secret" in err and "Events" not in err


def test_render_without_a_model_or_database_names_what_is_missing(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, secret = inputs
    code = main(
        [
            "config",
            "render",
            "--node",
            "a",
            "--out",
            str(tmp_path / "o"),
            "--ami-secret-file",
            str(secret),
        ]
    )
    assert code == 2
    assert "--model" in capsys.readouterr().err


def test_render_reports_a_missing_secret_file(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, _ = inputs
    args = ["config", "render", "--node", "a", "--out", str(tmp_path / "o"), "--model", str(model)]
    code = main([*args, "--ami-secret-file", str(tmp_path / "missing")])
    assert code == 2
    assert "No such file" in capsys.readouterr().err


def test_kamailio_config_names_the_nodes(tmp_path: Path) -> None:
    out = tmp_path / "kam"
    args = ["config", "kamailio", "--out", str(out), "--listen", "127.0.0.9"]
    code = main([*args, "--node", "127.0.0.1", "--node", "127.0.1.1:5070", "--run-dir", "/run/k"])
    assert code == 0
    assert "sip:127.0.1.1:5070" in (out / "dispatcher.list").read_text()
    assert f'"list_file", "{out.resolve()}/dispatcher.list"' in (out / "kamailio.cfg").read_text()


def test_render_reports_an_unreachable_database_without_its_password(
    inputs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, secret = inputs
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    monkeypatch.setenv("CALLCTL_DATABASE_URL", "postgresql+asyncpg://u:hunter2pw@127.0.0.1:9/db")
    args = ["config", "render", "--node", "a", "--out", str(tmp_path / "o")]
    code = main([*args, "--ami-secret-file", str(secret)])
    err = capsys.readouterr().err
    assert code == 2
    assert "database:" in err and "hunter2pw" not in err
    assert len(err.strip().splitlines()) == 1
