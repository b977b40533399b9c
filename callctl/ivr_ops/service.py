"""Emergency notices (紧急通知): switched on and off in every node's astdb over AMI.

The dialplan reads ``DB(callctl-notice/<flag>)`` on each call (``ivr.compile``),
so a switch takes effect at the next call, with no reload. Only a flag that a
notice node of the routing config in force names can be switched.
"""

from __future__ import annotations

from dataclasses import dataclass

from ami import actions
from callctl.errors import ReportedError
from callctl.routing_config.apply import AmiSession, ami_session
from callctl.routing_config.service import RoutingService
from callctl.routing_config.target import nodes_config
from ivr.compile import NOTICE_FAMILY
from ivr.flow import NodeKind

NOTICE_ON = "on"


class UnknownNoticeError(ReportedError):
    def __init__(self, flag: str) -> None:
        super().__init__(404, "ivr.notice_not_found", f"no notice node names the flag {flag!r}")


@dataclass(frozen=True, slots=True)
class NoticeSwitched:
    flag: str
    on: bool
    nodes: list[str]


async def notice_flags(routing: RoutingService) -> list[str]:
    """Flags of the notice nodes in the routing config in force."""
    _, doc = await routing.in_force()
    return sorted(
        {n.flag for f in doc.flows for n in f.nodes if n.kind == NodeKind.NOTICE and n.flag}
    )


async def switch_notice(
    routing: RoutingService, flag: str, on: bool, *, session: AmiSession = ami_session
) -> NoticeSwitched:
    if flag not in await notice_flags(routing):
        raise UnknownNoticeError(flag)
    action = (
        actions.db_put(NOTICE_FAMILY, flag, NOTICE_ON)
        if on
        else actions.db_del(NOTICE_FAMILY, flag)
    )
    switched: list[str] = []
    # Every configured node, its config rendered by callctl (config_dir) or elsewhere.
    for node in nodes_config(routing.settings).nodes:
        async with session(node.ami_node()) as conn:
            # DBDel of a key that is not there is an error to Asterisk, not to us.
            await conn.action(action, check=on, timeout_s=5)
        switched.append(node.node_id)
    return NoticeSwitched(flag, on, switched)
