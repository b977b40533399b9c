"""IVR flows as data (语音导航): a graph of nodes a line's callers walk before a queue.

Pure and validated at construction, like ``routing.model``: a value that could break
out of its place in the dialplan is refused, and so is a graph a caller could get
stuck in. ``check_flow`` checks a flow against what the config around it offers
(queues, prompts, the emergency notices' flags) and raises ``ConfigValueError``
naming the field, e.g. ``flow.nodes[main].choices[9]``.

Node kinds:

- ``play``: a prompt, interruptible by a key or not, then ``next``;
- ``menu``: a prompt and one digit: ``choices`` digit → node; silence up to
  ``timeouts`` times and invalid keys up to ``invalids`` times ask again, after
  which the caller goes to ``default``;
- ``language``: sets the channel's language (zh, en), then ``next``;
- ``notice``: the emergency notice ``flag``: played only while ops have it on
  (astdb, switched over AMI without a reload), then ``next``;
- ``hours``: the line's business hours and holidays: ``open`` or ``closed``;
- ``queue``: into a queue (the end of the flow);
- ``message``: records a message after ``prompt`` (留言, a callback task), ends;
- ``hangup``: ends.

A flow also bounds the walk: a caller who never presses a key can circle through a
menu's default branch forever, so each node a call enters counts, and past
``max_steps`` the call leaves for ``on_limit`` (a queue or hangup node), after
``limit_prompt`` if one is set, or is hung up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from routing.model import ConfigValueError, check_name, check_range, check_sound

LANGUAGES = frozenset({"zh", "en"})
STOCK_PROMPTS = frozenset(
    {
        "beep",
        "invalid",
        "auth-thankyou",
        "goodbye",
        "ss-noservice",
        "please-try-again",
        "one-moment-please",
        "vm-intro",
        "vm-press",
        "queue-thankyou",
        "pbx-invalid",
    }
)
"""Sounds of Debian's asterisk-core-sounds-en-gsm a flow may name without uploading."""


class NodeKind(StrEnum):
    PLAY = "play"
    MENU = "menu"
    LANGUAGE = "language"
    NOTICE = "notice"
    HOURS = "hours"
    QUEUE = "queue"
    MESSAGE = "message"
    HANGUP = "hangup"


TERMINAL = frozenset({NodeKind.QUEUE, NodeKind.MESSAGE, NodeKind.HANGUP})
LIMIT_TARGETS = frozenset({NodeKind.QUEUE, NodeKind.HANGUP})
"""Kinds ``on_limit`` may name: ends that need nothing more from the caller."""
MAX_STEPS_RANGE = (1, 200)
_DIGITS = "0123456789*#"


@dataclass(frozen=True, slots=True)
class FlowNode:
    """One node; which fields matter depends on ``kind`` (see the module doc)."""

    id: str
    kind: NodeKind
    prompt: str | None = None
    next: str | None = None
    interruptible: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    timeout_s: int = 5
    timeouts: int = 3
    invalids: int = 3
    default: str | None = None
    language: str | None = None
    flag: str | None = None
    open: str | None = None
    closed: str | None = None
    queue: str | None = None
    max_s: int = 120

    def __post_init__(self) -> None:
        where = f"flow.nodes[{self.id}]"
        check_name(f"{where}.id", self.id)
        object.__setattr__(self, "kind", _kind(where, self.kind))
        if self.prompt is not None:
            check_sound(f"{where}.prompt", self.prompt)
        for name in ("next", "default", "open", "closed"):
            value = getattr(self, name)
            if value is not None:
                check_name(f"{where}.{name}", value)
        for digit, target in self.choices:
            if len(digit) != 1 or digit not in _DIGITS:
                raise ConfigValueError(f"{where}.choices", digit, "one of 0-9 * #")
            check_name(f"{where}.choices[{digit}]", target)
        if len({d for d, _ in self.choices}) != len(self.choices):
            raise ConfigValueError(f"{where}.choices", self.choices, "duplicate digit")
        check_range(f"{where}.timeout_s", self.timeout_s, 1, 30)
        check_range(f"{where}.timeouts", self.timeouts, 1, 5)
        check_range(f"{where}.invalids", self.invalids, 1, 5)
        check_range(f"{where}.max_s", self.max_s, 5, 600)
        if self.flag is not None:
            check_name(f"{where}.flag", self.flag)
        if self.queue is not None:
            check_name(f"{where}.queue", self.queue)
        self._check_required(where)

    def _check_required(self, where: str) -> None:
        required = {
            NodeKind.PLAY: ("prompt", "next"),
            NodeKind.MENU: ("prompt", "default"),
            NodeKind.LANGUAGE: ("language", "next"),
            NodeKind.NOTICE: ("flag", "prompt", "next"),
            NodeKind.HOURS: ("open", "closed"),
            NodeKind.QUEUE: ("queue",),
            NodeKind.MESSAGE: ("prompt",),
            NodeKind.HANGUP: (),
        }[self.kind]
        for name in required:
            if getattr(self, name) is None:
                raise ConfigValueError(f"{where}.{name}", None, f"required for a {self.kind} node")
        if self.kind is NodeKind.MENU and not self.choices:
            raise ConfigValueError(f"{where}.choices", (), "a menu needs at least one choice")
        if self.kind is NodeKind.LANGUAGE and self.language not in LANGUAGES:
            raise ConfigValueError(
                f"{where}.language", self.language, f"one of {sorted(LANGUAGES)}"
            )

    def edges(self) -> Iterator[tuple[str, str]]:
        """(field, target node) of every way out of this node."""
        for name in ("next", "default", "open", "closed"):
            value = getattr(self, name)
            if value is not None:
                yield name, value
        for digit, target in self.choices:
            yield f"choices[{digit}]", target


def _kind(where: str, kind: object) -> NodeKind:
    try:
        return NodeKind(str(kind))
    except ValueError as exc:
        raise ConfigValueError(
            f"{where}.kind", kind, f"one of {[k.value for k in NodeKind]}"
        ) from exc


@dataclass(frozen=True, slots=True)
class Flow:
    """A named IVR flow; callers start at ``start`` and enter at most ``max_steps``
    nodes before they are sent to ``on_limit`` (else hung up)."""

    name: str
    start: str
    nodes: tuple[FlowNode, ...] = field(default_factory=tuple)
    max_steps: int = 20
    on_limit: str | None = None
    limit_prompt: str | None = None

    def __post_init__(self) -> None:
        check_name("flow.name", self.name)
        check_name("flow.start", self.start)
        check_range("flow.max_steps", self.max_steps, *MAX_STEPS_RANGE)
        if self.on_limit is not None:
            check_name("flow.on_limit", self.on_limit)
        if self.limit_prompt is not None:
            check_sound("flow.limit_prompt", self.limit_prompt)
        ids = [n.id for n in self.nodes]
        seen: set[str] = set()
        for node_id in ids:
            if node_id in seen:
                raise ConfigValueError("flow.nodes.id", node_id, "duplicate node")
            seen.add(node_id)
        if self.start not in seen:
            raise ConfigValueError("flow.start", self.start, "no such node")
        for node in self.nodes:
            for name, target in node.edges():
                if target not in seen:
                    raise ConfigValueError(f"flow.nodes[{node.id}].{name}", target, "no such node")
        if self.on_limit is not None:
            if self.on_limit not in seen:
                raise ConfigValueError("flow.on_limit", self.on_limit, "no such node")
            if self.node(self.on_limit).kind not in LIMIT_TARGETS:
                raise ConfigValueError("flow.on_limit", self.on_limit, "a queue or hangup node")
        self._check_graph()
        self._check_max_steps()

    def node(self, node_id: str) -> FlowNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def _check_graph(self) -> None:
        by_id = {n.id: n for n in self.nodes}
        # The limit's fallback is a way in of its own: it may serve nothing else.
        entries = [self.start] if self.on_limit is None else [self.start, self.on_limit]
        reached = _reach(entries, lambda n: [t for _, t in by_id[n].edges()])
        for node in self.nodes:
            if node.id not in reached:
                raise ConfigValueError(f"flow.nodes[{node.id}]", node.id, "unreachable from start")
        # Loops a caller cannot leave: cycles of nodes that move on by themselves. A
        # menu breaks a cycle: the caller chooses, and its retries are bounded.
        automatic = {
            n.id: [t for _, t in n.edges()] for n in self.nodes if n.kind is not NodeKind.MENU
        }
        cycle = _find_cycle(automatic)
        if cycle is not None:
            raise ConfigValueError(
                f"flow.nodes[{cycle[0]}]", " → ".join(cycle), "loop without a way out"
            )
        # Dead ends: nodes from which no end (queue, message, hangup) can be reached.
        reverse: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for node in self.nodes:
            for _, target in node.edges():
                reverse[target].append(node.id)
        ends = [n.id for n in self.nodes if n.kind in TERMINAL]
        finishing = _reach(ends, lambda n: reverse[n])
        for node in self.nodes:
            if node.id not in finishing:
                raise ConfigValueError(
                    f"flow.nodes[{node.id}]",
                    node.id,
                    "dead end: no queue, message or hangup after it",
                )

    def _check_max_steps(self) -> None:
        """A limit that cuts every caller short is a mistake: the nodes of the shortest
        way from ``start`` to an end must fit (``_check_graph`` ensures there is one)."""
        by_id = {n.id: n for n in self.nodes}
        frontier, seen, shortest = {self.start}, {self.start}, 1
        while not any(by_id[n].kind in TERMINAL for n in frontier):
            frontier = {t for n in frontier for _, t in by_id[n].edges()} - seen
            seen |= frontier
            shortest += 1
        if self.max_steps < shortest:
            raise ConfigValueError(
                "flow.max_steps",
                self.max_steps,
                f"below the {shortest} nodes of the shortest way from start to an end",
            )


def _reach(starts: Iterable[str], follow: Callable[[str], list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(follow(current))
    return seen


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle within ``graph`` (edges leaving it ignored), as a path, or None."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        state[root] = 1
        path.append(root)
        while stack:
            current, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[current] = 2
            elif child in graph and state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif child in graph and not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph[child])))
    return None


def check_flow(flow: Flow, *, queues: Iterable[str], prompts: Iterable[str]) -> None:
    """What a flow names must exist: queues, and prompts (uploaded or stock)."""
    known_queues, known_prompts = set(queues), set(prompts) | STOCK_PROMPTS
    if flow.limit_prompt is not None and flow.limit_prompt not in known_prompts:
        raise ConfigValueError("flow.limit_prompt", flow.limit_prompt, "no such prompt")
    for node in flow.nodes:
        where = f"flow.nodes[{node.id}]"
        if node.queue is not None and node.queue not in known_queues:
            raise ConfigValueError(f"{where}.queue", node.queue, "no such queue")
        if node.prompt is not None and node.prompt not in known_prompts:
            raise ConfigValueError(f"{where}.prompt", node.prompt, "no such prompt")
