"""`registervard erase` and `registervard retention`: the right to erasure, and keeping the register no longer than needed."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from events.catalog import ErasureReason
from events.settings import Settings

console = Console()
errors = Console(stderr=True)

retention_app = typer.Typer(help="Deregistered customers kept longer than the retention period: list them, erase them.", no_args_is_help=True)


def erase_command(
    customer_id: Annotated[str, typer.Argument(help="The customer to erase (opaque customer id).")],
    reason: Annotated[ErasureReason, typer.Option(help="Why: the customer asked (Art. 17), the retention period ran out, or other.")],
) -> None:
    """Erase a customer's personal data (GDPR Art. 17): publishes CustomerErased; the worker then destroys their data key.

    Every recipient is told to purge (PersonalDataPurgeRequested, Art. 19), the
    downstream topic gets a tombstone, and the log keeps only ciphertext no one
    can read any more. It cannot be undone.
    """
    from registervard.cli import advise_on_failure
    from registervard.erasure import erase

    event = advise_on_failure(lambda: asyncio.run(erase(Settings.from_env(), customer_id, reason)))()
    console.print(
        f"Erasure of {customer_id} requested (event {event.event_id}, reason {reason.value}). "
        "The worker destroys the customer's key when it admits it; `registervard customer show` then says ERASED."
    )


@retention_app.command("due")
def due(
    years: Annotated[int | None, typer.Option(help="Retention period in years (default: REGISTERVARD_RETENTION_YEARS or 3).")] = None,
    erase_them: Annotated[bool, typer.Option("--erase", help="Erase them (reason RETENTION_EXPIRED).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --erase: say what would be erased, erase nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Customers deceased or emigrated longer ago than the retention period; with --erase, erase them."""
    from registervard.cli import _progress, advise_on_failure
    from registervard.erasure import erase_many, retention_due

    settings = Settings.from_env()
    period = Settings.from_env().retention_years if years is None else years
    found = advise_on_failure(lambda: retention_due(settings, years=period))()
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
    with _progress() as progress:
        task = progress.add_task("Erasing", total=len(ids))
        sent = advise_on_failure(
            lambda: asyncio.run(
                erase_many(settings, ids, ErasureReason.RETENTION_EXPIRED, on_progress=lambda done, total: progress.update(task, completed=done))
            )
        )()
    errors.print(f"{summary}; erasure requested for {sent}. The worker destroys their keys as it admits them.")
