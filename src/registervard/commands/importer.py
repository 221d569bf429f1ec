"""`registervard import`: an existing customer register (Excel or CSV) → CustomerRegistered events.

The row mapping is in registervard/importing.py. Here: read the file, leave out
customers the register already has, publish the rest, report every rejected row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events.publish import Publisher
from events.settings import Settings
from projections.lookup import lookup_hash
from projections.register import load_states
from projections.tables import IdentityLookupRow
from registervard import importing
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, progress, run

REJECTED_EXIT_CODE = 2


def occurred_at_of(file: Path, as_of: str | None) -> datetime:
    """When the imported facts are dated: --as-of, else the file's modification time (so a re-run gives the same events)."""
    if as_of:
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(f"{as_of!r} is not an ISO date or time, e.g. 2025-06-01", param_hint="--as-of") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(int(file.stat().st_mtime), UTC)
    if moment > datetime.now(UTC):
        raise typer.BadParameter("lies in the future; the register records facts that have happened", param_hint="--as-of")
    return moment.astimezone(UTC)


@advise_on_failure
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The register: .xlsx or .csv with a header row.")],
    company: Annotated[str | None, typer.Option(help="The company these are customers of (existing customers may be contacted about the same goods).")] = None,
    source: Annotated[str, typer.Option(help="The system the register comes from.")] = "CRM",
    as_of: Annotated[str | None, typer.Option(help="Date the facts are recorded as of (ISO); default the file's modification time.")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="column=field, e.g. 'Mobil nr=phone' (repeatable); field 'ignore' drops a column.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check and report, publish nothing.")] = False,
    all_or_nothing: Annotated[bool, typer.Option(help="Publish nothing if any row is rejected.")] = False,
) -> None:
    """Import an existing customer register (Excel or CSV) as CustomerRegistered events.

    Columns are found by header (Kundnummer, Personnummer, Förnamn, Efternamn,
    Företag, C/O, Gatuadress, Postnummer, Ort, Land, Telefon, E-post, or their
    English names). Every rejected row is reported with its line and reason;
    customers already in the register are left alone, so a re-run publishes nothing new.
    Exits 2 when a row was rejected.
    """
    services = bootstrap()
    settings = services.settings
    occurred_at = occurred_at_of(file, as_of)
    try:
        header, table = importing.read_table(file)
        columns = importing.resolve_columns(header, importing.parse_overrides(map_ or []))
    except (ValueError, OSError) as error:
        errors.print(f"[red]Error:[/red] {file.name}: {error}")
        raise typer.Exit(1) from None
    errors.print("Columns: " + ", ".join(f"{header[i]!s} → {f}" for i, f in sorted(columns.items())), markup=False, soft_wrap=True)

    with progress() as bar:
        reading = bar.add_task("Reading rows", total=None)

        def counted(rows: Iterable[Any]) -> Iterator[Any]:
            for row in rows:
                bar.advance(reading)
                yield row

        plan = importing.map_rows(
            counted(importing.rows_by_field(table, columns)),
            source=source,
            occurred_at=occurred_at,
            company=company,
            id_from_identity=lambda number: importing.opaque_id(lookup_hash(number, settings.lookup_key)),
        )
        bar.update(reading, total=bar.tasks[reading].completed)
        known = _already_registered(services.engine, [row.customer_id for row in plan.rows])
        elsewhere = _registered_under_other_ids(services.engine, settings, [row for row in plan.rows if row.customer_id not in known])
        new = [row for row in plan.rows if row.customer_id not in known and row.line_number not in elsewhere]
        published = 0
        held_back = bool(plan.rejected) and all_or_nothing
        if new and not dry_run and not held_back:
            sending = bar.add_task("Publishing", total=len(new))
            published = run(_publish(settings, [row.event for row in new], lambda n: bar.update(sending, completed=n)))

    for rejection in plan.rejected:
        errors.print(str(rejection), highlight=False, soft_wrap=True, markup=False)
    for line_number, other in sorted(elsewhere.items()):
        errors.print(
            f"line {line_number}: identity_number: the register already has this person as {other}; not published [ALREADY_REGISTERED]",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    note = " (dry run: nothing published)" if dry_run else " (nothing published: --all-or-nothing)" if held_back else ""
    console.print(
        f"{len(plan.rows) + len(plan.rejected)} row(s) read: {published} customer(s) published, "
        f"{len(known)} already in the register{f' ({len(elsewhere)} more under another customer id)' if elsewhere else ''}, "
        f"{len(plan.rejected)} row(s) rejected"
        f"{f' ({len(plan.duplicates)} duplicate(s) within the file)' if plan.duplicates else ''}{note}.",
        highlight=False,
        soft_wrap=True,
    )
    if dry_run and new:
        console.print(f"{len(new)} customer(s) would be published.")
    if plan.rejected:
        raise typer.Exit(REJECTED_EXIT_CODE)


def _already_registered(engine: Engine, customer_ids: list[str]) -> set[str]:
    """The customers among these that the register already has."""
    known: set[str] = set()
    with Session(engine) as session:
        for start in range(0, len(customer_ids), 500):
            states = load_states(session, customer_ids[start : start + 500])
            known.update(c for c, state in states.items() if state.registered)
    return known


def _registered_under_other_ids(engine: Engine, settings: Settings, rows: list[Any]) -> dict[int, str]:
    """Rows whose identity number the register already has under another customer id (by its keyed hash): line → that id."""
    by_hash = {}
    for row in rows:
        number = row.document["registration"].get("identity_number")
        if number:
            by_hash[lookup_hash(number, settings.lookup_key)] = row
    if not by_hash:
        return {}
    found: dict[int, str] = {}
    hashes = sorted(by_hash)
    with Session(engine) as session:
        for start in range(0, len(hashes), 500):
            query = select(IdentityLookupRow.lookup_hash, IdentityLookupRow.customer_id).where(
                IdentityLookupRow.lookup_hash.in_(hashes[start : start + 500])
            )
            for digest, customer_id in session.execute(query):
                row = by_hash[digest]
                if customer_id != row.customer_id:
                    found.setdefault(row.line_number, customer_id)
    return found


async def _publish(settings: Settings, events: list[Any], on_progress: Callable[[int], None]) -> int:
    done = 0
    async with Publisher(settings) as publisher:
        for start in range(0, len(events), 1000):
            done += await publisher.publish(events[start : start + 1000])
            on_progress(done)
    return done

