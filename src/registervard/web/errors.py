"""The console's errors are pages that read like advice, never JSON and never tracebacks.

Installed on the console's own application (`registervard.web.console_app`), so the API's JSON errors
(`api.errors`) are untouched.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from registervard.api.errors import route_template
from registervard.web.session import ConsoleResponse, render, request_language, session_user
from registervard.web.texts import texts

log = structlog.get_logger("registervard.console")


def install_console_errors(app: FastAPI) -> None:
    """Send a ConsoleResponse as raised; show every other error as a page of advice."""

    async def console_response(_request: Request, error: Exception) -> Response:
        assert isinstance(error, ConsoleResponse)
        return error.response

    app.add_exception_handler(ConsoleResponse, console_response)
    for kind in (StarletteHTTPException, RequestValidationError, OperationalError, Exception):
        app.add_exception_handler(kind, error_page)


async def error_page(request: Request, error: Exception) -> Response:
    """The page for an error: its status, and advice in the operator's language (the error's text is never shown)."""
    status, key = _status_and_message(error)
    if status >= 500:  # by type and route only: a database error's text can carry personal data
        log.error("console_error", path=route_template(request), error_type=type(error).__name__)
    try:
        user = session_user(request)
    except Exception:  # the database may be what failed: the page is shown without the header's links
        user = None
    words = texts(user.lang if user is not None else request_language(request))
    return render(request, user, "error.html", status, message=words[key])


def _status_and_message(error: Any) -> tuple[int, str]:
    if isinstance(error, StarletteHTTPException):
        return error.status_code, {404: "error.not_found", 405: "error.method"}.get(error.status_code, "error.invalid")
    if isinstance(error, RequestValidationError):
        return 422, "error.invalid"
    if isinstance(error, OperationalError):
        return 503, "error.database"
    return 500, "error.internal"
