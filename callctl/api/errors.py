"""Errors as JSON with a stable id: ``{"error": {"id", "message", "detail"}}``, the same
shape for every status (``Error`` in the OpenAPI schema, declared on every operation)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from callctl.errors import ReportedError


class ApiError(ReportedError):
    """An error raised by a router itself (auth, bad parameters, not found)."""


class ErrorDetail(BaseModel):
    id: str = Field(description="stable error id, e.g. auth.invalid_token, request.invalid")
    message: str = Field(description="one line for a person")
    detail: Any = Field(
        default=None,
        description="machine-readable context: the field at fault, the allowed roles, "
        "a 500's request_id, a 429's retry_after_s …",
    )


class Error(BaseModel):
    """Every error response of the API."""

    error: ErrorDetail


def error_body(error_id: str, message: str, detail: object = None) -> dict[str, Any]:
    return {"error": {"id": error_id, "message": message, "detail": detail}}


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only plain fields: ctx may hold exception objects that JSON cannot carry.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]


async def _reported_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ReportedError)
    headers = None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif exc.status == 429 and isinstance(exc.detail, dict):
        headers = {"Retry-After": str(exc.detail.get("retry_after_s", 60))}
    return JSONResponse(
        error_body(exc.error_id, exc.message, exc.detail), status_code=exc.status, headers=headers
    )


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = _validation_detail(exc)
    fields = ", ".join(".".join(str(p) for p in d["loc"]) for d in detail)
    return JSONResponse(
        error_body("request.invalid", f"invalid request: {fields}", detail), status_code=422
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        error_body(getattr(exc, "error_id", f"http.{exc.status_code}"), str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ReportedError, _reported_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
