"""The `registervard` command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import OperationalError

from events.retry import GaveUp
from registervard import logging_setup as logs
from registervard.commands import audit_commands as audit, deadletter_commands as deadletters
from registervard.commands import contact
from events.settings import Settings

app = typer.Typer(help="Registervård keeps a customer register correct, lawful and contactable.", no_args_is_help=True)
customer_app = typer.Typer(help="Look up customers in the register.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(customer_app, name="customer")
app.add_typer(topics_app, name="topics")
app.add_typer(demo_app, name="demo")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def advise_on_failure(command: Callable[..., T]) -> Callable[..., T]:
    """Turn the failures a user can fix into advice instead of a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        settings = Settings.from_env()
        try:
            return command(*args, **kwargs)
        except KafkaConnectionError:
            _fail(f"Cannot reach Kafka at {settings.kafka}. Start it with `bash infra/kafka.sh start`, or point REGISTERVARD_KAFKA at your broker.")
        except KafkaError as error:
            _fail(f"Kafka refused the request ({type(error).__name__}). Check the broker at {settings.kafka} and its log.")
        except OperationalError as error:
            _fail(f"Cannot use the register database ({error.orig.__class__.__name__}). Check REGISTERVARD_DATABASE_URL.")
        except GaveUp as error:
            _fail(f"{error}. Check that Kafka ({settings.kafka}) and the register database are up; a supervisor may start this again.")
        raise AssertionError("unreachable")

    return wrapper


def _serve_metrics(port: int) -> None:
    """Prometheus metrics of this process on 127.0.0.1:`port` (0: none); a port in use is reported, not fatal."""
    if not port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr="127.0.0.1")
    except OSError as error:
        errors.print(f"[yellow]Warning:[/yellow] metrics not served: port {port} is not free ({error.strerror}).")


def _fail(message: str) -> None:
    errors.print(f"[red]Error:[/red] {message}")
    raise typer.Exit(1)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@app.callback()
def main(log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "WARNING") -> None:
    logs.configure(log_level.upper())


@topics_app.command("create")
@advise_on_failure
def topics_create() -> None:
    """Create Registervård's topics if they do not exist."""
    from events.topics import ensure_topics

    created = _run(ensure_topics(Settings.from_env()))
    console.print(f"Created {len(created)} topic(s): {', '.join(created) or 'none needed'}")


@app.command()
@advise_on_failure
def publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines file, one event per line.")],
    all_or_nothing: Annotated[bool, typer.Option(help="Publish nothing if any line is invalid.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Only validate FILE and report its bad lines: publish nothing, contact no broker.")] = False,
) -> None:
    """Validate the events in FILE and publish them to the intake topic."""
    from events.publish import PublishInterrupted, publish_file

    settings = Settings.from_env()
    interrupted: PublishInterrupted | None = None
    with _progress() as progress:
        task = progress.add_task("Checking" if check else "Publishing", total=None)
        try:
            report = _run(
                publish_file(
                    file,
                    settings,
                    all_or_nothing=all_or_nothing,
                    check_only=check,
                    on_progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            )
        except PublishInterrupted as stopped:
            interrupted, report = stopped, stopped.report
    for line_number, error in report.rejected:  # plain text: a field name may come from the file
        errors.print(f"line {line_number}: {error} [{error.code}]", markup=False, highlight=False, soft_wrap=True)
    if interrupted is not None:
        _fail(
            f"{interrupted} (Kafka at {settings.kafka}). Send the file again when the broker is back: "
            "events already published keep their ids and take effect once."
        )
    if check:
        console.print(f"{report.valid} event(s) valid, {len(report.rejected)} line(s) rejected (nothing published: --check).")
    else:
        held_back = " (nothing published: --all-or-nothing)" if all_or_nothing and report.rejected else ""
        console.print(f"{report.accepted} event(s) published, {len(report.rejected)} line(s) rejected{held_back}.")
    if report.rejected:
        raise typer.Exit(2)


@app.command()
def worker() -> None:
    """Run the stream processors (Faust): intake to the event log, or to dead letters."""
    import faust

    from events.topics import ensure_topics
    from processors.worker_app import create_app
    from projections.data_keys import key_store

    settings = Settings.from_env()
    advise_on_failure(lambda: _run(ensure_topics(settings)))()
    _serve_metrics(settings.worker_metrics_port)
    keys = advise_on_failure(key_store)(settings)  # the register database's data_keys
    faust_app = create_app(settings, keys)
    # Our structlog setup stays in charge of logging; Faust prints no banner.
    faust.Worker(faust_app, quiet=True, override_logging=False, redirect_stdouts=False).execute_from_commandline()


@app.command()
@advise_on_failure
def project(
    until_caught_up: Annotated[bool, typer.Option(help="Stop once every projection has every event in the log.")] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only this projection (repeatable): register, audit, or downstream (the publisher).")
    ] = None,
) -> None:
    """Keep the projections current from the event log, and publish changed customers to the downstream topic."""
    from projections.registry import projections
    from projections.downstream import run_downstream_publisher
    from projections.runner import run_projection

    settings = Settings.from_env()
    _serve_metrics(settings.projection_metrics_port)
    wanted = set(only or ())
    with_publisher = not wanted or "downstream" in wanted
    try:
        chosen = projections(settings, sorted(wanted - {"downstream"})) if wanted != {"downstream"} else []
    except ValueError as error:
        _fail(f"{error}, or downstream")
        return

    async def run_all() -> tuple[list[int], int]:
        runs = [run_projection(settings, p, until_caught_up=until_caught_up) for p in chosen]
        if until_caught_up:  # project everything, then publish what changed
            applied = await asyncio.gather(*runs)
            return applied, await run_downstream_publisher(settings, until_empty=True) if with_publisher else 0
        publisher = [run_downstream_publisher(settings)] if with_publisher else []
        results = await asyncio.gather(*runs, *publisher)
        return results[: len(runs)], results[-1] if publisher else 0

    applied, published = _run(run_all())
    for projection, total in zip(chosen, applied):
        console.print(f"{projection.name}: applied {total} event(s).")
    if with_publisher:
        console.print(f"downstream: published {published} snapshot(s).")


@app.command()
@advise_on_failure
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the register's customers by status and how far it lags behind the event log."""
    from projections.status import register_status

    current = _run(register_status(Settings.from_env()))
    if as_json:
        console.print_json(
            json.dumps({"customers": current.customers, "events_in_log": current.events_in_log, "lag": current.lag, "quarantined": current.quarantined})
        )
        return
    total = sum(current.customers.values())
    by_status = ", ".join(f"{count} {name.lower()}" for name, count in sorted(current.customers.items()))
    console.print(f"Register: {total} customer(s){f' ({by_status})' if total else ''}")
    console.print(f"Event log: {current.events_in_log} event(s); not yet in the register: {current.lag}")
    for projection, count in sorted((current.quarantined or {}).items()):
        console.print(
            f"[yellow]Quarantined:[/yellow] {count} log record(s) the {projection} projection could not open or write "
            "and skipped (`registervard quarantine` says where and why)."
        )


@app.command("quarantine")
@advise_on_failure
def quarantine(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the log records the projections skipped because they could not open or write them: where, and why."""
    from projections.status import quarantined_records
    from projections.tables import connect

    engine = connect(Settings.from_env().database_url)
    try:
        records = quarantined_records(engine)
    finally:
        engine.dispose()
    if as_json:
        console.print_json(json.dumps(records))
        return
    if not records:
        console.print("No quarantined log records.")
        return
    table = Table("projection", "partition", "offset", "code", "reason", "since")
    for r in records:
        table.add_row(str(r["projection"]), str(r["partition"]), str(r["offset"]), str(r["code"]), str(r["reason"]), str(r["quarantined_at"]))
    console.print(table)


@customer_app.command("show")
@advise_on_failure
def customer_show(
    customer_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a customer's current record in the register."""
    from projections.read import customer_record

    record = customer_record(Settings.from_env(), customer_id)
    if record is None:
        _fail(f"No customer {customer_id} in the register. Check the id, or whether the projection is running (registervard project).")
        return
    if as_json:
        console.print_json(json.dumps(record, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in record.items():
        table.add_row(f"[bold]{key}[/bold]", "" if value is None else str(value))
    console.print(table)


@demo_app.command("generate")
def demo_generate(
    customers: Annotated[int, typer.Option(help="How many customers.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 7,
    output: Annotated[Path, typer.Option(help="Where to write the JSON Lines file.")] = Path("demo-events.jsonl"),
) -> None:
    """Write a demo register's life as JSON Lines: registrations, moves, marriages, deaths, consents, NIX."""
    from registervard.demo import demo_events

    lines = demo_events(customers=customers, seed=seed)
    output.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    console.print(f"Wrote {len(lines)} events for {customers} customers to {output}")


# Command groups defined in registervard/commands/ (one module each) are added here.
from registervard.commands import export_command, extract_command, importer, nix, wash_command  # noqa: E402

app.command("import")(importer.import_command)
app.command("wash")(wash_command.wash_command)
app.add_typer(nix.app, name="nix")
app.command("export")(export_command.export_command)
app.command("extract")(extract_command.extract_command)
from registervard.commands.replay_command import replay_app  # noqa: E402
from registervard.commands.projections import projections_app  # noqa: E402
from registervard.commands import apikeys, serve  # noqa: E402

app.add_typer(replay_app, name="replay")
app.add_typer(projections_app, name="projections")
app.add_typer(contact.app, name="contact")
app.add_typer(deadletters.app, name="deadletters")
app.add_typer(audit.app, name="audit")
from registervard.commands import erase  # noqa: E402

app.command("erase")(erase.erase_command)
app.add_typer(erase.retention_app, name="retention")
app.add_typer(apikeys.app, name="apikeys")
app.command("serve")(serve.serve)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=errors)
