"""SIPp agent runs refuse credentials and feature codes that do not belong on a command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.lab import sipp


@pytest.mark.parametrize("username", ["", "1001 --x", "10\n01", "a;b", "x" * 65])
def test_sip_account_refuses_unsafe_user_names(username: str) -> None:
    with pytest.raises(sipp.SippError):
        sipp.SipAccount(username, "a-good-password")


@pytest.mark.parametrize("password", ["", "pass word", "pa\nss", "pa'ss", 'pa"ss', "x" * 129])
def test_sip_account_refuses_unsafe_passwords(password: str) -> None:
    with pytest.raises(sipp.SippError):
        sipp.SipAccount("1001", password)


def test_sip_account_hides_its_password() -> None:
    assert "secret" not in repr(sipp.SipAccount("1001", "secret-password"))


@pytest.mark.parametrize("code", ["21", "*2", "*21;x", "*12345", "*2a"])
async def test_feature_code_must_be_star_and_digits(code: str, tmp_path: Path) -> None:
    with pytest.raises(sipp.SippError):
        await sipp.dial_feature_code(
            sipp.SipAccount("1001", "a-good-password"),
            code,
            work_dir=tmp_path,
            local_ip="127.0.0.1",
            remote="127.0.0.1:5060",
        )


def test_free_udp_port_is_bindable() -> None:
    assert 0 < sipp.free_udp_port("127.0.0.1") < 65536
