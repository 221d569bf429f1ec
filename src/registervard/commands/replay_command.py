"""`registervard replay`: the register as it stood at a moment, as known at a moment, folded again from the event log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from projections.replay import replay_as_of
from registervard.bootstrap import bootstrap
from registervard.commands.time_axes import KnownAt, ValidAt, moment_option
from registervard.console import advise_on_failure, console, errors, fail, progress, run

HELP = (
    "Reconstruct the register (or one customer) from the event log, with the same fold, on two time axes.\n\n"
    "--valid-at: the moment in the world asked about. Only facts that held by then count, by their effective dates "
    "(a move effective later has not happened yet; a consent withdrawn or lapsed later is still in force); the name, "
    "address and status shown are those in force on that day (UTC).\n\n"
    "--known-at: the moment of the register's knowledge. Only events RECORDED at or before it count (recorded_at): "
    "what the register could have said then.\n\n"
    "Each is a date, meaning the END of that day in UTC (everything known on 2025-06-01), or an ISO timestamp with a "
    "time zone (2025-06-01T12:00:00+02:00); each defaults to now. --as-of T (deprecated) means both.\n\n"
    "A protected identity's name and address are never shown, nor those of anyone protected at any time in the log."
)

replay_app = typer.Typer(help=HELP, invoke_without_command=True)


@replay_app.callback()
@advise_on_failure
def replay(
    valid_at: ValidAt = None,
    known_at: KnownAt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Deprecated: --valid-at and --known-at both at this moment.")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer id (reads one partition).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Reconstruct the register at a moment, as known at a moment (see `registervard replay --help`)."""
    both = moment_option("--as-of", as_of)
    if both is not None and (valid_at is not None or known_at is not None):
        fail("--as-of means --valid-at and --known-at at once; give either --as-of, or --valid-at and --known-at.")
    if both is not None:
        errors.print("[yellow]Note:[/yellow] --as-of is deprecated; it means --valid-at and --known-at at the same moment.")
    now = datetime.now(UTC)
    valid = both or moment_option("--valid-at", valid_at) or now
    known = both or moment_option("--known-at", known_at) or now
    services = bootstrap()
    with progress() as bar:
        task = bar.add_task("Reading the event log", total=None)
        result = run(
            replay_as_of(
                services.settings,
                keys=services.keys,
                valid_at=valid,
                known_at=known,
                customer_id=customer,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        )
    views = [view.to_plain() for view in result.views.values()]
    if as_json:
        document: dict[str, Any] = {"valid_at": valid.isoformat(), "known_at": known.isoformat()}
        if both is not None:
            document["as_of"] = both.isoformat()  # what scripts written for --as-of read
        console.print_json(json.dumps({**document, "events_read": result.events_read, "customers": views}))
        return
    if customer is not None and not views:
        fail(f"No customer {customer} was known at {known.isoformat()} as registered by {valid.isoformat()}.")
    table = Table(title=f"Register at {valid.isoformat()} (in force on {valid.astimezone(UTC).date().isoformat()}), as known at {known.isoformat()}")
    for column in ("customer", "status", "name", "address", "since", "consents"):
        table.add_column(column)
    for view in result.views.values():
        name = f"{view.name.given_names} {view.name.surname}" if view.name else (view.company_name or "")
        address = f"{view.address.street}, {view.address.postal_code} {view.address.city}" if view.address else ""
        if view.redacted:
            name, address = "(protected)", "(protected)"
        table.add_row(
            view.customer_id, view.status, name, address, str(view.address_since or ""), str(len(view.consents))
        )
    console.print(table)
    console.print(f"{len(views)} customer(s); {result.events_read} event(s) read.")
