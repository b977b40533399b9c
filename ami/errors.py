"""Typed AMI errors, each with a stable ``error_id`` the service edge maps once (e.g. to HTTP)."""

from __future__ import annotations


class AmiError(Exception):
    """Base of every error raised by the ``ami`` package."""

    error_id = "ami_error"


class UnsafeValueError(AmiError, ValueError):
    """A value refused before it could reach the AMI wire (injection, length, pattern)."""

    error_id = "ami_unsafe_value"

    def __init__(self, field: str, reason: str) -> None:
        # The offending value is not echoed back: it may be a secret or an attack string.
        super().__init__(f"unsafe value for {field}: {reason}")
        self.field = field
        self.reason = reason


class NotConnectedError(AmiError):
    """The node has no logged-in AMI session right now (maps to 503 at the edge)."""

    error_id = "ami_not_connected"


class ConnectionLostError(AmiError):
    """The AMI session ended while something was waiting on it."""

    error_id = "ami_connection_lost"


class ActionTimeoutError(AmiError, TimeoutError):
    """No complete response to an action within its timeout."""

    error_id = "ami_action_timeout"

    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"{action} ({action_id}) got no complete response within {timeout:g} s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class PingTimeoutError(AmiError):
    """A keepalive Ping went unanswered: the link is dead or half-open."""

    error_id = "ami_ping_timeout"


class ActionFailedError(AmiError):
    """Asterisk answered an action with ``Response: Error``."""

    error_id = "ami_action_failed"

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} failed: {message}")
        self.action = action
        self.message = message


class LoginFailedError(ActionFailedError):
    """Asterisk refused the credentials."""

    error_id = "ami_login_failed"


class TlsVerificationError(AmiError):
    """The node's TLS certificate was not accepted (unknown CA, wrong name, expired)."""

    error_id = "ami_tls_verification_failed"


class InvalidTransitionError(AmiError):
    """A connection state change the state machine does not allow (a bug, not a network fault)."""

    error_id = "ami_invalid_transition"


class UnknownNodeError(AmiError, KeyError):
    """No Asterisk node with that id is configured."""

    error_id = "ami_unknown_node"
