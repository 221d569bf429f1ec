"""`registervard erase` and `registervard retention`: the right to erasure, and keeping the register no longer than needed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from events.catalog import ErasureReason
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, progress, run
from registervard.erasure import erase, erase_many, retention_due

retention_app = typer.Typer(help="Deregistered customers kept longer than the retention period: list them, erase them.", no_args_is_help=True)


@advise_on_failure
def erase_command(
    customer_id: Annotated[str, typer.Argument(help="The customer to erase (opaque customer id).")],
    reason: Annotated[ErasureReason, typer.Option(help="Why: the customer asked (Art. 17), the retention period ran out, or other.")],
) -> None:
    """Erase a customer's personal data (GDPR Art. 17): publishes CustomerErased; the worker then destroys their data key.

    Every recipient is told to purge (PersonalDataPurgeRequested, Art. 19), the
    downstream topic gets a tombstone, and the log keeps only ciphertext no one
    can read any more. It cannot be undone.
    """
    event = run(erase(bootstrap().settings, customer_id, reason))
    console.print(
        f"Erasure of {customer_id} requested (event {event.event_id}, reason {reason.value}). "
        "The worker destroys the customer's key when it admits it; `registervard customer show` then says ERASED."
    )


@retention_app.command("due")
@advise_on_failure
def due(
    years: Annotated[int | None, typer.Option(help="Retention period in years (default: REGISTERVARD_RETENTION_YEARS or 3).")] = None,
    erase_them: Annotated[bool, typer.Option("--erase", help="Erase them (reason RETENTION_EXPIRED).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --erase: say what would be erased, erase nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Customers deceased or emigrated longer ago than the retention period; with --erase, erase them."""
    services = bootstrap()
    period = services.settings.retention_years if years is None else years
    found = retention_due(services.settings, years=period, engine=services.engine)
    if as_json:
        console.print_json(json.dumps([{"customer_id": d.customer_id, "status": d.status, "deregistered_on": d.deregistered_on.isoformat()} for d in found]))
    elif not erase_them or dry_run:
        table = Table("customer", "status", "deregistered on")
        for d in found:
            table.add_row(d.customer_id, d.status, d.deregistered_on.isoformat())
        console.print(table)
    summary = f"{len(found)} customer(s) deregistered more than {period} year(s) ago"
    if not erase_them:
        errors.print(f"{summary}. `--erase` erases them.")
        return
    if dry_run:
        errors.print(f"{summary}; --dry-run: none erased.")
        return
    ids = [d.customer_id for d in found]
    with progress() as bar:
        task = bar.add_task("Erasing", total=len(ids))
        sent = run(erase_many(services.settings, ids, ErasureReason.RETENTION_EXPIRED, on_progress=lambda done, total: bar.update(task, completed=done)))
    errors.print(f"{summary}; erasure requested for {sent}. The worker destroys their keys as it admits them.")
