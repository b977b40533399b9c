"""Apply a validated PBX model: render → check → write atomically → reload → verify.

A change goes to every node. If Asterisk on any node does not take the new config (a
reload fails, or the objects it should now hold are not there, or hold old values), the
previous files are put back and reloaded on that node and on every node already changed,
so the config in force stays the previous one everywhere; the error says which node and
why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ami import actions
from ami.connection import AmiNode, NodeConnection
from ami.errors import AmiError
from ami.events import AmiEvent, QueueParams
from ami.state import ConnectionState
from callctl.errors import ReportedError
from routing.model import PbxModel
from routing.node import NodeLayout
from routing.render import render

log = logging.getLogger(__name__)

# Modules whose config callctl renders, in reload order.
RELOAD_MODULES = ("res_pjsip.so", "app_queue.so", "pbx_config.so")
_UNSAFE_CHAR = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class ApplyError(ReportedError):
    """Applying failed; the previous config is in force."""


@dataclass(frozen=True, slots=True)
class ApplyTarget:
    """Where the config goes: the directory Asterisk reads (``etc_dir`` on this host,
    ``etc_in_asterisk`` as Asterisk names it, e.g. inside its chroot) and its AMI."""

    config_dir: Path
    etc_dir: Path
    etc_in_asterisk: str
    node: AmiNode
    reload_modules: tuple[str, ...] = RELOAD_MODULES
    layout: NodeLayout | None = None
    """The node's own directories, ports and systemname; None: the defaults, with
    ``etc_in_asterisk`` as its config directory."""

    @property
    def previous_dir(self) -> Path:
        return self.etc_dir.with_name(self.etc_dir.name + ".previous")


@dataclass(frozen=True, slots=True)
class ApplyReport:
    changed: tuple[str, ...]
    reloaded: tuple[str, ...]


AmiSession = Callable[[AmiNode], AbstractAsyncContextManager[NodeConnection]]


@asynccontextmanager
async def ami_session(node: AmiNode) -> AsyncIterator[NodeConnection]:
    """A short AMI session for one apply; 503 if Asterisk does not answer."""

    def ignore(event: AmiEvent) -> None:
        return None

    conn = NodeConnection(node, on_event=ignore)
    conn.start()
    try:
        try:
            await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        except TimeoutError:
            raise ApplyError(
                503, "ami.unavailable", f"Asterisk's AMI on {node.host}:{node.port} does not answer"
            ) from None
        yield conn
    finally:
        await conn.stop()


def check_rendered(files: dict[str, str]) -> None:
    """The rendered set is whole: no placeholder left, no control character."""
    for name, text in files.items():
        if "@@" in text:
            raise ApplyError(500, "config.render_invalid", f"{name}: placeholder left")
        if _UNSAFE_CHAR.search(text):
            raise ApplyError(500, "config.render_invalid", f"{name}: control character")


def read_set(etc: Path) -> dict[str, str]:
    if not etc.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(etc.iterdir()) if p.is_file()}


def write_set(etc: Path, files: dict[str, str]) -> tuple[str, ...]:
    """Stage every file beside its target, then rename each into place; stale files go."""
    etc.mkdir(parents=True, exist_ok=True)
    current = read_set(etc)
    changed = [name for name, text in files.items() if current.get(name) != text]
    staged: list[tuple[Path, Path]] = []
    for name in changed:
        tmp = etc / f".{name}.callctl-new"
        with tmp.open("w", encoding="utf-8") as out:
            out.write(files[name])
            out.flush()
            os.fsync(out.fileno())
        staged.append((tmp, etc / name))
    for tmp, target in staged:
        os.replace(tmp, target)
    stale = [name for name in current if name not in files]
    for name in stale:
        (etc / name).unlink()
    return tuple(sorted(changed + stale))


def keep_previous(target: ApplyTarget, files: dict[str, str]) -> None:
    """Keep the set in force beside the live directory, for a human to compare or restore."""
    write_set(target.previous_dir, files)


async def reload_modules(conn: NodeConnection, modules: tuple[str, ...]) -> list[str]:
    """Reload each module (all are tried); the failures, as messages."""
    failures: list[str] = []
    for module in modules:
        try:
            await conn.action(actions.reload(module), timeout_s=15)
        except AmiError as exc:
            failures.append(f"Asterisk did not reload {module}: {exc}")
    return failures


async def problems_in_asterisk(conn: NodeConnection, model: PbxModel) -> list[str]:
    """What Asterisk, asked over AMI, does not hold of ``model`` (empty: all there)."""
    found: list[str] = []
    queues = await conn.action(actions.queue_status(), timeout_s=15)
    params = {e.queue: e for e in queues.events if isinstance(e, QueueParams)}
    for queue in model.queues:
        running = params.get(queue.name)
        if running is None:
            found.append(f"queue {queue.name}: not loaded")
        elif running.strategy is not None and running.strategy != queue.strategy:
            found.append(
                f"queue {queue.name}: strategy is still {running.strategy}, not {queue.strategy}"
            )
    endpoints = await conn.action(actions.pjsip_show_endpoints(), timeout_s=15)
    names = {e.headers.get("ObjectName") for e in endpoints.events}
    outbound = [] if model.outbound is None else [model.outbound.name]
    for name in [t.name for t in model.trunks] + outbound + [a.agent_id for a in model.agents]:
        if name not in names:
            found.append(f"endpoint {name}: not loaded")
    if model.outbound is not None and model.outbound.registration:
        registrations = await conn.action(
            actions.pjsip_show_registrations_outbound(), timeout_s=15, check=False
        )
        listed = {e.headers.get("ObjectName") for e in registrations.events}
        if f"{model.outbound.name}-reg" not in listed:
            found.append(f"registration {model.outbound.name}-reg: not loaded")
    dialplan = await conn.action(actions.show_dialplan("from-trunk"), timeout_s=15, check=False)
    extensions = {e.headers.get("Extension") for e in dialplan.events}
    for line in model.lines:
        if line.number not in extensions:
            found.append(f"line {line.number}: not in the dialplan")
    return found


async def _reload_and_check(
    conn: NodeConnection, model: PbxModel, modules: tuple[str, ...]
) -> list[str]:
    failures = await reload_modules(conn, modules)
    if failures:
        return failures
    problems = await problems_in_asterisk(conn, model)
    for _ in range(10):  # a reload may settle a moment after its reply
        if not problems:
            break
        await asyncio.sleep(0.2)
        problems = await problems_in_asterisk(conn, model)
    return problems


@dataclass(frozen=True, slots=True)
class NodeChange:
    """One node's part of a change: where it goes, and the model rendered for that node
    (nodes differ in their AMI user, addresses and config directory)."""

    target: ApplyTarget
    model: PbxModel
    previous_model: PbxModel | None = None


@dataclass(slots=True)
class _Applied:
    change: NodeChange
    conn: NodeConnection
    previous: dict[str, str]


async def apply_model(
    model: PbxModel,
    target: ApplyTarget,
    previous_model: PbxModel | None,
    *,
    session: AmiSession = ami_session,
) -> ApplyReport:
    """One node's change (see :func:`apply_to_nodes`)."""
    reports = await apply_to_nodes([NodeChange(target, model, previous_model)], session=session)
    return reports[0]


async def apply_to_nodes(
    changes: Sequence[NodeChange], *, session: AmiSession = ami_session
) -> list[ApplyReport]:
    """Apply to every node, or to none: sessions to all nodes are opened before any file
    is written (a node whose AMI does not answer stops the change with 503), then each
    node is changed in turn; if one refuses, it and every node already changed get their
    previous files back and reload them."""
    rendered = []
    for change in changes:
        files = render(
            change.model,
            change.target.config_dir,
            etc_dir=change.target.etc_in_asterisk,
            layout=change.target.layout,
        )
        check_rendered(files)
        rendered.append(files)
    async with AsyncExitStack() as sessions:
        conns = [await sessions.enter_async_context(session(c.target.node)) for c in changes]
        applied: list[_Applied] = []
        reports: list[ApplyReport] = []
        for change, conn, files in zip(changes, conns, rendered, strict=True):
            target = change.target
            previous = read_set(target.etc_dir)
            changed = write_set(target.etc_dir, files)
            keep_previous(target, previous)
            applied.append(_Applied(change, conn, previous))
            try:
                problems = await _reload_and_check(conn, change.model, target.reload_modules)
            except AmiError as exc:
                problems = [str(exc)]
            if problems:
                log.warning(
                    "node %s refused the config, restoring the previous one on %d node(s): %s",
                    target.node.node_id,
                    len(applied),
                    problems,
                )
                detail = await _roll_back(applied)
                raise ApplyError(
                    409,
                    "config.rejected_by_asterisk",
                    f"Asterisk on node {target.node.node_id} did not take the new config; "
                    "the previous config is in force on every node",
                    {"node": target.node.node_id, "problems": problems, **detail},
                )
            reports.append(ApplyReport(changed=changed, reloaded=target.reload_modules))
        return reports


async def _roll_back(applied: list[_Applied]) -> dict[str, object]:
    """Put back each node's previous files and reload them; what did not come back."""
    restored: list[str] = []
    reload_failures: list[str] = []
    for item in applied:  # every node's files first, then each node reloads them
        write_set(item.change.target.etc_dir, item.previous)
    for item in applied:
        target, node_id = item.change.target, item.change.target.node.node_id
        try:
            failures = await reload_modules(item.conn, target.reload_modules)
            reload_failures += [f"node {node_id}: {f}" for f in failures]
            if item.change.previous_model is not None:
                missing = await problems_in_asterisk(item.conn, item.change.previous_model)
                restored += [f"node {node_id}: {p}" for p in missing]
        except AmiError as exc:
            restored.append(f"node {node_id}: {exc}")
    return {
        "rolled_back_nodes": [a.change.target.node.node_id for a in applied],
        "previous_config_problems": restored,
        "restore_reload_failures": reload_failures,
    }
