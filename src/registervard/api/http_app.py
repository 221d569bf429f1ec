"""The HTTP API for downstream systems: `create_app(settings)`; `registervard serve` runs it with uvicorn.

OpenAPI at /docs (Swagger UI) and /redoc, served without any other host (`docs_pages`). Keys and roles: `auth` and `roles`. Every response that
discloses a customer's data records it in `disclosures` (recipient = the key's
name, channel `api`, purpose = the endpoint) before it is sent, through the
app's `DisclosureWriter` (group commit; shutdown waits for the commit under way).
One engine per app (`Database`), built on first use and shared by every request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.settings import Settings
from projections.database import connect
from projections.migrations import HEAD, at_head
from projections.status import projection_health
from registervard.api import customers, duplicate_routes, feed, merge_routes, search_routes
from registervard.api import erasure_routes as erasure
from registervard.api import wash_routes as wash
from registervard.api.body_limit import BodyLimit
from registervard.api.disclosure_writer import DisclosureWriter
from registervard.api.docs_pages import install_docs
from registervard.api.errors import install_error_handlers
from registervard.api.http_metrics import UNMATCHED, ApiMetrics, install_metrics
from registervard.api.ratelimit import RateLimits

log = structlog.get_logger("registervard.api")

READY_KAFKA_TIMEOUT = 5.0
"""Seconds /ready waits for Kafka before it reports the lag as unknown."""

DESCRIPTION = """
The customer register for downstream systems.

**Keys.** Every endpoint but `/health`, `/ready`, `/metrics` and these docs (`/docs`, `/redoc`) needs an API key, sent as
`Authorization: Bearer <key>` (or `X-API-Key: <key>`). An operator creates one with
`registervard apikeys create NAME --role ROLE`; it is shown once. Roles: `reader` (a customer's register row,
without consent detail), `marketing` (contactability), `customer_service` (customer, lookup, history,
contactability), `auditor` (history, changes, audit verification), `admin` (everything).

**Errors** are JSON `{"error": CODE, "message": "..."}`: 401 no, unknown or revoked key; 403 the key's role may not
call the endpoint; 404 no such customer; 413 the body is too large; 422 a parameter or the body is not valid (the
message names the field, never repeats its value); 429 too many requests (wait `Retry-After` seconds).

**Limits.** Each key may make a limited number of requests per second, and so may each address without a valid
key; bodies are limited in size (`POST /wash` takes a larger one). `/metrics` (Prometheus, counts only) needs no key.

**Personal data.** Every response that carries a customer's data is recorded as a disclosure to the key's holder
(it appears in the customer's register extract). Identity numbers go in request bodies (`POST /customers/lookup`),
never in URLs.
"""


class Database:
    """The API's engine, connected (and migrated to head, as every Registervård process does) on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = connect(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


class RequestLog:
    """ASGI middleware: one log line and one metrics observation per request (method, route template, status, duration; key id in the log).

    Replaces uvicorn's access log, which prints the raw path and query. No query
    string, body or header is logged.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            seconds = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", None)
            state = scope.get("state") or {}
            self.metrics.observe(scope["method"], template or UNMATCHED, status, seconds)
            log.info(
                "api_request",
                method=scope["method"],
                path=template or "(no route)",
                status=status,
                ms=round(seconds * 1000, 2),
                key_id=state.get("key_id"),
            )


def create_app(settings: Settings) -> FastAPI:
    """The API over the register at `settings.database_url`."""
    database = Database(settings.database_url)
    disclosures = DisclosureWriter(database.engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(disclosures.close)  # the commit under way, and the requests waiting on it, end before the engine goes
        database.dispose()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: `install_docs` serves them from here
        redoc_url=None,
        title="Registervård API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "customers", "description": "One customer: register row, lookup, history, contactability."},
            {"name": "changes", "description": "The change feed: what changed since your cursor."},
            {"name": "audit", "description": "The audit trail."},
            {"name": "operations", "description": "Liveness, readiness and metrics, without a key."},
        ],
    )
    app.state.settings = settings
    app.state.database = database
    app.state.disclosures = disclosures
    app.state.rate_limits = RateLimits(settings.api_rate_limit, settings.api_auth_failure_rate_limit)
    install_error_handlers(app)
    install_docs(app)
    app.include_router(search_routes.router)  # first: else /customers/{customer_id} takes /customers/find's path (a 405 naming GET)
    app.include_router(customers.router)
    app.include_router(feed.router)
    app.include_router(wash.router)
    app.include_router(erasure.router)
    app.include_router(merge_routes.router)
    app.include_router(duplicate_routes.router)
    # Added innermost first: metrics and the request log also see what the body limit refuses.
    app.add_middleware(BodyLimit, default=settings.api_max_body_bytes, limits_by_path={"/wash": settings.api_max_wash_body_bytes})
    app.add_middleware(RequestLog, metrics=install_metrics(app))

    @app.get("/health", tags=["operations"], summary="The process is up")
    async def health() -> dict[str, str]:
        """Always 200 while the process answers. Needs no key."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], summary="Ready to serve", responses={503: {"description": "Not ready; `checks` says why."}})
    async def ready(request: Request) -> Any:
        """200 when the database is reachable and at the migration head, and the projections are running and keeping
        up (a heartbeat within `ready_heartbeat_seconds`, at most `ready_max_lag` events behind); 503 otherwise, saying
        why. Also reports how far the register lags behind the event log when Kafka is reachable (`register.lag`),
        `kafka: unreachable` when not: the API goes on serving the register without Kafka, so that alone does not
        make it unready. Needs no key."""
        database: Database = request.app.state.database
        checks: dict[str, Any] = {}
        try:
            migrated = await asyncio.to_thread(_database_ok, database)
        except Exception as error:
            checks["database"] = {"reachable": False, "error_type": type(error).__name__}
            return _not_ready("The register database cannot be reached.", checks)
        checks["database"] = {"reachable": True, "at_head": migrated, "expected_revision": HEAD}
        if not migrated:
            return _not_ready(f"The register database is not at migration {HEAD}.", checks)
        settings = request.app.state.settings
        health = await asyncio.to_thread(
            projection_health, database.engine(), max_silence=settings.ready_heartbeat_seconds, max_lag=settings.ready_max_lag
        )
        checks["projections"] = {h.projection: {"running": h.healthy, "seconds_since_report": h.seconds_since_beat, "lag": h.lag} for h in health}
        problems = [h.problem for h in health if h.problem]
        if problems:
            return _not_ready("; ".join(problems) + ".", checks)
        try:
            from projections.status import register_status

            status = await asyncio.wait_for(register_status(request.app.state.settings), READY_KAFKA_TIMEOUT)
            checks["kafka"] = "reachable"
            checks["register"] = {"lag": status.lag, "events_in_log": status.events_in_log, "customers": sum(status.customers.values())}
        except Exception as error:
            checks["kafka"] = "unreachable"
            checks["register"] = {"lag": None, "error_type": type(error).__name__}
        return {"status": "ready", "checks": checks}

    return app


def _database_ok(database: Database) -> bool:
    engine = database.engine()
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return at_head(engine)


def _not_ready(message: str, checks: dict[str, Any]) -> JSONResponse:
    return JSONResponse(status_code=503, content={"error": "NOT_READY", "message": message, "checks": checks})
