"""The OpenAPI schema with every response declared: on each operation, the ``Error``
shape for the statuses the API's common layers can give it, whatever router it is in.

- every operation: 413 (body too large), 422 (invalid request), 500 (with a request id);
- an operation with a request body: 400 (a body that is not even text, e.g. not UTF-8);
- an operation behind a token: 401, 403 and 429 (too many failed authentications);
- an operation with path parameters: 404.

A router adds what its services can raise (409, 502, 503 …) with
``responses=error_responses(...)``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from callctl.api.errors import Error, ErrorDetail

ERROR_REF = "#/components/schemas/Error"
DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8 text)",
    401: "Missing, unknown, revoked or expired token",
    403: "The token's role (or the user's rights) do not allow this",
    404: "Not found",
    409: "Conflict with what is stored",
    411: "The body's length must be declared (Content-Length)",
    413: "Request body larger than the configured limit",
    422: "Invalid request: the field at fault is named",
    429: "Too many failed authentications from this address",
    500: "Unexpected error; detail.request_id identifies it in the log",
    502: "Asterisk refused or failed the change",
    503: "A dependency (PostgreSQL, Asterisk) is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router or route: these statuses carry the ``Error`` shape."""
    return {s: {"model": Error, "description": DESCRIPTIONS.get(s, "Error")} for s in statuses}


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the common error responses to every operation of ``schema`` (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorDetail"] = ErrorDetail.model_json_schema()
    error = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    error.pop("$defs", None)
    components["Error"] = error
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            statuses = {413, 422, 500}
            if operation.get("security"):
                statuses |= {401, 403, 429}
            if "{" in path:
                statuses.add(404)
            if "requestBody" in operation:
                statuses.add(400)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                if status == 422 or str(status) not in responses:
                    responses[str(status)] = _error_response(status)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = document_errors(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
