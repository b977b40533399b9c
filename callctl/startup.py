"""What `callctl serve` checks before it starts: settings, then each node's AMI login.

A missing or wrong setting, or an AMI login refused by every node, stops startup with
one line naming it (exit code 2). A node that does not answer is not an error: Asterisk
may be restarting, and the service keeps trying to reach it.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass

from ami.connection import AmiNode, NodeConnection
from ami.events import AmiEvent
from ami.state import ConnectionState
from callctl.db import DatabaseNotConfiguredError, resolve_database_url
from callctl.errors import SettingError
from callctl.nodes import NodesConfig, NodesConfigError, load_nodes
from callctl.routing_config.target import NoTargetError, initial_doc
from callctl.settings import Settings


class StartupError(SettingError):
    """Startup cannot go on; the message is one line naming the setting or the node."""


class LoginOutcome(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "authentication failed"
    TLS_FAILED = "TLS verification failed"
    NO_ANSWER = "no answer"


@dataclass(frozen=True, slots=True)
class Checked:
    database_url: str
    nodes: NodesConfig


def check_settings(settings: Settings) -> Checked:
    """The settings the service cannot start without, validated (StartupError)."""
    try:
        url = resolve_database_url(settings)
        nodes = load_nodes(settings.nodes_file)
        initial_doc(settings)
    except (DatabaseNotConfiguredError, NodesConfigError) as exc:
        raise StartupError(str(exc)) from None
    except NoTargetError as exc:
        raise StartupError(exc.message) from None
    return Checked(url, nodes)


async def try_login(node: AmiNode, timeout_s: float) -> LoginOutcome:
    """Connect and log in once to ``node`` (as the service would); how it went."""

    def ignore(event: AmiEvent) -> None:
        return None

    deadline = time.monotonic() + timeout_s
    async with NodeConnection(node, on_event=ignore) as conn:
        while time.monotonic() < deadline:
            if conn.login_refused:
                return LoginOutcome.REFUSED
            if conn.tls_failure is not None:
                return LoginOutcome.TLS_FAILED
            if conn.state in (ConnectionState.RESYNCING, ConnectionState.CONNECTED):
                return LoginOutcome.ACCEPTED
            await asyncio.sleep(0.05)
    return LoginOutcome.NO_ANSWER


async def check_logins(nodes: list[AmiNode], timeout_s: float = 8.0) -> dict[str, LoginOutcome]:
    """Every node tried at once; StartupError when every node refused the login."""
    async with asyncio.TaskGroup() as tries:
        tasks = {node.node_id: tries.create_task(try_login(node, timeout_s)) for node in nodes}
    outcomes = {node_id: task.result() for node_id, task in tasks.items()}
    if outcomes and all(o is LoginOutcome.TLS_FAILED for o in outcomes.values()):
        who = ", ".join(f'node "{n.node_id}" ({n.host}:{n.port})' for n in nodes)
        raise StartupError(
            f"CALLCTL_NODES_FILE: AMI TLS verification failed on every node: {who} "
            "(check each [node.tls] ca_file and server_hostname)"
        )
    if outcomes and all(o is LoginOutcome.REFUSED for o in outcomes.values()):
        who = ", ".join(
            f'node "{n.node_id}" (user {n.username} at {n.host}:{n.port})' for n in nodes
        )
        raise StartupError(f"CALLCTL_NODES_FILE: AMI authentication failed on every node: {who}")
    return outcomes
