"""Tokens never reach a log line, whatever logger writes it (uvicorn's access log
included): every record's message and arguments are redacted as the record is made."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

# API tokens (cct_...), and any access_token / token / Authorization value in a URL or text.
_TOKEN = re.compile(r"cct_[A-Za-z0-9_-]+")
_PARAM = re.compile(r"(?i)((?:access_token|token|authorization)=)[^&\s\"']+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = _TOKEN.sub(REDACTED, text)
    text = _PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | type(None)):
        return value
    text = str(value)  # a URL, a header list …: turned into text only if it holds a token
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with tokens removed from its message and arguments (their types kept,
    so formatters that unpack the arguments, like uvicorn's access log, still work)."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_redact_value(a) for a in args)
    elif isinstance(args, dict):
        record.args = {k: _redact_value(v) for k, v in args.items()}
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return record


class _RedactingFactory:
    def __init__(self, wrapped: Callable[..., logging.LogRecord]) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(self.wrapped(*args, **kwargs))


def install_log_redaction() -> None:
    """Wrap the process's log record factory once (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(factory))
