"""`registervard contact`: may a customer be contacted, and why (events.contactability)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from events.catalog import Channel, ConsentPurpose
from events.contactability import Decision, VersionRef, decision_document, load_rules, may_contact
from projections.history_at import StateAt, state_at_moment
from registervard import exit_codes
from registervard.bootstrap import bootstrap
from registervard.commands.time_axes import VALID_AT_HELP, KnownAt, moment_option
from registervard.console import advise_on_failure, console, errors, fail

app = typer.Typer(help="Whether a customer may be contacted on a channel, for a purpose, as a company.", no_args_is_help=True)

DENIED_EXIT_CODE = exit_codes.ANSWER_NO
"""Exit status when contact is not allowed, so scripts can ask `if registervard contact check ...` (registervard.exit_codes)."""


@app.command("check")
@advise_on_failure
def check(
    customer_id: Annotated[str, typer.Argument(help="The customer's opaque id.")],
    channel: Annotated[Channel, typer.Option(case_sensitive=False, help="The channel of the contact.")],
    purpose: Annotated[ConsentPurpose, typer.Option(case_sensitive=False, help="Why we would contact the customer.")],
    company: Annotated[str, typer.Option(help="The company that would contact, as customers name it in consents.")],
    valid_at: Annotated[str | None, typer.Option("--valid-at", "--at", help=f"When the contact is (or was) made. {VALID_AT_HELP}")] = None,
    known_at: KnownAt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide whether COMPANY may contact CUSTOMER_ID on CHANNEL for PURPOSE, with every reason and the rules' version.

    The customer is taken as they stood at --valid-at (a consent that has lapsed since still counts then), as the
    register knew them at --known-at, under the rules in force at --valid-at.

    Exits 0 when contact is allowed, 3 when it is not, 1 on an error, 2 when the command line is not understood.
    """
    asked_valid, asked_known = moment_option("--valid-at", valid_at), moment_option("--known-at", known_at)
    services = bootstrap()
    try:
        rules = load_rules(services.settings.contact_rules)
    except (OSError, ValueError) as error:
        fail(f"Cannot use the contactability rules: {error}")
    at_a_moment = asked_valid is not None or asked_known is not None
    with Session(services.engine) as session:
        found = state_at_moment(session, customer_id, valid_at=asked_valid, known_at=asked_known, keys=services.keys if at_a_moment else None)
        while found.state is not None and found.state.merged_into is not None:  # a merged id: the customer it was merged into decides
            errors.print(f"{customer_id} was merged into {found.state.merged_into} as a duplicate; deciding for {found.state.merged_into}.")
            customer_id = found.state.merged_into
            found = state_at_moment(session, customer_id, valid_at=asked_valid, known_at=asked_known, keys=services.keys if at_a_moment else None)
    decision = may_contact(found.state, channel=channel, purpose=purpose, company=company, at=found.valid_at, rules=rules)
    if as_json:
        document = decision_document(
            decision, customer_id=customer_id, channel=channel, purpose=purpose, company=company, at=found.valid_at, known_at=found.known_at
        )
        console.print_json(json.dumps(document))
    else:
        _print(decision, customer_id, channel, purpose, company, found)
        _advise(customer_id, found)
    if not decision.allowed:
        raise typer.Exit(DENIED_EXIT_CODE)


def _print(decision: Decision, customer_id: str, channel: Channel, purpose: ConsentPurpose, company: str, found: StateAt) -> None:
    verdict = "[bold green]ALLOWED[/bold green]" if decision.allowed else "[bold red]NOT ALLOWED[/bold red]"
    known = "" if found.known_at == found.valid_at else f", as known at {found.known_at.isoformat()}"
    console.print(f"{verdict}: {company} contacting {customer_id} by {channel.value} for {purpose.value} at {found.valid_at.isoformat()}{known}")
    for reason in decision.reasons:
        mark = "[red]✗[/red]" if reason.denies else "[green]✓[/green]"
        console.print(f"  {mark} [bold]{reason.code}[/bold]: {reason.message}", highlight=False)
    if decision.rules is not None:
        console.print(f"Rules: {_version(decision.rules)}", highlight=False)


def _version(version: VersionRef) -> str:
    since = f"in force from {version.valid_from.isoformat()}" if version.valid_from else "in force from the beginning"
    return f"version {version.id} ({since})" + (f": {version.label}" if version.label else "")


def _advise(customer_id: str, found: StateAt) -> None:
    if not found.known:
        errors.print("Check the id, or whether the projection is running (registervard project).")
    elif found.trail_events == 0:
        errors.print(
            f"The audit trail holds none of {customer_id}'s events, so their past cannot be told: "
            "is the audit projection running (registervard project)?"
        )
