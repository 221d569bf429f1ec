"""`registervard serve`: the HTTP API (registervard.api) under uvicorn."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from registervard.bootstrap import bootstrap
from registervard.console import console, fail

ALL_ADDRESSES = ("0.0.0.0", "::", "")
"""Hosts that listen on every address: the URL printed names this machine's loopback address instead."""


def listening_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens for a server bound to `host` and `port` (an IPv6 address in brackets)."""
    if host in ALL_ADDRESSES:
        host = "127.0.0.1" if host != "::" else "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every address).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port; the line printed at start names it).")] = 8080,
) -> None:
    """Serve the HTTP API for downstream systems (OpenAPI at /docs, served without any other host: it works offline)
    and the web console for operators at /console (signed in with an API key).

    Once it listens it prints one line, with its URL and the URLs of its docs and the console.
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

    from registervard.web import create_served_app  # the API and, at /console, the web console

    class AnnouncingServer(uvicorn.Server):
        """uvicorn's server, which says where it listens once it does (not before: the port may be taken)."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.started:
                return
            bound = self.servers[0].sockets[0].getsockname()[1] if self.servers and self.servers[0].sockets else port  # --port 0: the one given
            url = listening_url(host, bound)
            everywhere = " (on every address of this machine)" if host in ALL_ADDRESSES else ""
            said = f"Registervård API listening on {url}{everywhere}; docs at {url}/docs; the console at {url}/console. Ctrl+C stops it."
            console.print(said, highlight=False, soft_wrap=True)
            console.file.flush()  # a supervisor or a script waiting for the line reads it now, not when the buffer fills

    config = uvicorn.Config(
        create_served_app(bootstrap().settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,  # keep our structlog setup (registervard.logging_setup) for uvicorn's own messages
        server_header=False,
    )
    try:
        AnnouncingServer(config).run()
    except SystemExit as stopped:
        if stopped.code:  # uvicorn exits 3 when it cannot start, which means "the answer is no" here (registervard.exit_codes)
            fail(
                f"The API could not start on {listening_url(host, port)} (the log above says why): "
                f"is another process using port {port}? Choose another with --port."
            )
        raise
