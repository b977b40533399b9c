"""An agent's home node (agents.home): where its commands go, what a change may name,
and whom a node's restorer leaves to another node."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.home import HomeNodeError, check_home_nodes, home_node, homed_elsewhere
from agents.restore import KnownMember, MemberBook, restore_actions
from agents.service import AgentStateService
from ami.events import QueueMember, parse_event
from ami.frames import Frame
from callctl.lab.lab_model import lab_model
from callctl.routing_config.convert import Deployment, InvalidConfigError, from_model, to_model
from callctl.routing_config.service import RoutingService
from callctl.settings import Settings
from routing.model import Agent, ConfigValueError

PASSWORD = "agent-password-0123"
SECRET = "model-secret-0123456789"


def agent(home: str | None = None, agent_id: str = "1001") -> Agent:
    return Agent(agent_id=agent_id, name=f"Agent {agent_id}", password=PASSWORD, home_node=home)


def test_the_named_home_node_is_chosen_among_several() -> None:
    assert home_node(agent("b"), ("a", "b")) == "b"
    assert home_node(agent("a"), ("a", "b")) == "a"


def test_without_a_home_node_the_only_node_is_the_home() -> None:
    assert home_node(agent(), ("lab",)) == "lab"


def test_without_a_home_node_among_several_nodes_the_command_is_refused() -> None:
    with pytest.raises(HomeNodeError) as caught:
        home_node(agent(), ("a", "b"))
    assert (caught.value.status, caught.value.error_id) == (409, "agent.home_node_missing")
    assert caught.value.detail == {"field": "home_node", "agent_id": "1001"}
    assert "no home_node, and 2 nodes are configured (a, b)" in caught.value.message
    assert "PUT /api/v1/routing/agents/1001" in caught.value.message


def test_a_home_node_that_is_not_configured_is_refused_even_with_one_node() -> None:
    with pytest.raises(HomeNodeError) as caught:
        home_node(agent("c"), ("a",))
    assert caught.value.error_id == "agent.home_node_unknown"
    assert "home_node 'c' is not a configured node (a)" in caught.value.message


def test_a_change_may_name_only_configured_nodes() -> None:
    check_home_nodes([agent("a"), agent(None, "1002")], ["a", "b"])
    with pytest.raises(InvalidConfigError) as caught:
        check_home_nodes([agent("a"), agent("z", "1002")], ["a", "b"])
    assert (caught.value.where, caught.value.field) == ("agents[1002]", "agent.home_node")
    assert "not a configured node (a, b)" in caught.value.why


@pytest.mark.parametrize("bad", ["b;x", "b\nwrite=all", "", "b c", "x" * 33, "ü"])
def test_a_home_node_is_a_node_id_nothing_else(bad: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        agent(bad)
    assert caught.value.field == "agent.home_node"


def test_the_home_node_is_kept_in_the_stored_document() -> None:
    model = lab_model(SECRET, agents=2)
    doc = from_model(model)
    doc.agents[1].home_node = "b"
    back = to_model(doc, Deployment(ami=model.ami, network=model.network, trunks=model.trunks))
    assert [a.home_node for a in back.agents] == [None, "b"]
    assert from_model(back).agents[1].home_node == "b"


def test_homed_elsewhere_names_the_other_nodes_agents() -> None:
    agents = [agent("a", "1001"), agent("b", "1002"), agent(None, "1003")]
    assert homed_elsewhere(agents, "a") == {"PJSIP/1002"}
    assert homed_elsewhere(agents, "b") == {"PJSIP/1001"}


def _listed(agent_id: str, *, paused: bool, reason: str = "", dynamic: bool) -> QueueMember:
    event = parse_event(
        Frame.from_pairs(
            {
                "Event": "QueueMember",
                "Queue": "hotline",
                "Name": agent_id,
                "Location": f"PJSIP/{agent_id}",
                "StateInterface": f"PJSIP/{agent_id}",
                "Membership": "dynamic" if dynamic else "static",
                "Penalty": "0",
                "Paused": "1" if paused else "0",
                "PausedReason": reason,
            }.items()
        ),
        "a",
        0.0,
    )
    assert isinstance(event, QueueMember)
    return event


def _book(*members: QueueMember) -> dict[tuple[str, str], KnownMember]:
    book = MemberBook()
    book.resynced(members)
    return dict(book.members)


def test_a_restart_does_not_log_in_again_an_agent_homed_on_another_node() -> None:
    before = _book(
        _listed("1001", paused=False, dynamic=True),
        _listed("1002", paused=False, dynamic=True),
        _listed("1003", paused=True, reason="break", dynamic=False),
    )
    after = [_listed("1003", paused=False, dynamic=False)]
    plan = restore_actions(before, after, homed_elsewhere={"PJSIP/1002", "PJSIP/1003"})
    sent = [(a.name, a.get("Interface")) for a in plan.actions]
    # 1001 (homed here) is logged in again; 1002 (homed elsewhere) is not; 1003's
    # pause is still put back: a paused member is offered no call.
    assert sent == [("QueueAdd", "PJSIP/1001"), ("QueuePause", "PJSIP/1003")]


def test_commands_reach_a_home_node_whose_config_is_rendered_elsewhere(tmp_path: Path) -> None:
    # compose.yaml's nodes have no config_dir: no routing change reaches them, but
    # their agents' commands must (they answered 503 config.no_target before).
    secret = tmp_path / "ami"
    secret.write_text("home-test-secret-0123\n")
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(
        "".join(
            f'[[node]]\nid = "{n}"\nami_host = "10.0.0.1{i}"\nsecret_file = "{secret}"\n'
            'queue_log = { mode = "shipped" }\n'
            for i, n in enumerate(("a", "b"))
        )
    )
    service = AgentStateService(RoutingService(None, Settings(nodes_file=nodes)))
    ami = service.home(agent("b"))
    assert (ami.node_id, ami.host) == ("b", "10.0.0.11")
    with pytest.raises(HomeNodeError):
        service.home(agent())
