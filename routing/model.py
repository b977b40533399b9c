"""The PBX model that callctl renders into Asterisk config: lines, queues, agents.

Every value is validated when the model is built, so a renderer never sees a value
that could break out of its place in a config file (newline, ``;``, ``[``, ``,``...).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import zoneinfo
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.flow import Flow

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_DIGITS = re.compile(r"^[0-9]{3,20}$")
_AGENT_ID = re.compile(r"^[0-9]{2,10}$")
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # as CALLCTL_NODES_FILE's node ids
_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=-]{12,128}$")
# A display name: letters (any script, e.g. Chinese), digits, spaces and a little
# punctuation; never quotes, separators, comment characters or control characters.
_DISPLAY = re.compile(r"^[\w .·()（）-]{1,40}$")
_TIMEZONE = re.compile(r"^[A-Za-z]+(?:/[A-Za-z0-9_+-]+){0,2}$")
_FILE = re.compile(r"^/[A-Za-z0-9._/-]{1,255}$")
_HOSTNAME = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_SIP_USER = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
# A provider's SIP password: no ';' (a comment in Asterisk config), quotes, spaces,
# backslashes, brackets or control characters.
_TRUNK_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=!@%^*:-]{4,128}$")
_PJSIP_RESERVED = frozenset({"global", "transport-udp", "endpoint-base"})
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_SOUND = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}(?:/[a-z0-9][a-z0-9_-]{0,63})?$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Built into the dialplan: the after-call-work pause. Never a configurable reason.
ACW_REASON = "acw"
# Queue penalties by skill: an agent's own skill at level L (1-10, 10 = expert) gives
# penalty 10 - L (band 0..9); an overflow member gets 10 more (band 10..19). A caller of
# a queue with overflow starts with QUEUE_MAX_PENALTY = OWN_BAND_MAX and is widened to
# OVERFLOW_BAND_MAX after ``Overflow.after_s`` seconds.
OWN_BAND_MAX = 9
OVERFLOW_BAND_MAX = 19
# Without overflow every member is eligible: Asterisk's own penalties top out far below.
NO_PENALTY_LIMIT = 1000
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


def check_label(field_name: str, value: str) -> str:
    return check_display(field_name, value)


def check_timezone(field_name: str, value: str) -> str:
    if not _TIMEZONE.fullmatch(value) or value not in _timezones():
        raise ConfigValueError(field_name, value, "not a known IANA time zone")
    return value


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_sound(field_name: str, value: str) -> str:
    if not _SOUND.fullmatch(value):
        raise ConfigValueError(field_name, value, "a sound file name: [a-z0-9_-], one '/' at most")
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


def check_file(field_name: str, value: str) -> str:
    """An absolute file path safe in any config file: no spaces, quotes, ';' or '..'."""
    if not _FILE.fullmatch(value) or ".." in value.split("/"):
        raise ConfigValueError(field_name, value, "an absolute path of [A-Za-z0-9._/-], no '..'")
    return value


def check_range(field_name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ConfigValueError(field_name, value, f"must be within {low}..{high}")
    return value


@dataclass(frozen=True, slots=True)
class Skill:
    """A skill agents hold at a level (e.g. 人社 social security, 卫健 health)."""

    name: str
    label: str

    def __post_init__(self) -> None:
        check_name("skill.name", self.name)
        check_label("skill.label", self.label)


@dataclass(frozen=True, slots=True)
class Overflow:
    """After ``after_s`` seconds of waiting, agents holding ``skill`` may take the call."""

    after_s: int
    skill: str

    def __post_init__(self) -> None:
        check_range("queue.overflow.after_s", self.after_s, 1, 3600)
        check_name("queue.overflow.skill", self.skill)


@dataclass(frozen=True, slots=True)
class Queue:
    """An Asterisk queue (one per line and skill).

    ``timeout_queue``: where a caller goes once ``max_wait_s`` has passed (none: the
    call ends with SIP 480, which the caller can tell from a busy line).
    """

    name: str
    strategy: str = "rrmemory"
    ring_timeout_s: int = 15
    retry_s: int = 1
    service_level_s: int = 15
    max_wait_s: int = 300
    skill: str | None = None
    overflow: Overflow | None = None
    timeout_queue: str | None = None

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
        if self.skill is not None:
            check_name("queue.skill", self.skill)
        if self.timeout_queue is not None:
            check_name("queue.timeout_queue", self.timeout_queue)
            if self.timeout_queue == self.name:
                raise ConfigValueError("queue.timeout_queue", self.timeout_queue, "itself")


@dataclass(frozen=True, slots=True)
class OpenHours:
    """Open from ``start`` to ``end`` (HH:MM, the line's local time) on ``days``."""

    days: tuple[str, ...]
    start: str
    end: str

    def __post_init__(self) -> None:
        if not self.days or any(day not in WEEKDAYS for day in self.days):
            raise ConfigValueError("line.hours.days", self.days, f"non-empty, of {WEEKDAYS}")
        if len(set(self.days)) != len(self.days):
            raise ConfigValueError("line.hours.days", self.days, "duplicate day")
        for name, value in (("line.hours.start", self.start), ("line.hours.end", self.end)):
            if not _HHMM.fullmatch(value):
                raise ConfigValueError(name, value, "must be HH:MM")
        if self.start >= self.end:
            raise ConfigValueError("line.hours.end", self.end, "must be after start")


@dataclass(frozen=True, slots=True)
class Survey:
    """A line's post-call satisfaction survey (满意度测评).

    When the agent hangs up first, the caller hears ``prompt`` and presses one of
    ``keys`` (1 满意 satisfied, 2 基本满意 basically satisfied, 3 不满意 dissatisfied
    by default); ``satisfied_keys`` are those that count as satisfied in 满意率. An
    invalid key or silence asks again, ``attempts`` times in all; a caller who hangs
    up, or never answers, leaves no answer (not "dissatisfied").
    """

    keys: tuple[int, ...] = (1, 2, 3)
    satisfied_keys: tuple[int, ...] = (1, 2)
    prompt: str = "beep"
    invalid_sound: str = "invalid"
    thanks_sound: str = "auth-thankyou"
    timeout_s: int = 6
    attempts: int = 3

    def __post_init__(self) -> None:
        for name, keys in (
            ("line.survey.keys", self.keys),
            ("line.survey.satisfied_keys", self.satisfied_keys),
        ):
            if any(not isinstance(k, int) or not 0 <= k <= 9 for k in keys):
                raise ConfigValueError(name, keys, "DTMF digits 0-9")
            if len(set(keys)) != len(keys):
                raise ConfigValueError(name, keys, "duplicate key")
        if not self.keys:
            raise ConfigValueError("line.survey.keys", self.keys, "at least one key")
        if not set(self.satisfied_keys) <= set(self.keys):
            raise ConfigValueError(
                "line.survey.satisfied_keys", self.satisfied_keys, "not all among the keys"
            )
        check_sound("line.survey.prompt", self.prompt)
        check_sound("line.survey.invalid_sound", self.invalid_sound)
        check_sound("line.survey.thanks_sound", self.thanks_sound)
        check_range("line.survey.timeout_s", self.timeout_s, 1, 30)
        check_range("line.survey.attempts", self.attempts, 1, 5)


SURVEY_REQUIRED = (
    "满意度测评须开启：本线路的考核计满意率 (survey_required) · "
    "the survey must be on: the line's assessment scores satisfaction (survey_required)"
)


@dataclass(frozen=True, slots=True)
class Line:
    """A service line: a dialed number (DNIS) that lands in a queue.

    ``survey``: the post-call survey, off when ``None``; ``survey_required``: the
    line's contract scores 满意率 (its assessment scheme does, see
    ``kpi.assessment.scheme.Scheme.requires_survey``), so a config that leaves the
    survey off is refused. ``flow``: the IVR flow its
    callers walk (``ivr.flow``; it decides hours itself), else straight to ``queue``.
    No ``hours``: open around the clock. ``holidays`` close the line all day, in its
    time zone. ACW: the agent is paused with reason ``acw`` when the call ends, and
    callctl ends a pause that exceeds ``acw_max_s``.
    """

    number: str
    name: str
    queue: str
    acw: bool = True
    acw_max_s: int = 300
    timezone: str = "Asia/Shanghai"
    hours: tuple[OpenHours, ...] = ()
    holidays: tuple[dt.date, ...] = ()
    after_hours_sound: str = "ss-noservice"
    survey: Survey | None = None
    flow: str | None = None
    survey_required: bool = False

    def __post_init__(self) -> None:
        check_digits("line.number", self.number)
        if self.survey_required and self.survey is None:
            raise ConfigValueError("line.survey", None, SURVEY_REQUIRED)
        check_display("line.name", self.name)
        check_name("line.queue", self.queue)
        check_range("line.acw_max_s", self.acw_max_s, 1, 7200)
        check_timezone("line.timezone", self.timezone)
        check_sound("line.after_hours_sound", self.after_hours_sound)
        if self.flow is not None:
            check_name("line.flow", self.flow)
        for day in self.holidays:
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise ConfigValueError("line.holidays", day, "not a date")
        if len(set(self.holidays)) != len(self.holidays):
            raise ConfigValueError("line.holidays", self.holidays, "duplicate date")


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

    Members are dynamic by default: the agent logs in (feature code or REST) and
    Asterisk keeps the membership across restarts (``persistentmembers``).
    ``static_member`` (lab) makes them permanent ``member =>`` lines instead.
    ``static_contact`` (lab only) points the AOR at a fixed SIP URI, e.g. the SIPp
    UAS that answers for many agents; real softphones register instead.
    """

    agent_id: str
    name: str
    password: str
    memberships: tuple[Membership, ...] = ()
    static_contact_ip: str | None = None
    static_contact_port: int = 5060
    static_member: bool = False
    # The node its softphone registers with, where its commands go (None: the only node).
    home_node: str | None = None

    def __post_init__(self) -> None:
        if not _AGENT_ID.fullmatch(self.agent_id):
            raise ConfigValueError("agent.agent_id", self.agent_id, "must be 2-10 digits")
        if self.home_node is not None and not _NODE_ID.fullmatch(self.home_node):
            raise ConfigValueError(
                "agent.home_node", self.home_node, "must match [A-Za-z0-9_-]{1,32}"
            )
        check_display("agent.name", self.name)
        check_secret("agent.password", self.password)
        if self.static_contact_ip is not None:
            check_ipv4("agent.static_contact_ip", self.static_contact_ip)
        check_range("agent.static_contact_port", self.static_contact_port, 1, 65535)
        _check_unique("membership.queue", [m.queue for m in self.memberships])

    @property
    def interface(self) -> str:
        return f"PJSIP/{self.agent_id}"


@dataclass(frozen=True, slots=True)
class PauseReason:
    """A reason an agent pauses for, dialed as ``*23<code>`` (e.g. 1 = 小休 break)."""

    name: str
    label_zh: str
    label_en: str
    code: int

    def __post_init__(self) -> None:
        check_name("pause_reason.name", self.name)
        if self.name == ACW_REASON or self.name.startswith(ACW_REASON + "-"):
            raise ConfigValueError("pause_reason.name", self.name, "reserved for after-call work")
        check_label("pause_reason.label_zh", self.label_zh)
        check_label("pause_reason.label_en", self.label_en)
        check_range("pause_reason.code", self.code, 1, 9)


DEFAULT_PAUSE_REASONS = (
    PauseReason("break", "小休", "Break", 1),
    PauseReason("training", "培训", "Training", 2),
    PauseReason("meeting", "会议", "Meeting", 3),
)


@dataclass(frozen=True, slots=True)
class Trunk:
    """An inbound SIP trunk identified by its source address."""

    name: str
    match_ip: str

    def __post_init__(self) -> None:
        check_name("trunk.name", self.name)
        check_ipv4("trunk.match_ip", self.match_ip)


@dataclass(frozen=True, slots=True)
class OutboundTrunk:
    """The outbound SIP trunk (外呼中继): where agents' calls, transfers to a number,
    three-way calls and callbacks go out.

    ``host``/``port``: the provider's SIP server (an IPv4 address also identifies the
    provider's inbound calls, which land in ``from-trunk`` like the inbound trunks').
    ``username``/``secret``: digest authentication, both or neither. ``registration``:
    outbound registration (needs both); ``expiration_s`` its lifetime. ``caller_id``:
    the presented number (号码) every outbound call shows; ``caller_name`` optional.
    ``max_channels``: the concurrent calls the trunk allows (caps the callback dialer).
    """

    name: str
    host: str
    caller_id: str
    port: int = 5060
    username: str | None = None
    secret: str | None = None
    registration: bool = False
    expiration_s: int = 3600
    caller_name: str | None = None
    max_channels: int = 30

    def __post_init__(self) -> None:
        check_name("outbound_trunk.name", self.name)
        if self.name in _PJSIP_RESERVED or self.name.endswith(("-auth", "-reg", "-identify")):
            raise ConfigValueError("outbound_trunk.name", self.name, "reserved in pjsip.conf")
        if not (_is_ipv4(self.host) or _HOSTNAME.fullmatch(self.host)):
            raise ConfigValueError(
                "outbound_trunk.host", self.host, "an IPv4 address or a lower-case host name"
            )
        check_range("outbound_trunk.port", self.port, 1, 65535)
        check_digits("outbound_trunk.caller_id", self.caller_id)
        if self.caller_name is not None:
            check_display("outbound_trunk.caller_name", self.caller_name)
        if self.username is not None and not _SIP_USER.fullmatch(self.username):
            raise ConfigValueError(
                "outbound_trunk.username", self.username, "1-64 of [A-Za-z0-9_.+-]"
            )
        if self.secret is not None and not _TRUNK_SECRET.fullmatch(self.secret):
            raise ConfigValueError(
                "outbound_trunk.secret", "***", "4-128 of [A-Za-z0-9_.~+/=!@%^*:-]"
            )
        if (self.username is None) != (self.secret is None):
            missing = "secret" if self.secret is None else "username"
            raise ConfigValueError(
                f"outbound_trunk.{missing}", None, "username and secret go together"
            )
        if self.registration and self.username is None:
            raise ConfigValueError(
                "outbound_trunk.registration", True, "registration needs a username and secret"
            )
        check_range("outbound_trunk.expiration_s", self.expiration_s, 60, 86_400)
        check_range("outbound_trunk.max_channels", self.max_channels, 1, 1000)

    @property
    def identifies_by_ip(self) -> bool:
        return _is_ipv4(self.host)


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


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
class AmiTlsListener:
    """AMI over TLS beside the plain listener (manager.conf ``tlsenable``), on the same
    address: the certificate and its key as files Asterisk reads (absolute paths)."""

    port: int
    cert_file: str
    key_file: str

    def __post_init__(self) -> None:
        check_range("network.ami_tls.port", self.port, 1, 65535)
        check_file("network.ami_tls.cert_file", self.cert_file)
        check_file("network.ami_tls.key_file", self.key_file)


@dataclass(frozen=True, slots=True)
class Network:
    ami_bind: str = "127.0.0.1"
    ami_port: int = 5038
    sip_bind: str = "127.0.0.1"
    sip_port: int = 5060
    ami_tls: AmiTlsListener | None = None

    def __post_init__(self) -> None:
        check_ipv4("network.ami_bind", self.ami_bind)
        check_ipv4("network.sip_bind", self.sip_bind)
        check_range("network.ami_port", self.ami_port, 1, 65535)
        check_range("network.sip_port", self.sip_port, 1, 65535)
        if self.ami_tls is not None and self.ami_tls.port == self.ami_port:
            raise ConfigValueError(
                "network.ami_tls.port", self.ami_tls.port, "must differ from the plain AMI port"
            )


@dataclass(frozen=True, slots=True)
class PbxModel:
    """Everything the renderer needs; cross-references are checked here."""

    ami: AmiUser
    network: Network = field(default_factory=Network)
    trunks: tuple[Trunk, ...] = ()
    queues: tuple[Queue, ...] = ()
    lines: tuple[Line, ...] = ()
    agents: tuple[Agent, ...] = ()
    skills: tuple[Skill, ...] = ()
    pause_reasons: tuple[PauseReason, ...] = DEFAULT_PAUSE_REASONS
    flows: tuple[Flow, ...] = ()
    prompts: tuple[str, ...] = ()
    """Prompts uploaded (``ivr.prompts``), beside Asterisk's stock sounds."""
    outbound: OutboundTrunk | None = None
    """The outbound trunk; None: no outbound calls (they end with cause 21)."""

    def __post_init__(self) -> None:
        queue_names = [q.name for q in self.queues]
        _check_unique("queue.name", queue_names)
        _check_unique("line.number", [ln.number for ln in self.lines])
        _check_unique("agent.agent_id", [a.agent_id for a in self.agents])
        _check_unique("trunk.name", [t.name for t in self.trunks])
        if self.outbound is not None and self.outbound.name in {t.name for t in self.trunks}:
            raise ConfigValueError(
                "outbound_trunk.name", self.outbound.name, "already an inbound trunk's name"
            )
        _check_unique("skill.name", [s.name for s in self.skills])
        _check_unique("pause_reason.name", [r.name for r in self.pause_reasons])
        _check_unique("pause_reason.code", [str(r.code) for r in self.pause_reasons])
        known = set(queue_names)
        skills = {s.name for s in self.skills}
        for queue in self.queues:
            if queue.skill is not None and queue.skill not in skills:
                raise ConfigValueError("queue.skill", queue.skill, "no such skill")
            if queue.overflow is not None and queue.overflow.skill not in skills:
                raise ConfigValueError(
                    "queue.overflow.skill", queue.overflow.skill, "no such skill"
                )
            if queue.timeout_queue is not None and queue.timeout_queue not in known:
                raise ConfigValueError("queue.timeout_queue", queue.timeout_queue, "no such queue")
        _check_no_timeout_cycle(self.queues)
        for line in self.lines:
            if line.queue not in known:
                raise ConfigValueError("line.queue", line.queue, "no such queue")
        for agent in self.agents:
            for membership in agent.memberships:
                if membership.queue not in known:
                    raise ConfigValueError("membership.queue", membership.queue, "no such queue")
        self._check_flows(known)

    def _check_flows(self, queues: set[str]) -> None:
        # ivr.flow builds on this module's checks: imported here, not at the top.
        from ivr.flow import check_flow

        for prompt in self.prompts:
            check_sound("prompts", prompt)
        _check_unique("flow.name", [f.name for f in self.flows])
        flows = {f.name for f in self.flows}
        for line in self.lines:
            if line.flow is not None and line.flow not in flows:
                raise ConfigValueError("line.flow", line.flow, "no such flow")
        for flow in self.flows:
            check_flow(flow, queues=queues, prompts=self.prompts)

    def flow(self, name: str) -> Flow:
        for flow in self.flows:
            if flow.name == name:
                return flow
        raise KeyError(name)

    def queue(self, name: str) -> Queue:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)

    def agent(self, agent_id: str) -> Agent:
        for agent in self.agents:
            if agent.agent_id == agent_id:
                return agent
        raise KeyError(agent_id)


def _check_no_timeout_cycle(queues: tuple[Queue, ...]) -> None:
    """A caller handed from queue to queue on timeout must eventually leave."""
    next_queue = {q.name: q.timeout_queue for q in queues}
    for start in next_queue:
        seen = {start}
        current = next_queue[start]
        while current is not None:
            if current in seen:
                raise ConfigValueError("queue.timeout_queue", current, "timeout queues form a loop")
            seen.add(current)
            current = next_queue.get(current)


def _check_unique(field_name: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigValueError(field_name, value, "duplicate")
        seen.add(value)
