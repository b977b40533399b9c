"""Safe AMI action builders. Pure: they build values, they never send.

AMI takes CRLF *or a bare LF* as a line end, so one stray ``\\n`` in a caller name or a
pause reason would let its sender append headers or whole actions of their own. Every
value is therefore checked before an :class:`Action` exists: no control characters
(CR, LF, NUL...), at most 512 characters and a 1024-byte line, header names from a fixed
allow-list, at most 128 headers, and identifiers (queues, interfaces, channels...) that
match strict patterns. A refused value raises :class:`~ami.errors.UnsafeValueError` and
there is no action to send.

The ActionID is not chosen here: the connection stamps each send with a fresh one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from ami.errors import UnsafeValueError

MAX_VALUE_CHARS: Final = 512
MAX_LINE_BYTES: Final = 1024  # Asterisk rejects longer lines
MAX_HEADERS: Final = 128  # Asterisk ignores headers past this

ACTION_NAMES: Final = frozenset(
    {
        "Login",
        "Logoff",
        "Events",
        "Filter",
        "Ping",
        "QueueStatus",
        "QueueSummary",
        "CoreShowChannels",
        "QueueAdd",
        "QueueRemove",
        "QueuePause",
        "QueuePenalty",
        "Originate",
        "Redirect",
        "BlindTransfer",
        "Atxfer",
        "Hangup",
        "Reload",
        "PJSIPShowEndpoints",
        "PJSIPShowContacts",
        "ShowDialPlan",
        "DBDel",
        "DBPut",
        "ConfbridgeList",
        "PJSIPShowRegistrationsOutbound",
    }
)
HEADER_NAMES: Final = frozenset(
    {
        "Username",
        "Secret",
        "Events",
        "EventMask",
        "Operation",
        "MatchCriteria",
        "Filter",
        "Queue",
        "Member",
        "Interface",
        "MemberName",
        "StateInterface",
        "Penalty",
        "Paused",
        "Reason",
        "Wrapuptime",
        "Channel",
        "Context",
        "Exten",
        "Priority",
        "Application",
        "Data",
        "Timeout",
        "CallerID",
        "Variable",
        "Account",
        "Async",
        "ChannelId",
        "OtherChannelId",
        "Cause",
        "Module",
        "Extension",
        "Family",
        "Key",
        "Val",
        "ExtraChannel",
        "ExtraContext",
        "ExtraExten",
        "ExtraPriority",
        "Conference",
    }
)
EVENT_CLASSES: Final = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)
# Classes callctl needs: queue/agent/member events are "agent", channel and bridge events
# "call", UserEvent "user", FullyBooted "system". Leaving out "dialplan" drops VarSet and
# Newexten (about half of all events); "reporting" (RTCP), "cdr", "cel", "dtmf" go too.
DEFAULT_EVENT_MASK: Final = ("system", "call", "agent", "user")
# Asterisk applications an Originate may run: spying/whispering and playback, nothing that
# reaches the shell (System) or the dialplan's variables in bulk.
ORIGINATE_APPLICATIONS: Final = frozenset({"ChanSpy", "ExtenSpy", "Playback", "ConfBridge", "Wait"})

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every C0 control but TAB, and DEL
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_INTERFACE = re.compile(
    r"PJSIP/[A-Za-z0-9_.-]{1,80}|Local/[A-Za-z0-9_.+*#-]{1,80}@[A-Za-z0-9_-]{1,80}(?:/n)?"
)
_CHANNEL = re.compile(r"(?:PJSIP|Local)/[A-Za-z0-9_.@+*#-]{1,120}(?:;[12])?")
_CONTEXT = re.compile(r"[A-Za-z0-9_-]{1,80}")
_EXTEN = re.compile(r"[A-Za-z0-9_.*#+-]{1,80}")
_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNIQUE_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")
_MODULE = re.compile(r"[a-z0-9_]{1,64}(?:\.so)?")
_ASTDB_PART = re.compile(r"[A-Za-z0-9_.-]{1,80}")
_CALLER_NUMBER = re.compile(r"[0-9+*#]{0,40}")
_APP_DATA = re.compile(r"[A-Za-z0-9_./@:;,=+*#-]{0,256}")
# Text that also lands in queue_log, whose fields are '|'-separated and not escaped.
_QUEUE_LOG_UNSAFE = "|"
# Originate splits Variable values on ',' and honours quotes and backslashes; '$' would
# be expanded if the dialplan ever evaluates the value.
_VARIABLE_VALUE_UNSAFE = frozenset(',"\\$|')
_CALLER_NAME_UNSAFE = frozenset('"<>|')


@dataclass(frozen=True, slots=True)
class Action:
    """A validated AMI action: name plus ordered headers (repeatable, e.g. ``Variable``)."""

    name: str
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Re-checked here so that an Action built by hand cannot bypass the builders.
        if self.name not in ACTION_NAMES:
            raise UnsafeValueError("Action", "action not in the allow-list")
        if len(self.headers) + 2 > MAX_HEADERS:
            raise UnsafeValueError("headers", f"more than {MAX_HEADERS} headers")
        for key, value in self.headers:
            if key not in HEADER_NAMES:
                raise UnsafeValueError(key, "header not in the allow-list")
            check_text(key, value)

    def get(self, key: str) -> str | None:
        for name, value in self.headers:
            if name == key:
                return value
        return None

    def to_wire(self, action_id: str) -> bytes:
        """The bytes to write, stamped with ``action_id`` (itself checked)."""
        if not _UNIQUE_ID.fullmatch(action_id):
            raise UnsafeValueError("ActionID", "not a plain identifier")
        lines = [f"Action: {self.name}", f"ActionID: {action_id}"]
        lines.extend(f"{key}: {value}" for key, value in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def __repr__(self) -> str:
        # Never let a secret reach a log line through repr().
        shown = tuple((k, "***" if k == "Secret" else v) for k, v in self.headers)
        return f"Action(name={self.name!r}, headers={shown!r})"


# --- value checks ------------------------------------------------------------------------


def check_text(field: str, value: str, *, max_chars: int = MAX_VALUE_CHARS) -> str:
    """Refuse control characters (CR, LF, NUL...) and values too long for one AMI line."""
    if not isinstance(value, str):
        raise UnsafeValueError(field, "not a string")
    if _CONTROL.search(value):
        raise UnsafeValueError(field, "control character (CR, LF, NUL...)")
    if len(value) > max_chars:
        raise UnsafeValueError(field, f"longer than {max_chars} characters")
    if len(field) + 2 + len(value.encode("utf-8")) + 2 > MAX_LINE_BYTES:
        raise UnsafeValueError(field, f"line longer than {MAX_LINE_BYTES} bytes")
    return value


def _match(field: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    check_text(field, value)
    if not pattern.fullmatch(value):
        raise UnsafeValueError(field, f"not a valid {what}")
    return value


def _free_text(field: str, value: str, max_chars: int, unsafe: Iterable[str]) -> str:
    check_text(field, value, max_chars=max_chars)
    if any(char in value for char in unsafe):
        raise UnsafeValueError(field, "character not allowed here")
    return value


def queue_name(value: str) -> str:
    return _match("Queue", value, _QUEUE, "queue name")


def interface(value: str, field: str = "Interface") -> str:
    return _match(field, value, _INTERFACE, "interface (PJSIP/name or Local/exten@context)")


def channel_name(value: str, field: str = "Channel") -> str:
    return _match(field, value, _CHANNEL, "channel name")


def _int(field: str, value: int, low: int, high: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UnsafeValueError(field, f"not an integer in [{low}, {high}]")
    return str(value)


def _flag(field: str, value: bool) -> str:
    if not isinstance(value, bool):
        raise UnsafeValueError(field, "not a bool")
    return "true" if value else "false"


def _event_mask(classes: Iterable[str] | str) -> str:
    if isinstance(classes, str):
        if classes in ("on", "off"):
            return classes
        raise UnsafeValueError("Events", "use 'on', 'off' or a list of event classes")
    chosen = list(classes)
    if not chosen or any(name not in EVENT_CLASSES for name in chosen):
        raise UnsafeValueError("Events", "unknown event class")
    return ",".join(chosen)


def _optional(headers: list[tuple[str, str]], key: str, value: str | None) -> None:
    if value is not None:
        headers.append((key, value))


# --- session actions ---------------------------------------------------------------------


def login(username: str, secret: str, events: Iterable[str] | str = DEFAULT_EVENT_MASK) -> Action:
    """Log in and choose the event classes at once, so no unwanted class leaks in first."""
    return Action(
        "Login",
        (
            ("Username", _match("Username", username, _USERNAME, "user name")),
            ("Secret", _free_text("Secret", secret, 128, ())),
            ("Events", _event_mask(events)),
        ),
    )


def logoff() -> Action:
    return Action("Logoff")


def set_event_mask(classes: Iterable[str] | str) -> Action:
    """Change the event classes of a logged-in session."""
    return Action("Events", (("EventMask", _event_mask(classes)),))


def exclude_event(event_name: str) -> Action:
    """Drop one event by name for this session (Asterisk 22 advanced filter).

    Needs the AMI user's ``write=system``; Asterisk answers Error without it.
    """
    name = _match("MatchCriteria", event_name, _EVENT_NAME, "event name")
    return Action(
        "Filter",
        (("Operation", "Add"), ("MatchCriteria", f"action(exclude),name({name})"), ("Filter", "")),
    )


def ping() -> Action:
    return Action("Ping")


# --- queries -------------------------------------------------------------------------------


def queue_status(queue: str | None = None, member: str | None = None) -> Action:
    headers: list[tuple[str, str]] = []
    _optional(headers, "Queue", None if queue is None else queue_name(queue))
    _optional(headers, "Member", None if member is None else interface(member, "Member"))
    return Action("QueueStatus", tuple(headers))


def queue_summary(queue: str | None = None) -> Action:
    return Action("QueueSummary", () if queue is None else (("Queue", queue_name(queue)),))


def core_show_channels() -> Action:
    return Action("CoreShowChannels")


# --- queue members ---------------------------------------------------------------------------


def queue_add(
    queue: str,
    member_interface: str,
    *,
    member_name: str | None = None,
    penalty: int | None = None,
    paused: bool | None = None,
    reason: str | None = None,
    state_interface: str | None = None,
    wrapup_s: int | None = None,
) -> Action:
    headers = [("Queue", queue_name(queue)), ("Interface", interface(member_interface))]
    if member_name is not None:
        headers.append(("MemberName", _free_text("MemberName", member_name, 80, "|,")))
    if penalty is not None:
        headers.append(("Penalty", _int("Penalty", penalty, 0, 1000)))
    if paused is not None:
        headers.append(("Paused", _flag("Paused", paused)))
    if reason is not None:
        headers.append(("Reason", _free_text("Reason", reason, 128, _QUEUE_LOG_UNSAFE)))
    if state_interface is not None:
        headers.append(("StateInterface", interface(state_interface, "StateInterface")))
    if wrapup_s is not None:
        headers.append(("Wrapuptime", _int("Wrapuptime", wrapup_s, 0, 3600)))
    return Action("QueueAdd", tuple(headers))


def queue_remove(queue: str, member_interface: str) -> Action:
    return Action(
        "QueueRemove", (("Queue", queue_name(queue)), ("Interface", interface(member_interface)))
    )


def queue_pause(
    member_interface: str, paused: bool, *, queue: str | None = None, reason: str | None = None
) -> Action:
    """Pause or unpause a member in one queue, or in all queues when ``queue`` is None."""
    headers = [("Interface", interface(member_interface)), ("Paused", _flag("Paused", paused))]
    if queue is not None:
        headers.append(("Queue", queue_name(queue)))
    if reason is not None:
        headers.append(("Reason", _free_text("Reason", reason, 128, _QUEUE_LOG_UNSAFE)))
    return Action("QueuePause", tuple(headers))


def queue_penalty(member_interface: str, penalty: int, *, queue: str | None = None) -> Action:
    headers = [
        ("Interface", interface(member_interface)),
        ("Penalty", _int("Penalty", penalty, 0, 1000)),
    ]
    if queue is not None:
        headers.append(("Queue", queue_name(queue)))
    return Action("QueuePenalty", tuple(headers))


# --- calls ---------------------------------------------------------------------------------


def _variables(variables: Mapping[str, str]) -> list[tuple[str, str]]:
    headers = []
    for name, value in variables.items():
        _match("Variable", name, _VARIABLE_NAME, "variable name")
        _free_text("Variable", value, 256, _VARIABLE_VALUE_UNSAFE)
        headers.append(("Variable", f"{name}={value}"))
    return headers


def _caller_id(name: str | None, number: str | None) -> str:
    shown_name = "" if name is None else _free_text("CallerID", name, 80, _CALLER_NAME_UNSAFE)
    shown_number = "" if number is None else _match("CallerID", number, _CALLER_NUMBER, "number")
    return f'"{shown_name}" <{shown_number}>'


def _originate(
    target: list[tuple[str, str]],
    channel: str,
    timeout_ms: int,
    caller_id_name: str | None,
    caller_id_num: str | None,
    channel_id: str | None,
    other_channel_id: str | None,
    variables: Mapping[str, str] | None,
) -> Action:
    # Async: true so Asterisk answers at once and reports the outcome later in an
    # OriginateResponse event (same ActionID), instead of holding the session busy.
    headers = [("Channel", channel_name(channel)), *target]
    headers.append(("Timeout", _int("Timeout", timeout_ms, 1000, 600_000)))
    headers.append(("Async", "true"))
    if caller_id_name is not None or caller_id_num is not None:
        headers.append(("CallerID", _caller_id(caller_id_name, caller_id_num)))
    if channel_id is not None:
        headers.append(("ChannelId", _match("ChannelId", channel_id, _UNIQUE_ID, "channel id")))
    if other_channel_id is not None:
        checked = _match("OtherChannelId", other_channel_id, _UNIQUE_ID, "channel id")
        headers.append(("OtherChannelId", checked))
    headers.extend(_variables(variables or {}))
    return Action("Originate", tuple(headers))


def originate_to_extension(
    channel: str,
    context: str,
    exten: str,
    priority: int = 1,
    *,
    timeout_ms: int = 30_000,
    caller_id_name: str | None = None,
    caller_id_num: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> Action:
    """Call ``channel`` (e.g. ``PJSIP/1001``) and, once answered, run context/exten."""
    target = [
        ("Context", _match("Context", context, _CONTEXT, "context")),
        ("Exten", _match("Exten", exten, _EXTEN, "extension")),
        ("Priority", _int("Priority", priority, 1, 10_000)),
    ]
    return _originate(
        target,
        channel,
        timeout_ms,
        caller_id_name,
        caller_id_num,
        channel_id,
        other_channel_id,
        variables,
    )


def originate_to_application(
    channel: str,
    application: str,
    data: str = "",
    *,
    timeout_ms: int = 30_000,
    caller_id_name: str | None = None,
    caller_id_num: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> Action:
    """Call ``channel`` and run an allow-listed application (e.g. ChanSpy for supervisors)."""
    if application not in ORIGINATE_APPLICATIONS:
        raise UnsafeValueError("Application", "application not in the allow-list")
    target = [
        ("Application", application),
        ("Data", _match("Data", data, _APP_DATA, "application argument")),
    ]
    return _originate(
        target,
        channel,
        timeout_ms,
        caller_id_name,
        caller_id_num,
        channel_id,
        other_channel_id,
        variables,
    )


def redirect(
    channel: str,
    context: str,
    exten: str,
    priority: int = 1,
    *,
    extra: tuple[str, str, str] | None = None,
) -> Action:
    """Send ``channel`` to context/exten; ``extra`` (channel, context, exten) moves a
    second channel at the same moment (e.g. both parties of a bridge, which then both
    leave it; one by one, the first's departure would end the bridge for the other)."""
    headers = [
        ("Channel", channel_name(channel)),
        ("Context", _match("Context", context, _CONTEXT, "context")),
        ("Exten", _match("Exten", exten, _EXTEN, "extension")),
        ("Priority", _int("Priority", priority, 1, 10_000)),
    ]
    if extra is not None:
        extra_channel, extra_context, extra_exten = extra
        headers += [
            ("ExtraChannel", channel_name(extra_channel, "ExtraChannel")),
            ("ExtraContext", _match("ExtraContext", extra_context, _CONTEXT, "context")),
            ("ExtraExten", _match("ExtraExten", extra_exten, _EXTEN, "extension")),
            ("ExtraPriority", "1"),
        ]
    return Action("Redirect", tuple(headers))


def blind_transfer(channel: str, context: str, exten: str) -> Action:
    return Action(
        "BlindTransfer",
        (
            ("Channel", channel_name(channel)),
            ("Context", _match("Context", context, _CONTEXT, "context")),
            ("Exten", _match("Exten", exten, _EXTEN, "extension")),
        ),
    )


def attended_transfer(channel: str, context: str, exten: str) -> Action:
    """Atxfer: ``channel`` (the transferer) consults ``exten``@``context`` (digits only:
    Asterisk feeds them as DTMF after the features.conf atxfer code, so the bridge must
    allow the transferer to transfer, e.g. Queue option t); its hangup completes it."""
    if not exten.isdigit():
        raise UnsafeValueError("Exten", "an attended transfer dials digits only")
    return Action(
        "Atxfer",
        (
            ("Channel", channel_name(channel)),
            ("Exten", _match("Exten", exten, _EXTEN, "extension")),
            ("Context", _match("Context", context, _CONTEXT, "context")),
        ),
    )


def hangup(channel: str, cause: int | None = None) -> Action:
    """Hang up one exact channel (never a regex: this builder refuses ``/.../`` forms)."""
    headers = [("Channel", channel_name(channel))]
    if cause is not None:
        headers.append(("Cause", _int("Cause", cause, 0, 127)))
    return Action("Hangup", tuple(headers))


def reload(module: str | None = None) -> Action:
    """Reload one module (``res_pjsip.so``, ``app_queue.so``...), or everything if None."""
    if module is None:
        return Action("Reload")
    return Action("Reload", (("Module", _match("Module", module, _MODULE, "module name")),))


def db_put(family: str, key: str, value: str) -> Action:
    """Set one astdb key (e.g. an IVR emergency notice's switch); needs write=system."""
    return Action(
        "DBPut",
        (
            ("Family", _match("Family", family, _ASTDB_PART, "astdb family")),
            ("Key", _match("Key", key, _ASTDB_PART, "astdb key")),
            ("Val", _match("Val", value, _ASTDB_PART, "astdb value")),
        ),
    )


def db_del(family: str, key: str) -> Action:
    """Delete one astdb key (e.g. the dialplan's after-call-work mark); needs write=system."""
    return Action(
        "DBDel",
        (
            ("Family", _match("Family", family, _ASTDB_PART, "astdb family")),
            ("Key", _match("Key", key, _ASTDB_PART, "astdb key")),
        ),
    )


# --- config checks -------------------------------------------------------------------------


def pjsip_show_endpoints() -> Action:
    """List PJSIP endpoints (EndpointList events, ``ObjectName``)."""
    return Action("PJSIPShowEndpoints")


def pjsip_show_contacts() -> Action:
    """List PJSIP contacts (ContactList events: ``Endpoint``, ``Uri``, ``Status``)."""
    return Action("PJSIPShowContacts")


def confbridge_list(conference: str) -> Action:
    """The members of one conference (ConfbridgeList events: ``Channel``, ``Admin``,
    ``MarkedUser``...; an unknown or empty conference is an error reply)."""
    return Action(
        "ConfbridgeList",
        (("Conference", _match("Conference", conference, _CONTEXT, "conference name")),),
    )


def pjsip_show_registrations_outbound() -> Action:
    """Outbound registrations (OutboundRegistrationDetail: ``ObjectName``, ``Status``)."""
    return Action("PJSIPShowRegistrationsOutbound")


def show_dialplan(context: str | None = None, extension: str | None = None) -> Action:
    """List the dialplan (ListDialplan events), optionally one context or extension."""
    headers: list[tuple[str, str]] = []
    if context is not None:
        headers.append(("Context", _match("Context", context, _CONTEXT, "context")))
    if extension is not None:
        headers.append(("Extension", _match("Extension", extension, _EXTEN, "extension")))
    return Action("ShowDialPlan", tuple(headers))
