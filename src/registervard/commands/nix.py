"""`registervard nix import`: a NIX-Telefon register extract → NixRegistered / NixDeregistered for every customer with a phone.

A customer whose current number is in the extract is registered as of the
register version's date; every other customer with a phone was checked and is
not registered as of that date, which is what lets them be called for two
months (the wash's validity). Only changes are published: a customer whose
NIX status for that number already says the same as of that version or a
newer one is left alone. Event ids follow from the content, so importing the
same extract twice takes effect once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.jsonlines import parse_event
from events.phone import normalise_phone
from events.publish import Publisher
from events.settings import Settings
from projections.register import load_states
from projections.tables import CustomerRow
from registervard import exit_codes
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, progress, run

app = typer.Typer(help="NIX-Telefon: the do-not-call register for telemarketing.", no_args_is_help=True)


def read_numbers(path: Path) -> tuple[set[str], list[tuple[int, str]]]:
    """The numbers of a NIX extract (one per line, any common format; a first column of a CSV), E.164; and each unreadable line with its reason."""
    numbers: set[str] = set()
    rejected: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        cell = line.replace(";", ",").split(",")[0].strip().strip('"')
        if not any(ch.isdigit() for ch in cell):
            continue  # blank line or header
        try:
            numbers.add(normalise_phone(cell))
        except ValueError as error:
            rejected.append((number, f"phone: {error}"))
    return numbers, rejected


def nix_documents(states: list[Any], registered_numbers: set[str], version: date, source: str) -> tuple[list[dict[str, Any]], int]:
    """The NIX events these customers need after reading a register version, and how many needed none."""
    documents, unchanged = [], 0
    occurred = datetime.combine(version, time(0), UTC).isoformat().replace("+00:00", "Z")
    for state in states:
        phone = state.contact.phone if state.contact else None
        if not phone or not state.registered:
            continue
        registered = phone in registered_numbers
        current = next((entry for entry in state.nix if entry.phone == phone), None)
        if current is not None and (current.as_of > version or (current.as_of == version and current.registered == registered)):
            unchanged += 1
            continue
        documents.append(
            {
                "type": "NixRegistered" if registered else "NixDeregistered",
                "customer_id": state.customer_id,
                "occurred_at": occurred,
                "source": source,
                "phone": phone,
                "register_version_date": version.isoformat(),
            }
        )
    return documents, unchanged


@app.command("import")
@advise_on_failure
def import_extract(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The registered numbers of a NIX register version, one per line.")],
    version_date: Annotated[str, typer.Option(help="Date of the NIX register version (ISO, e.g. 2025-06-01).")],
    source: Annotated[str, typer.Option("--source", "--company-source", help="The reporting system named on the events.")] = "NIX",
    dry_run: Annotated[bool, typer.Option(help="Count, publish nothing.")] = False,
) -> None:
    """Record a NIX register version: registered for customers whose phone is in FILE, not registered for every other customer with a phone.

    A line that holds no readable number is named on standard error, and the command exits 4 (done, but some input was refused)."""
    try:
        version = date.fromisoformat(version_date)
    except ValueError:
        raise typer.BadParameter(f"{version_date!r} is not an ISO date", param_hint="--version-date") from None
    if version > datetime.now(UTC).date():
        raise typer.BadParameter("lies in the future", param_hint="--version-date")
    numbers, rejected = read_numbers(file)
    for line_number, reason in rejected:
        errors.print(f"line {line_number}: {reason} [INVALID_PHONE]", highlight=False, soft_wrap=True, markup=False)
    services = bootstrap()
    documents: list[dict[str, Any]] = []
    unchanged = matched = 0
    now = datetime.now(UTC)
    with Session(services.engine) as session:
        total = session.scalar(select(func.count()).select_from(CustomerRow).where(CustomerRow.phone.is_not(None))) or 0
        with progress() as bar:
            task = bar.add_task("Comparing customers", total=total)
            after = ""
            while True:
                ids = list(
                    session.scalars(
                        select(CustomerRow.customer_id)
                        .where(CustomerRow.phone.is_not(None), CustomerRow.customer_id > after)
                        .order_by(CustomerRow.customer_id)
                        .limit(1000)
                    )
                )
                if not ids:
                    break
                after = ids[-1]
                states = list(load_states(session, ids).values())
                matched += sum(1 for s in states if s.contact and s.contact.phone in numbers)
                found, same = nix_documents(states, numbers, version, source)
                documents += found
                unchanged += same
                bar.advance(task, len(ids))
                session.expunge_all()
    events = [parse_event(d, now=now) for d in documents]
    published = 0
    if events and not dry_run:
        published = run(_publish(services.settings, events))
    registered = sum(1 for d in documents if d["type"] == "NixRegistered")
    console.print(
        f"NIX register version {version}: {len(numbers)} number(s) read, {matched} of them a customer's; "
        f"{published if not dry_run else 0} event(s) published ({registered} registered, {len(documents) - registered} not registered), "
        f"{unchanged} customer(s) already up to date, {len(rejected)} line(s) rejected"
        + (f" (dry run: {len(events)} would be published)" if dry_run else "")
        + ".",
        highlight=False,
        soft_wrap=True,
    )
    if rejected:
        raise typer.Exit(exit_codes.SOME_REFUSED)


async def _publish(settings: Settings, events: list[Any]) -> int:
    async with Publisher(settings) as publisher:
        done = 0
        for start in range(0, len(events), 1000):
            done += await publisher.publish(events[start : start + 1000])
        return done
