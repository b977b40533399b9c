"""The PBX model that callctl renders into Asterisk config: lines, queues, agents.

Every value is validated when the model is built, so a renderer never sees a value
that could break out of its place in a config file (newline, ``;``, ``[``, ``,``...).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_DIGITS = re.compile(r"^[0-9]{3,20}$")
_AGENT_ID = re.compile(r"^[0-9]{2,10}$")
_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=-]{12,128}$")
# A display name: letters (any script, e.g. Chinese), digits, spaces and a little
# punctuation; never quotes, separators, comment characters or control characters.
_DISPLAY = re.compile(r"^[\w .·()（）-]{1,40}$")
_RESERVED_QUEUE_NAMES = frozenset({"general"})
STRATEGIES = frozenset(
    {
        "ringall",
        "leastrecent",
        "fewestcalls",
        "random",
        "rrmemory",
        "linear",
        "wrandom",
        "rrordered",
    }
)


class ConfigValueError(ValueError):
    """A config value was refused; ``field`` names it, the message says why."""

    error_id = "config.invalid_value"

    def __init__(self, field_name: str, value: object, why: str) -> None:
        super().__init__(f"{field_name}={value!r}: {why}")
        self.field = field_name
        self.why = why


def check_name(field_name: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ConfigValueError(field_name, value, "must match [a-z][a-z0-9_-]{0,39}")
    return value


def check_digits(field_name: str, value: str) -> str:
    if not _DIGITS.fullmatch(value):
        raise ConfigValueError(field_name, value, "must be 3-20 digits")
    return value


def check_display(field_name: str, value: str) -> str:
    if not _DISPLAY.fullmatch(value):
        raise ConfigValueError(
            field_name, value, "letters, digits, spaces and .·()- only, 1-40 characters"
        )
    return value


def check_secret(field_name: str, value: str) -> str:
    if not _SECRET.fullmatch(value):
        raise ConfigValueError(field_name, "***", "12-128 characters of [A-Za-z0-9_.~+/=-]")
    return value


def check_ipv4(field_name: str, value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ConfigValueError(field_name, value, "not an IPv4 address") from exc
    return value


def check_range(field_name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ConfigValueError(field_name, value, f"must be within {low}..{high}")
    return value


@dataclass(frozen=True, slots=True)
class Queue:
    """An Asterisk queue (one per line and skill)."""

    name: str
    strategy: str = "rrmemory"
    ring_timeout_s: int = 15
    retry_s: int = 1
    service_level_s: int = 15
    max_wait_s: int = 300

    def __post_init__(self) -> None:
        check_name("queue.name", self.name)
        if self.name in _RESERVED_QUEUE_NAMES:
            raise ConfigValueError("queue.name", self.name, "reserved by queues.conf")
        if self.strategy not in STRATEGIES:
            raise ConfigValueError("queue.strategy", self.strategy, "unknown strategy")
        check_range("queue.ring_timeout_s", self.ring_timeout_s, 1, 300)
        check_range("queue.retry_s", self.retry_s, 0, 60)
        check_range("queue.service_level_s", self.service_level_s, 1, 600)
        check_range("queue.max_wait_s", self.max_wait_s, 1, 86_400)


@dataclass(frozen=True, slots=True)
class Line:
    """A service line: a dialed number (DNIS) that lands in a queue."""

    number: str
    name: str
    queue: str
    acw: bool = True

    def __post_init__(self) -> None:
        check_digits("line.number", self.number)
        check_display("line.name", self.name)
        check_name("line.queue", self.queue)


@dataclass(frozen=True, slots=True)
class Membership:
    queue: str
    penalty: int = 0

    def __post_init__(self) -> None:
        check_name("membership.queue", self.queue)
        check_range("membership.penalty", self.penalty, 0, 100)


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent seat: a PJSIP endpoint with digest auth, and its queue memberships.

    ``static_contact`` (lab only) points the AOR at a fixed SIP URI, e.g. the SIPp
    UAS that answers for many agents; real softphones register instead.
    """

    agent_id: str
    name: str
    password: str
    memberships: tuple[Membership, ...] = ()
    static_contact_ip: str | None = None
    static_contact_port: int = 5060

    def __post_init__(self) -> None:
        if not _AGENT_ID.fullmatch(self.agent_id):
            raise ConfigValueError("agent.agent_id", self.agent_id, "must be 2-10 digits")
        check_display("agent.name", self.name)
        check_secret("agent.password", self.password)
        if self.static_contact_ip is not None:
            check_ipv4("agent.static_contact_ip", self.static_contact_ip)
        check_range("agent.static_contact_port", self.static_contact_port, 1, 65535)

    @property
    def interface(self) -> str:
        return f"PJSIP/{self.agent_id}"


@dataclass(frozen=True, slots=True)
class Trunk:
    """An inbound SIP trunk identified by its source address."""

    name: str
    match_ip: str

    def __post_init__(self) -> None:
        check_name("trunk.name", self.name)
        check_ipv4("trunk.match_ip", self.match_ip)


@dataclass(frozen=True, slots=True)
class AmiUser:
    username: str
    secret: str
    permit_ip: str = "127.0.0.1"

    def __post_init__(self) -> None:
        check_name("ami.username", self.username)
        check_secret("ami.secret", self.secret)
        check_ipv4("ami.permit_ip", self.permit_ip)


@dataclass(frozen=True, slots=True)
class Network:
    ami_bind: str = "127.0.0.1"
    ami_port: int = 5038
    sip_bind: str = "127.0.0.1"
    sip_port: int = 5060

    def __post_init__(self) -> None:
        check_ipv4("network.ami_bind", self.ami_bind)
        check_ipv4("network.sip_bind", self.sip_bind)
        check_range("network.ami_port", self.ami_port, 1, 65535)
        check_range("network.sip_port", self.sip_port, 1, 65535)


@dataclass(frozen=True, slots=True)
class PbxModel:
    """Everything the renderer needs; cross-references are checked here."""

    ami: AmiUser
    network: Network = field(default_factory=Network)
    trunks: tuple[Trunk, ...] = ()
    queues: tuple[Queue, ...] = ()
    lines: tuple[Line, ...] = ()
    agents: tuple[Agent, ...] = ()

    def __post_init__(self) -> None:
        queue_names = [q.name for q in self.queues]
        _check_unique("queue.name", queue_names)
        _check_unique("line.number", [ln.number for ln in self.lines])
        _check_unique("agent.agent_id", [a.agent_id for a in self.agents])
        _check_unique("trunk.name", [t.name for t in self.trunks])
        known = set(queue_names)
        for line in self.lines:
            if line.queue not in known:
                raise ConfigValueError("line.queue", line.queue, "no such queue")
        for agent in self.agents:
            for membership in agent.memberships:
                if membership.queue not in known:
                    raise ConfigValueError("membership.queue", membership.queue, "no such queue")


def _check_unique(field_name: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigValueError(field_name, value, "duplicate")
        seen.add(value)
