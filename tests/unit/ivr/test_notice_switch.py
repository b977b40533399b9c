"""The emergency notice is switched in every configured node's astdb, whether callctl
renders the node's config (``config_dir``) or not, and only for a flag a flow names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ami import actions
from ami.actions import Action
from ami.connection import AmiNode
from callctl.ivr_ops.service import UnknownNoticeError, switch_notice
from callctl.lab.sample_model import sample_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.schemas import RoutingDoc
from callctl.routing_config.service import RoutingService
from callctl.settings import Settings
from ivr.compile import NOTICE_FAMILY

FLAG = "epidemic"  # the sample model's notice node


@dataclass
class Sent:
    actions: list[tuple[str, Action]] = field(default_factory=list)

    @asynccontextmanager
    async def session(self, node: AmiNode) -> AsyncIterator[Any]:
        sent = self

        class Connection:
            async def action(self, action: Action, **_: Any) -> None:
                sent.actions.append((node.node_id, action))

        yield Connection()


class DocInForce(RoutingService):
    async def in_force(self) -> tuple[int | None, RoutingDoc]:
        return 1, from_model(sample_model("notice-test-secret-0123"))


def routing(tmp_path: Path) -> RoutingService:
    secret = tmp_path / "ami"
    secret.write_text("notice-test-secret-0123\n")
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(
        # Node a's config rendered by callctl, node b's elsewhere (no config_dir).
        f'[[node]]\nid = "a"\nami_host = "10.0.0.11"\nsecret_file = "{secret}"\n'
        f'config_dir = "{tmp_path / "etc-a"}"\nqueue_log = {{ mode = "shipped" }}\n'
        f'[[node]]\nid = "b"\nami_host = "10.0.0.12"\nsecret_file = "{secret}"\n'
        'queue_log = { mode = "shipped" }\n'
    )
    return DocInForce(None, Settings(nodes_file=nodes))


async def test_a_notice_goes_to_every_node_with_or_without_config_dir(tmp_path: Path) -> None:
    sent = Sent()
    switched = await switch_notice(routing(tmp_path), FLAG, True, session=sent.session)
    assert switched.nodes == ["a", "b"]
    on = actions.db_put(NOTICE_FAMILY, FLAG, "on")
    assert sent.actions == [("a", on), ("b", on)]
    sent.actions.clear()
    await switch_notice(routing(tmp_path), FLAG, False, session=sent.session)
    off = actions.db_del(NOTICE_FAMILY, FLAG)
    assert sent.actions == [("a", off), ("b", off)]


async def test_a_flag_no_flow_names_is_refused_before_any_action(tmp_path: Path) -> None:
    sent = Sent()
    with pytest.raises(UnknownNoticeError):
        await switch_notice(routing(tmp_path), "nosuch", True, session=sent.session)
    assert sent.actions == []
