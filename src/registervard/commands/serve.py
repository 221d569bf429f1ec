"""`registervard serve`: the HTTP API (registervard.api) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from registervard.bootstrap import bootstrap


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve the HTTP API for downstream systems (OpenAPI at /docs).

    uvicorn's access log is off: it prints raw paths and query strings. The API
    logs each request itself (at INFO: method, route template, status, duration,
    key id), and every refused request at WARNING: `registervard --log-level INFO serve`
    shows every request. Keys: `registervard apikeys create NAME --role ROLE`.

    Limits (body size, requests per key and per address without a valid key) are
    REGISTERVARD_API_* settings; Prometheus metrics are at /metrics. The rate limit
    per address sees the proxy's address behind a reverse proxy unless uvicorn
    trusts its X-Forwarded-For: it does from 127.0.0.1, and from the addresses in
    FORWARDED_ALLOW_IPS when that is set.
    """
    # Imported here, not at the top: FastAPI, the API's routes and uvicorn would add their import time to every other command.
    import uvicorn

    from registervard.api.http_app import create_app

    uvicorn.run(
        create_app(bootstrap().settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,  # keep our structlog setup (registervard.logging_setup) for uvicorn's own messages
        server_header=False,
    )
