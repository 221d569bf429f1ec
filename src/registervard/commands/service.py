"""The long-running services and what they need first: `registervard topics create`, `worker`, `project`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from prometheus_client import start_http_server

from events.retry import in_thread_with_retry
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.downstream import run_downstream_publisher
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail, run


@advise_on_failure
def topics_create() -> None:
    """Create Registervård's topics if they do not exist."""
    created = run(ensure_topics(bootstrap().settings))
    console.print(f"Created {len(created)} topic(s): {', '.join(created) or 'none needed'}")


@advise_on_failure
def worker() -> None:
    """Run the stream processors (Faust): intake to the event log, or to dead letters."""
    # Imported here, not at the top: the worker's metrics register in the process's default Prometheus registry,
    # which `_serve_metrics` serves; at the top, every registervard process (the projections' too) would serve them.
    import faust

    from processors.worker_app import create_app

    services = bootstrap()
    run(ensure_topics(services.settings))
    _serve_metrics(services.settings.worker_metrics_port)
    faust_app = create_app(services.settings, services.keys)  # the keys: the register database's data_keys
    # Our structlog setup stays in charge of logging; Faust prints no banner.
    faust.Worker(faust_app, quiet=True, override_logging=False, redirect_stdouts=False).execute_from_commandline()


@advise_on_failure
def project(
    until_caught_up: Annotated[bool, typer.Option(help="Stop once every projection has every event in the log.")] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only this projection (repeatable): register, audit, or downstream (the publisher); any case.")
    ] = None,
) -> None:
    """Keep the projections current from the event log, and publish changed customers to the downstream topic."""
    # Imported here, not at the top: the runner's metrics register in the default Prometheus registry (see `worker`).
    from projections.registry import projections
    from projections.runner import run_projection

    # The runner and the publisher connect to the register themselves, with retry: they wait out a database that is
    # down (the bootstrap's engine would not), and a supervisor restarts them when they give up.
    settings = bootstrap().settings
    _serve_metrics(settings.projection_metrics_port)
    wanted = {name.lower() for name in only or ()}  # projection names are lower case; any case names the same one
    with_publisher = not wanted or "downstream" in wanted
    try:
        chosen = projections(settings, sorted(wanted - {"downstream"})) if wanted != {"downstream"} else []
    except ValueError as error:
        fail(f"{error}, or downstream")

    async def run_all() -> tuple[list[int], int]:
        # The key store is opened here, not by the bootstrap, so that a database still starting is waited for.
        keys = await in_thread_with_retry(key_store, settings, what="open the key store", budget=settings.retry_seconds)
        runs = [run_projection(settings, p, keys=keys, until_caught_up=until_caught_up) for p in chosen]
        if until_caught_up:  # project everything, then publish what changed
            applied = await asyncio.gather(*runs)
            return applied, await run_downstream_publisher(settings, until_empty=True) if with_publisher else 0
        publisher = [run_downstream_publisher(settings)] if with_publisher else []
        results = await asyncio.gather(*runs, *publisher)
        return results[: len(runs)], results[-1] if publisher else 0

    applied, published = run(run_all())
    for projection, total in zip(chosen, applied, strict=True):
        console.print(f"{projection.name}: applied {total} event(s).")
    if with_publisher:
        console.print(f"downstream: published {published} snapshot(s).")


def _serve_metrics(port: int) -> None:
    """Prometheus metrics of this process on 127.0.0.1:`port` (0: none); a port in use is reported, not fatal."""
    if not port:
        return
    try:
        start_http_server(port, addr="127.0.0.1")
    except OSError as error:
        errors.print(f"[yellow]Warning:[/yellow] metrics not served: port {port} is not free ({error.strerror}).")
