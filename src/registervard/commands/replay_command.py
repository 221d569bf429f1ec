"""`registervard replay`: the register as it was known at a moment, folded again from the event log."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from projections.replay import parse_as_of, replay_as_of
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, fail, progress, run

HELP = (
    "Reconstruct the register (or one customer) as of a moment, from the event log, with the same fold.\n\n"
    "Bitemporal: only events RECORDED at or before --as-of count (what we knew then: recorded_at); of those, "
    "what was IN FORCE on that day (UTC) by effective dates: the name and address effective on or before it, "
    "death and emigration from their dates, consents given by then and not lapsed.\n\n"
    "--as-of is a date, meaning the END of that day in UTC (everything known on 2025-06-01), "
    "or an ISO timestamp with a time zone (2025-06-01T12:00:00+02:00).\n\n"
    "A protected identity's name and address are never shown, nor those of anyone protected at any time in the log."
)

replay_app = typer.Typer(help=HELP, invoke_without_command=True)


@replay_app.callback()
@advise_on_failure
def replay(
    as_of: Annotated[str, typer.Option("--as-of", help="YYYY-MM-DD (end of that day, UTC) or an ISO timestamp with a zone.")],
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer id (reads one partition).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Reconstruct the register as of a moment (see `registervard replay --help`)."""
    try:
        moment = parse_as_of(as_of)
    except ValueError as error:
        fail(str(error))
    services = bootstrap()
    with progress() as bar:
        task = bar.add_task("Reading the event log", total=None)
        result = run(
            replay_as_of(
                services.settings,
                moment,
                keys=services.keys,
                customer_id=customer,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        )
    views = [view.to_plain() for view in result.views.values()]
    if as_json:
        console.print_json(json.dumps({"as_of": moment.isoformat(), "events_read": result.events_read, "customers": views}))
        return
    if customer is not None and not views:
        fail(f"No customer {customer} was known at {moment.isoformat()}.")
    table = Table(title=f"Register as known at {moment.isoformat()} (in force on {moment.date().isoformat()})")
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
