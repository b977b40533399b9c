"""The API's outermost layer, for every router alike: a request id on each response,
a body-size limit checked before anything reads the body (authentication included),
``Cache-Control: no-store`` on the API's responses (they carry personal data), and
any unhandled exception turned into the JSON error shape with that request id (the
traceback goes to the log, never to the client)."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callctl.api.errors import error_body

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# Paths whose answers may carry personal data (numbers, names, tokens): never cached.
NO_STORE_PREFIXES = ("/api/", "/metrics")


class BodyTooLargeError(StarletteHTTPException):
    """The request's body grew past the limit while it was being read (an HTTP error, so
    that the framework's body parsing passes it on as it is)."""

    error_id = "request.too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


@dataclass(frozen=True, slots=True)
class LargeBodies:
    """A larger body limit for one method on the paths under ``prefix`` (recordings
    uploaded by the nodes' shippers, which the endpoint streams to disk)."""

    method: str
    prefix: str
    max_body_bytes: int


class ApiGuard:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, large_bodies: tuple[LargeBodies, ...] = ()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large_bodies = large_bodies

    def body_limit(self, scope: Scope) -> int:
        path: str = scope.get("path", "")
        for large in self.large_bodies:
            if scope.get("method") == large.method and path.startswith(large.prefix):
                return large.max_body_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope.get("path", "")
        no_store = path.startswith(NO_STORE_PREFIXES)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                if no_store:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        limit = self.body_limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(send_with_headers, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLargeError:
            if not started:
                await self._too_large(send_with_headers, limit)
        except Exception:
            log.exception(
                "unhandled error in %s %s (request %s)", scope["method"], path, request_id
            )
            if not started:
                body = error_body(
                    "server.error",
                    "internal error; quote the request id when reporting it",
                    {"request_id": request_id},
                )
                await _send_json(send_with_headers, 500, body)

    async def _too_large(self, send: Send, limit: int) -> None:
        body = error_body(
            "request.too_large", f"the request body exceeds {limit} bytes", {"limit": limit}
        )
        await _send_json(send, 413, body)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send: Send, status: int, body: object) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
