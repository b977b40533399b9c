"""Agent state use cases over AMI: login, logout, pause, unpause, end ACW."""

from __future__ import annotations

from dataclasses import dataclass

from agents import agent_state
from agents.acw_watch import ACW_MARK_FAMILY
from agents.home import home_node
from ami import actions
from ami.actions import Action
from ami.connection import AmiNode, NodeConnection
from ami.errors import AmiError
from ami.events import QueueMember
from callctl.errors import ReportedError
from callctl.routing_config.apply import AmiSession, ami_session
from callctl.routing_config.service import RoutingService
from callctl.routing_config.target import nodes_config
from routing.model import Agent, PbxModel


class AgentStateError(ReportedError):
    """An agent state command was refused or failed."""


@dataclass(frozen=True, slots=True)
class MemberState:
    queue: str
    penalty: int | None
    paused: bool | None
    paused_reason: str | None
    status: int | None


@dataclass
class AgentStateService:
    routing: RoutingService
    session: AmiSession = ami_session

    async def _agent(self, agent_id: str) -> tuple[PbxModel, Agent]:
        model = await self.routing.model_in_force()
        try:
            return model, model.agent(agent_id)
        except KeyError:
            raise AgentStateError(404, "agent.not_found", f"no agent {agent_id!r}") from None

    def home(self, agent: Agent) -> AmiNode:
        """The AMI of the agent's home node (HomeNodeError, 409, when it has none).

        From the nodes file alone: a node whose config is rendered elsewhere (no
        ``config_dir``, as in compose.yaml) takes no routing change, but its agents
        are still commanded."""
        nodes = {node.node_id: node for node in nodes_config(self.routing.settings).nodes}
        return nodes[home_node(agent, tuple(nodes))].ami_node()

    async def _run(
        self,
        agent: Agent,
        commands: list[Action],
        *,
        tolerate: str | None = None,
        clear_acw_mark: bool = False,
    ) -> list[MemberState]:
        """Run ``commands`` on the agent's home node; ``clear_acw_mark``: this changes the
        pause, so the dialplan's "in ACW" mark (see extensions.conf.in, callctl-acw) no
        longer holds."""
        node = self.home(agent)
        try:
            async with self.session(node) as conn:
                for command in commands:
                    result = await conn.action(command, check=False)
                    if result.ok:
                        continue
                    if tolerate == "already" and agent_state.already_member(result.message):
                        continue
                    if tolerate == "absent" and agent_state.not_member(result.message):
                        continue
                    raise AgentStateError(
                        409,
                        "agent.action_refused",
                        f"Asterisk refused {command.name}: {result.message}",
                    )
                if clear_acw_mark:  # a missing key is fine: nothing to clear
                    await conn.action(actions.db_del(ACW_MARK_FAMILY, agent.agent_id), check=False)
                return await member_states(conn, agent)
        except AmiError as exc:
            raise AgentStateError(502, "ami.action_failed", str(exc)) from exc

    async def login(self, agent_id: str) -> list[MemberState]:
        _, agent = await self._agent(agent_id)
        return await self._run(agent, agent_state.login_actions(agent), tolerate="already")

    async def logout(self, agent_id: str) -> list[MemberState]:
        _, agent = await self._agent(agent_id)
        return await self._run(
            agent, agent_state.logout_actions(agent), tolerate="absent", clear_acw_mark=True
        )

    async def pause(self, agent_id: str, reason: str) -> list[MemberState]:
        model, agent = await self._agent(agent_id)
        try:
            action = agent_state.pause_action(model, agent, reason)
        except agent_state.UnknownPauseReasonError as exc:
            raise AgentStateError(422, exc.error_id, str(exc)) from exc
        return await self._run(agent, [action], clear_acw_mark=True)

    async def unpause(self, agent_id: str) -> list[MemberState]:
        _, agent = await self._agent(agent_id)
        return await self._run(agent, [agent_state.unpause_action(agent)], clear_acw_mark=True)

    async def end_acw(self, agent_id: str) -> list[MemberState]:
        """Unpause only if the pause in force is after-call work (409 otherwise)."""
        _, agent = await self._agent(agent_id)
        states = await self._run(agent, [])
        if not any(agent_state.is_in_acw(s.paused, s.paused_reason) for s in states):
            raise AgentStateError(409, "agent.not_in_acw", f"agent {agent_id} is not in ACW")
        action = agent_state.unpause_action(agent, agent_state.END_ACW_REASON)
        return await self._run(agent, [action], clear_acw_mark=True)


async def member_states(conn: NodeConnection, agent: Agent) -> list[MemberState]:
    result = await conn.action(actions.queue_status(member=agent.interface), timeout_s=15)
    return [
        MemberState(e.queue, e.penalty, e.paused, e.paused_reason, e.status)
        for e in result.events
        if isinstance(e, QueueMember) and e.interface == agent.interface
    ]
