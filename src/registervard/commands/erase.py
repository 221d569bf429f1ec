"""`registervard erase` and `registervard retention`: the right to erasure, and keeping the register no longer than needed."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from events.catalog import ErasureReason
from registervard import exit_codes
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail, progress, run
from registervard.erasure import NotErasable, describe, erase, erase_many, erasure_target, retention_due
from registervard.listings import whole

retention_app = typer.Typer(help="Deregistered customers kept longer than the retention period: list them, erase them.", no_args_is_help=True)


@advise_on_failure
def erase_command(
    customer_id: Annotated[str, typer.Argument(help="The customer to erase (opaque customer id; `registervard customer find` finds it).")],
    reason: Annotated[
        ErasureReason, typer.Option(case_sensitive=False, help="Why: the customer asked (Art. 17), the retention period ran out, or other; any case.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts): the erasure cannot be undone.")] = False,
) -> None:
    """Erase a customer's personal data (GDPR Art. 17): publishes CustomerErased; the worker then destroys their data key.

    Every recipient is told to purge (PersonalDataPurgeRequested, Art. 19), the
    downstream topic gets a tombstone, and the log keeps only ciphertext no one
    can read any more. It cannot be undone: the command names the customer and
    asks before it publishes anything (--yes skips the question). Only a customer
    the register has is erased.
    """
    services = bootstrap()
    target = erasure_target(services.engine, customer_id)
    if isinstance(target, NotErasable):
        fail(target.advice)
    if target.status == "ERASED":
        console.print(f"{customer_id} is already erased; nothing to do.")
        return
    if not yes:
        _confirm(f"Erase {customer_id} ({describe(target)})? Their personal data can never be read again")
    event = run(erase(services.settings, customer_id, reason))
    console.print(
        f"Erasure of {customer_id} requested (event {event.event_id}, reason {reason.value}). "
        "The worker destroys the customer's key when it admits it; `registervard customer show` then says ERASED."
    )


def _confirm(question: str) -> None:
    """Ask on the terminal; refuse, with advice, when there is no terminal to ask on or the answer is no."""
    if not sys.stdin.isatty():
        fail("An erasure cannot be undone, so it asks for confirmation, and standard input is not a terminal. Pass --yes to erase from a script.")
    if not typer.confirm(f"{question}. Continue?", default=False, err=True):
        errors.print("Nothing erased.")
        raise typer.Exit(exit_codes.ERROR)


@retention_app.command("due")
@advise_on_failure
def due(
    years: Annotated[int | None, typer.Option(help="Retention period in years (default: REGISTERVARD_RETENTION_YEARS or 3).")] = None,
    erase_them: Annotated[bool, typer.Option("--erase", help="Erase them (reason RETENTION_EXPIRED).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --erase: say what would be erased, erase nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --erase: do not ask for confirmation (for scripts).")] = False,
) -> None:
    """Customers deceased or emigrated longer ago than the retention period; with --erase, erase them (after asking)."""
    services = bootstrap()
    period = services.settings.retention_years if years is None else years
    found = retention_due(services.settings, years=period, engine=services.engine)
    if as_json:
        console.print_json(json.dumps([{"customer_id": d.customer_id, "status": d.status, "deregistered_on": d.deregistered_on.isoformat()} for d in found]))
    elif not erase_them or dry_run:
        table = Table(whole("customer", [d.customer_id for d in found]), "status", "deregistered on")
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
    if not ids:
        errors.print(f"{summary}: nothing to erase.")
        return
    if not yes:
        _confirm(f"Erase these {len(ids)} customer(s)? Their personal data can never be read again")
    with progress() as bar:
        task = bar.add_task("Erasing", total=len(ids))
        sent = run(erase_many(services.settings, ids, ErasureReason.RETENTION_EXPIRED, on_progress=lambda done, total: bar.update(task, completed=done)))
    errors.print(f"{summary}; erasure requested for {sent}. The worker destroys their keys as it admits them.")
