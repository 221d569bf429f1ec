"""The web console: server-rendered pages for operators, under /console of the API's app (`registervard serve`).

`console_router` holds every console page (each page module's router is included here with one line; its paths
are relative to /console). `create_served_app(settings)` is the API with the console, as `serve` runs it:
`install_console(api)` mounts the console on the API's app as an application of its
own, sharing the API's state (database, disclosure writer, rate limits, settings): its error pages are HTML for
people and leave the API's JSON errors untouched, and its pages stay out of the API's OpenAPI document and out of
the API's route table (whose every route needs an API key, `api.auth.authorize`; a console page needs a session,
`session.console_user`). The shared pieces every page uses are in `session`; labels in `texts`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from types import SimpleNamespace

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from events.settings import Settings
from registervard.api.http_app import create_app
from registervard.web import audit_pages, customer_pages, deadletter_pages, duplicate_pages, health_pages, sign_in_pages
from registervard.web.errors import install_console_errors
from registervard.web.session import PREFIX

console_router = APIRouter()
console_router.include_router(sign_in_pages.router)
console_router.include_router(customer_pages.router)
console_router.include_router(health_pages.router)
console_router.include_router(deadletter_pages.router)
console_router.include_router(audit_pages.router)
console_router.include_router(duplicate_pages.router)

STATIC_DIR = Path(__file__).resolve().parent / "static"


class RoutesUnderPrefix:
    """ASGI middleware: the console's matched route as the API's request log and metrics name it, with /console
    before it (`/console/customers/{customer_id}`, not the API's `/customers/{customer_id}`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None)
            if path is not None and not path.startswith(PREFIX):
                scope["route"] = SimpleNamespace(path=PREFIX + path)


def console_app(api: FastAPI) -> FastAPI:
    """The console as an application of its own over the API's state (mounted at /console by `install_console`)."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="Registervård console")
    console.state = api.state  # one database, disclosure writer and set of rate limits for the API and the console
    console.include_router(console_router)
    console.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_console_errors(console)
    console.add_middleware(RoutesUnderPrefix)
    return console


def create_served_app(settings: Settings) -> FastAPI:
    """The API's app (`api.http_app.create_app`) with the console at /console: what `registervard serve` serves.

    Assembled here, not in `http_app`, because the console builds on the API (its roles, keys, disclosure writer
    and rate limits): the API importing the console back would make the two a cycle."""
    api = create_app(settings)
    install_console(api)
    return api


def install_console(api: FastAPI) -> None:
    """Serve the console from the API's app at /console (and /console/static)."""
    # Unset: a secret for this process only, so sessions end when it restarts (and are not shared between processes).
    api.state.console_secret = api.state.settings.console_secret or secrets.token_urlsafe(32)
    api.mount(PREFIX, console_app(api), name="console")


__all__ = ["console_app", "console_router", "create_served_app", "install_console"]
