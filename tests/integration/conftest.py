"""Fixtures for tests against the real lab: AMI connection, SIPp agents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lab_node import lab_ami_node
from service_helpers import stop_leftovers

from ami.connection import AmiNode
from callctl.settings import Settings


@pytest.fixture(autouse=True)
def _no_callctl_left_running() -> Iterator[None]:
    """Stops any ``callctl serve`` the test started and its cleanup did not stop."""
    yield
    stop_leftovers()


@pytest.fixture
def ami_node(lab: Settings) -> AmiNode:
    """The lab's AMI node, configured exactly as the service configures it."""
    return lab_ami_node(lab)


@pytest.fixture
def sipp_dir(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "sipp"
    work.mkdir()
    yield work


@pytest.fixture
async def agents_uas(lab: Settings, sipp_dir: Path) -> AsyncIterator[None]:
    """The SIPp UAS answering for every lab agent: rings 1 s, talks 2 s, hangs up."""
    from callctl.lab import sipp

    proc = await sipp.start_agents(
        work_dir=sipp_dir, local_ip=lab.agents_ip, port=5060, ring_s=1.0, talk_s=2.0
    )
    try:
        yield
    finally:
        await sipp.stop_agents(proc)
