"""The request body size limit: 413 before a body larger than the limit is read, or as soon as it crosses it.

Two guards, because a body may come with or without its length:

- with a `Content-Length` above the limit, the first read raises `BodyTooLarge`
  before a byte of the body is received;
- a chunked body (no length) is counted while it is read: the read that crosses
  the limit raises `BodyTooLarge`.

The route's error handler turns `BodyTooLarge` into the 413 (so the metrics and
the log name the route); the middleware answers it itself when it escapes.

Starlette 1.x has a body limit of its own (`max_body_size`), but it answers a
too-long `Content-Length` in plain text instead of the API's error shape, so
the API keeps this one. Limits: `Settings.api_max_body_bytes`, and per path
(`POST /wash` takes a larger call list) `Settings.api_max_wash_body_bytes`.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registervard.api.errors import error_response

BODY_TOO_LARGE = "BODY_TOO_LARGE"


class BodyTooLarge(HTTPException):
    """The body is larger than the limit. An HTTPException, so that FastAPI's body reading re-raises it as it is
    (it turns any other error while reading into a 400) and the API's handler answers 413 in its error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    """The 413 message: the limit, never anything of the body."""
    return f"The request body is larger than the {limit} bytes this endpoint accepts; send less per request (a call list in parts)."


class BodyLimit:
    """ASGI middleware enforcing the body limit of the request's path (`limits_by_path`, else `default`)."""

    def __init__(self, app: ASGIApp, default: int, limits_by_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits_by_path = dict(limits_by_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits_by_path.get(scope["path"], self.default)
        declared = _content_length(scope)
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as error:
            # Raised where no handler catches it: answer here, unless a response is under way.
            if started:
                raise
            await error_response(413, BODY_TOO_LARGE, str(error.detail))(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # the server refuses a malformed length before the app sees it
