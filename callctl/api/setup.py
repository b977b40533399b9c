"""What every router gets without asking: the guard layer (body limit, request id,
JSON 500s, no-store), the JSON error handlers, authentication failure throttling and
its metrics, token redaction in every log line, and the documented OpenAPI schema."""

from __future__ import annotations

from fastapi import FastAPI

from callctl.api.errors import install_error_handlers
from callctl.api.guard import ApiGuard, LargeBodies
from callctl.api.metrics import ApiMetrics
from callctl.api.openapi import install_openapi
from callctl.api.throttle import AuthThrottle
from callctl.ivr_ops.prompts import MAX_UPLOAD_BYTES as PROMPT_MAX_UPLOAD_BYTES
from callctl.log_redaction import install_log_redaction
from callctl.settings import Settings

UPLOAD_PREFIX = "/api/v1/recordings/ingest/"
"""Where the nodes' recording shippers PUT raw recordings (``recording.upload_api``)."""
PROMPT_PREFIX = "/api/v1/ivr/prompts/"
"""Where IVR prompts are uploaded as audio (``callctl.ivr_ops.api``, PUT only)."""


def install_api_guards(app: FastAPI, settings: Settings) -> None:
    install_log_redaction()
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(
        ApiGuard,
        max_body_bytes=settings.max_body_bytes,
        # Recordings shipped by the nodes, streamed to disk by their endpoint (only PUT);
        # prompts, read whole and checked by sox (a studio's WAV is often over 1 MiB).
        large_bodies=(
            LargeBodies("PUT", UPLOAD_PREFIX, settings.recordings_max_upload_bytes),
            LargeBodies("PUT", PROMPT_PREFIX, PROMPT_MAX_UPLOAD_BYTES),
        ),
    )
    app.state.auth_throttle = AuthThrottle(settings.auth_failures_per_minute)
    app.state.metrics = ApiMetrics(app.state)
