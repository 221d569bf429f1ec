"""`registervard contact`: may a customer be contacted, and why (events.contactability)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from events.catalog import Channel, ConsentPurpose
from events.contactability import Decision, decision_document, load_rules, may_contact
from projections.register import load_states
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail, parse_moment

app = typer.Typer(help="Whether a customer may be contacted on a channel, for a purpose, as a company.", no_args_is_help=True)

DENIED_EXIT_CODE = 2
"""Exit status when contact is not allowed (1 is an error), so scripts can ask `if registervard contact check ...`."""


@app.command("check")
@advise_on_failure
def check(
    customer_id: Annotated[str, typer.Argument(help="The customer's opaque id.")],
    channel: Annotated[Channel, typer.Option(case_sensitive=False, help="The channel of the contact.")],
    purpose: Annotated[ConsentPurpose, typer.Option(case_sensitive=False, help="Why we would contact the customer.")],
    company: Annotated[str, typer.Option(help="The company that would contact, as customers name it in consents.")],
    at: Annotated[str | None, typer.Option(help="When, ISO 8601 with a time zone (2025-06-01T10:00:00Z); default now.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide whether COMPANY may contact CUSTOMER_ID on CHANNEL for PURPOSE, with every reason.

    Exits 0 when contact is allowed, 2 when it is not, 1 on an error.
    """
    moment = parse_moment(at)
    services = bootstrap()
    try:
        rules = load_rules(services.settings.contact_rules)
    except (OSError, ValueError) as error:
        fail(f"Cannot use the contactability rules: {error}")
    with Session(services.engine) as session:
        state = load_states(session, [customer_id]).get(customer_id)
    decision = may_contact(state, channel=channel, purpose=purpose, company=company, at=moment, rules=rules)
    if as_json:
        document = decision_document(decision, customer_id=customer_id, channel=channel, purpose=purpose, company=company, at=moment)
        console.print_json(json.dumps(document))
    else:
        _print(decision, customer_id, channel, purpose, company, moment)
        if state is None:
            errors.print("Check the id, or whether the projection is running (registervard project).")
    if not decision.allowed:
        raise typer.Exit(DENIED_EXIT_CODE)


def _print(decision: Decision, customer_id: str, channel: Channel, purpose: ConsentPurpose, company: str, moment: datetime) -> None:
    verdict = "[bold green]ALLOWED[/bold green]" if decision.allowed else "[bold red]NOT ALLOWED[/bold red]"
    console.print(f"{verdict}: {company} contacting {customer_id} by {channel.value} for {purpose.value} at {moment.isoformat()}")
    for reason in decision.reasons:
        mark = "[red]✗[/red]" if reason.denies else "[green]✓[/green]"
        console.print(f"  {mark} [bold]{reason.code}[/bold]: {reason.message}", highlight=False)
