"""``callctl config render --ami-tls-*``: manager.conf's TLS listener, or one line and
exit code 2 for a partial or unsafe value."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.cli import main
from callctl.lab.lab_model import lab_model
from callctl.routing_config.convert import from_model


@pytest.fixture
def args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.delenv("CALLCTL_DATABASE_URL", raising=False)
    model = tmp_path / "routing.json"
    model.write_text(from_model(lab_model("model-secret-0123456789", agents=1)).model_dump_json())
    secret = tmp_path / "ami_secret"
    secret.write_text("cli-secret-0123456789abcdef\n")
    return [
        *("config", "render", "--node", "t", "--out", str(tmp_path / "etc")),
        *("--model", str(model), "--ami-secret-file", str(secret), "--ami-bind", "127.0.3.1"),
    ]


def test_tls_options_rendered_into_manager_conf(args: list[str], tmp_path: Path) -> None:
    tls = [
        "--ami-tls-port",
        "5039",
        "--ami-tls-cert",
        "/etc/k/a.crt",
        "--ami-tls-key",
        "/etc/k/a.key",
    ]
    assert main([*args, *tls]) == 0
    manager = (tmp_path / "etc" / "manager.conf").read_text()
    assert "port = 5038\n" in manager
    assert "tlsenable = yes\ntlsbindaddr = 127.0.3.1:5039\n" in manager
    assert "tlscertfile = /etc/k/a.crt\ntlsprivatekey = /etc/k/a.key\n" in manager


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        (["--ami-tls-port", "5039"], "--ami-tls-cert is missing"),
        (["--ami-tls-cert", "/k/a.crt", "--ami-tls-key", "/k/a.key"], "--ami-tls-port is missing"),
        (
            ["--ami-tls-port", "5039", "--ami-tls-cert", "/k/a.crt\n[x]", "--ami-tls-key", "/k/k"],
            "network.ami_tls.cert_file",
        ),
        (
            ["--ami-tls-port", "5038", "--ami-tls-cert", "/k/a.crt", "--ami-tls-key", "/k/k"],
            "network.ami_tls.port",
        ),
    ],
)
def test_partial_or_unsafe_tls_options_exit_2_in_one_line(
    args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tls: list[str],
    message: str,
) -> None:
    assert main([*args, *tls]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err, err
    assert not (tmp_path / "etc").exists()
