"""Reading the register: `registervard status`, `quarantine` and `customer show`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from projections.read import customer_record
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, fail, run


@advise_on_failure
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the register's customers by status and how far it lags behind the event log."""
    # Imported here, not at the top: it imports the runner, whose metrics register in the default Prometheus
    # registry, which the worker's and the projections' processes serve (see commands/service.py).
    from projections.status import register_status

    current = run(register_status(bootstrap().settings))
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


@advise_on_failure
def quarantine(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the log records the projections skipped because they could not open or write them: where, and why."""
    from projections.status import quarantined_records  # here, not at the top: see `status`

    records = quarantined_records(bootstrap().engine)
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


@advise_on_failure
def customer_show(
    customer_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a customer's current record in the register."""
    record = customer_record(bootstrap().settings, customer_id)
    if record is None:
        fail(f"No customer {customer_id} in the register. Check the id, or whether the projection is running (registervard project).")
    if as_json:
        console.print_json(json.dumps(record, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in record.items():
        table.add_row(f"[bold]{key}[/bold]", "" if value is None else str(value))
    console.print(table)
