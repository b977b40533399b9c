"""Errors as JSON with a stable id: ``{"error": {"id", "message", "detail"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An error the API reports as is: an HTTP status, a stable id and a message."""

    def __init__(self, status: int, error_id: str, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.detail = detail


def error_body(error_id: str, message: str, detail: object = None) -> dict[str, Any]:
    return {"error": {"id": error_id, "message": message, "detail": detail}}


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only plain fields: ctx may hold exception objects that JSON cannot carry.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
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
        error_body(f"http.{exc.status_code}", str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
