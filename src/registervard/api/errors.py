"""Every error the API returns is JSON `{"error": CODE, "message": "..."}`, and never echoes what the caller sent.

Validation errors name the field and what is wrong with it, not its value (a
body may hold a personnummer, a path a mistyped one): FastAPI's own 422 body,
which carries each `input`, is replaced. No message repeats a path, a query
value or a method either. Unexpected errors are logged by type and route
only: a database error's text can carry bound parameters, which may be personal data.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from events.refusal import Refusal

log = structlog.get_logger("registervard.api")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    """A stable code to branch on, e.g. MISSING_API_KEY, FORBIDDEN_FOR_ROLE, CUSTOMER_NOT_FOUND, INVALID_REQUEST, RATE_LIMITED."""
    message: str
    """What went wrong and what to do, for the developer calling the API."""


class ApiError(Exception):
    """An error with its HTTP status, code and message; the handler turns it into the JSON body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message}, headers=headers)


def route_template(request: Request) -> str:
    """The matched route's path template (`/customers/{customer_id}`), never the path with its values."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "(no route)"


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API key, or an unknown or revoked one (`Authorization: Bearer <key>` or `X-API-Key: <key>`)."},
    403: {"model": ErrorBody, "description": "The key's role may not call this endpoint."},
    422: {"model": ErrorBody, "description": "A parameter or the body is not valid; the message names the field."},
    429: {
        "model": ErrorBody,
        "description": "Too many requests with this key, or without a valid key from this address (RATE_LIMITED).",
        "headers": {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}},
    },
}
"""Documented on every protected route, so that /docs shows the error body instead of FastAPI's default."""

BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body cannot be read: it is not UTF-8 text (BAD_REQUEST)."},
    413: {"model": ErrorBody, "description": "The body is larger than this endpoint accepts (BODY_TOO_LARGE)."},
}
"""Documented on the routes that take a body."""

_STATUS_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "BODY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, f"HTTP_{error.status_code}")
        if error.status_code == 404:
            message = "There is no endpoint at this path; the API is described at /docs."
        elif error.status_code == 400:
            message = "The body cannot be read; send JSON as UTF-8 text with Content-Type: application/json."
        elif error.status_code == 405:
            message = "This endpoint does not answer that method (the Allow header lists those it does); the API is described at /docs."
        else:
            message = str(error.detail)
        return error_response(error.status_code, code, message, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "INVALID_REQUEST", validation_message(error.errors()))

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, error: OperationalError) -> JSONResponse:
        log.error("api_database_error", path=route_template(request), error_type=type(error.orig).__name__)
        return error_response(503, "DATABASE_UNAVAILABLE", "The register database cannot be used right now; try again shortly.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("api_internal_error", path=route_template(request), error_type=type(error).__name__)
        return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side; the server log names the error type and route.")


def refused(refusal: Refusal, *, where: str = "body", status: int = 422) -> ApiError:
    """The API's error for a refusal of what the caller sent in `where` (body, path, query): the refusal's code,
    and `where.field: reason` as the message, never the value."""
    return ApiError(status, refusal.code, str(refusal.within(where)))


def request_refusals(errors: Any) -> list[Refusal]:
    """FastAPI's validation problems as refusals (INVALID_REQUEST), each naming its location, never the input."""
    return [
        Refusal(".".join(str(part) for part in problem.get("loc", ())), str(problem.get("msg", "invalid")), code="INVALID_REQUEST")
        for problem in errors
    ]


def validation_message(errors: Any) -> str:
    """'query.channel: Input should be ...; body.identity_number: Field required' — locations and problems, never the input."""
    return "; ".join(map(str, request_refusals(errors))) or "The request is not valid."
