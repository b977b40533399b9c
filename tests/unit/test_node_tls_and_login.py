"""A node's AMI over TLS (verified by default) and a refused login, against the
in-process fake AMI server; the startup check built on them."""

from __future__ import annotations

import dataclasses
import logging
import ssl
import subprocess
from pathlib import Path

import pytest

from ami.testing import FakeAmiServer
from callctl.nodes import NodeSettings, parse_nodes
from callctl.startup import LoginOutcome, StartupError, check_logins, try_login


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name "asterisk-a" (and its key)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=asterisk-a", "-addext", "subjectAltName=DNS:asterisk-a",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    return context


def node(port: int, secret: str = "secret", tls: str = "") -> NodeSettings:
    text = (
        f'[[node]]\nid = "a"\nami_host = "127.0.0.1"\nami_port = {port}\n'
        f'secret_env = "S"\nqueue_log = {{ mode = "shipped" }}\n{tls}'
    )
    config = parse_nodes(text, read_text=Path.read_text, environ={"S": secret}, base_dir=Path("/"))
    return config.nodes[0]


def timing() -> dict[str, float]:
    return {"backoff_base": 0.05, "backoff_cap": 0.2, "connect_timeout": 2.0}


async def test_tls_with_the_node_ca_file_logs_in(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    tls = f'[node.tls]\nca_file = "{cert}"\nserver_hostname = "asterisk-a"\n'
    async with FakeAmiServer(tls=server_context(certificate)) as server:
        settings = node(server.port, tls=tls)
        outcome = await try_login(settings.ami_node(**timing()), timeout_s=5)
        assert outcome is LoginOutcome.ACCEPTED
        assert server.logins == 1


async def test_tls_verifies_by_default_an_unknown_certificate_never_logs_in(
    certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "ami.connection")
    tls = '[node.tls]\nserver_hostname = "asterisk-a"\n'  # the system's CAs only
    async with FakeAmiServer(tls=server_context(certificate)) as server:
        settings = node(server.port, tls=tls)
        outcome = await try_login(settings.ami_node(**timing()), timeout_s=5)
        assert outcome is LoginOutcome.TLS_FAILED
        assert server.logins == 0
    assert "node a: AMI TLS verification failed" in caplog.text
    assert "certificate" in caplog.text


async def test_tls_with_a_wrong_server_name_never_logs_in(
    certificate: tuple[Path, Path],
) -> None:
    cert, _ = certificate
    tls = f'[node.tls]\nca_file = "{cert}"\nserver_hostname = "asterisk-b"\n'
    async with FakeAmiServer(tls=server_context(certificate)) as server:
        conn_node = node(server.port, tls=tls).ami_node(**timing())
        outcome = await try_login(conn_node, 5)
        assert outcome is LoginOutcome.TLS_FAILED
        assert server.logins == 0
        with pytest.raises(StartupError, match="TLS verification failed on every node"):
            await check_logins([conn_node], timeout_s=5)


async def test_a_refused_login_is_reported_as_authentication_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "ami.connection")
    async with FakeAmiServer(secret="right") as server:
        outcome = await try_login(node(server.port, "wrong").ami_node(**timing()), 5)
    assert outcome is LoginOutcome.REFUSED
    assert "node a: AMI authentication failed for user 'callctl'" in caplog.text
    assert "wrong" not in caplog.text


async def test_startup_check_fails_only_when_every_node_refuses() -> None:
    async with FakeAmiServer(secret="right") as server:
        refused = node(server.port, "wrong").ami_node(**timing())
        with pytest.raises(StartupError, match="AMI authentication failed on every node"):
            await check_logins([refused], timeout_s=5)
        accepted = node(server.port, "right").ami_node(**timing())
        second = dataclasses.replace(refused, node_id="b")
        outcomes = await check_logins([accepted, second], timeout_s=5)
    assert outcomes == {"a": LoginOutcome.ACCEPTED, "b": LoginOutcome.REFUSED}
