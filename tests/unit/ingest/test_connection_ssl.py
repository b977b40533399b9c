"""No TLS handshake attempt towards a database on the same host, unless the DSN asks."""

from __future__ import annotations

import pytest

from callctl.ingest.connection import ssl_option


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://callctl:pw@127.0.0.1:55432/callctl",
        "postgresql://callctl@127.0.0.2/callctl",
        "postgresql://callctl@localhost/callctl",
        "postgresql://callctl@[::1]:5432/callctl",
        "postgresql:///callctl?host=/var/run/postgresql",
        "postgresql:///callctl",
    ],
)
def test_loopback_and_unix_socket_skip_tls(dsn: str) -> None:
    assert ssl_option(dsn) is False


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://callctl@db.example.org/callctl",
        "postgresql://callctl@10.0.0.5:5432/callctl",
        # As configured: an sslmode in the DSN is asyncpg's to honour, even on loopback.
        "postgresql://callctl@127.0.0.1/callctl?sslmode=require",
        "postgresql://callctl@127.0.0.1/callctl?ssl=true",
        # One remote host among several: leave TLS to asyncpg's default.
        "postgresql://callctl@/callctl?host=127.0.0.1&host=10.0.0.5",
    ],
)
def test_remote_or_configured_left_to_asyncpg(dsn: str) -> None:
    assert ssl_option(dsn) is None
