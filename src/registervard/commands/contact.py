"""`registervard contact`: may a customer be contacted, and why (events.contactability)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from events.catalog import Channel, ConsentPurpose
from events.contactability import Decision, decision_document, load_rules, may_contact
from events.settings import Settings

app = typer.Typer(help="Whether a customer may be contacted on a channel, for a purpose, as a company.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)

DENIED_EXIT_CODE = 2
"""Exit status when contact is not allowed (1 is an error), so scripts can ask `if registervard contact check ...`."""


@app.command("check")
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
    moment = _moment(at)
    try:
        rules = load_rules(Settings.from_env().contact_rules)
    except (OSError, ValueError) as error:
        _fail(f"Cannot use the contactability rules: {error}")
    state = _load_state(Settings.from_env(), customer_id)
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


def _moment(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        _fail(f"--at {at!r} is not an ISO 8601 time, e.g. 2025-06-01T10:00:00Z.")
    if moment.tzinfo is None:
        _fail(f"--at {at!r} needs a time zone, e.g. 2025-06-01T10:00:00Z or +02:00.")
    return moment


def _load_state(settings: Settings, customer_id: str):  # type: ignore[no-untyped-def]
    from projections.register import load_states
    from projections.tables import connect

    try:
        with Session(connect(settings.database_url)) as session:
            return load_states(session, [customer_id]).get(customer_id)
    except OperationalError as error:
        _fail(f"Cannot use the register database ({error.orig.__class__.__name__}). Check REGISTERVARD_DATABASE_URL.")


def _print(decision: Decision, customer_id: str, channel: Channel, purpose: ConsentPurpose, company: str, moment: datetime) -> None:
    verdict = "[bold green]ALLOWED[/bold green]" if decision.allowed else "[bold red]NOT ALLOWED[/bold red]"
    console.print(f"{verdict}: {company} contacting {customer_id} by {channel.value} for {purpose.value} at {moment.isoformat()}")
    for reason in decision.reasons:
        mark = "[red]✗[/red]" if reason.denies else "[green]✓[/green]"
        console.print(f"  {mark} [bold]{reason.code}[/bold]: {reason.message}", highlight=False)


def _fail(message: str) -> None:
    errors.print(f"[red]Error:[/red] {message}")
    raise typer.Exit(1)
