"""`registervard duplicates merge KEEP DROP`: merge a duplicate customer into the customer to keep."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from registervard import exit_codes
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail, run
from registervard.duplicate_merge import MergePlan, merge_check, publish_merge, wait_for_merge
from registervard.erasure import describe


@advise_on_failure
def duplicates_merge(
    keep: Annotated[str, typer.Argument(help="The customer to keep (opaque customer id).")],
    drop: Annotated[str, typer.Argument(help="The duplicate to merge into it; its id then only points to KEEP.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Merge even when the two have different identity numbers (say a coordination number replaced by a personal "
            "identity number) or a different status in the population register; KEEP's number and status stay.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts): a merge cannot be undone.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the register shows the merge (the worker and the projection must run).")] = False,
    wait_timeout: Annotated[float, typer.Option(help="With --wait: give up waiting after this many seconds.")] = 120.0,
) -> None:
    """Merge the customer DROP into KEEP: publishes CustomersMerged. KEEP takes in DROP's history, consents and NIX
    status by the register's rules (KEEP's identity, name and contact details stay; DROP's fill what KEEP lacks;
    addresses by effective date), and DROP's id points to KEEP from then on: `customer show DROP` shows KEEP, the
    downstream topic gets a tombstone for DROP, KEEP's extract includes DROP's history.

    Refused, with the rule named: the same customer twice, a customer the register does not have, an erased or
    protected identity, a customer merged already, a person and a company, different identity numbers or
    population-register status (unless --force). It names both customers and asks first (--yes skips the question)."""
    services = bootstrap()
    plan = merge_check(services.engine, keep, drop, force=force)
    if not isinstance(plan, MergePlan):
        fail(f"Nothing was merged: {plan} [{plan.code}].")
    if not yes:
        _confirm(plan)
    run(publish_merge(services.settings, plan.event))
    console.print(f"Merge of {drop} into {keep} requested (event {plan.event.event_id}).")
    if not wait:
        errors.print(f"The worker merges them as it admits it; `registervard customer show {drop}` then shows {keep}.")
        return
    if not wait_for_merge(services.engine, keep, drop, timeout=wait_timeout):
        fail(
            f"The register did not show the merge within {wait_timeout:g} s. It is published and takes effect once "
            "`registervard worker` and `registervard project` run; `registervard status` shows how far they have come."
        )
    console.print(f"{drop} is merged into {keep}.")


def _confirm(plan: MergePlan) -> None:
    """Ask on the terminal, naming both customers; refuse, with advice, without a terminal or when the answer is no."""
    if not sys.stdin.isatty():
        fail("A merge cannot be undone, so it asks for confirmation, and standard input is not a terminal. Pass --yes to merge from a script.")
    kept, dropped = plan.event.kept_customer_id, plan.event.dropped_customer_id
    question = f"Merge {dropped} ({describe(plan.dropped)}) into {kept} ({describe(plan.kept)})? {dropped} then only points to {kept}. Continue?"
    if not typer.confirm(question, default=False, err=True):
        errors.print("Nothing merged.")
        raise typer.Exit(exit_codes.ERROR)
