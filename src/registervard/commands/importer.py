"""`registervard import`: an existing customer register (Excel or CSV) → CustomerRegistered events.

The row mapping is in registervard/importing.py. Here: read the file, leave out
customers the register already has, publish the rest, report every rejected row.

The file is streamed: rows are read one at a time and looked up and published
`BATCH_ROWS` at a time, so memory holds a batch, the rejected rows and the keys
that find duplicates within the file, not the file. With --wait the command
returns once the register has applied what it published (registervard/catch_up.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, TaskID
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events import codec
from events.publish import Publisher
from events.settings import Settings
from projections.lookup import stored_number_hash
from projections.register import load_states
from projections.tables import IdentityLookupRow
from registervard import catch_up, importing
from registervard.bootstrap import Services, bootstrap
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


BATCH_ROWS = 5000
"""Rows looked up in the register and published together: large enough that neither is paid per row, small
enough that memory does not grow with the file."""


@dataclass
class _Tally:
    """What one pass over a file found. It holds counts, and the rejected rows (line and reason) to report."""

    read: int = 0
    new: int = 0
    """Rows the register does not have: published, or with --dry-run what would be."""
    published: int = 0
    known: int = 0
    rejected: list[importing.Rejection] = field(default_factory=list)
    elsewhere: dict[int, str] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return sum(1 for r in self.rejected if r.error.code == "DUPLICATE_IN_FILE")


@advise_on_failure
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The register: .xlsx or .csv with a header row.")],
    company: Annotated[str | None, typer.Option(help="The company these are customers of (existing customers may be contacted about the same goods).")] = None,
    source: Annotated[str, typer.Option(help="The system the register comes from.")] = "CRM",
    as_of: Annotated[str | None, typer.Option(help="Date the facts are recorded as of (ISO); default the file's modification time.")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="column=field, e.g. 'Mobil nr=phone' (repeatable); field 'ignore' drops a column.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check and report, publish nothing.")] = False,
    all_or_nothing: Annotated[bool, typer.Option(help="Publish nothing if any row is rejected.")] = False,
    wait: Annotated[bool, typer.Option(help="After publishing, wait until the worker has admitted every event and the register has applied them.")] = False,
    wait_timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds (exit 1; the events stay published).")] = 3600,
) -> None:
    """Import an existing customer register (Excel or CSV) as CustomerRegistered events.

    Columns are found by header (Kundnummer, Personnummer, Förnamn, Efternamn,
    Företag, C/O, Gatuadress, Postnummer, Ort, Land, Telefon, E-post, or their
    English names). Every rejected row is reported with its line and reason;
    customers already in the register are left alone, so a re-run publishes nothing new.
    The file is read row by row and published in batches, so its size does not matter.
    Exits 2 when a row was rejected.
    """
    services = bootstrap()
    occurred_at = occurred_at_of(file, as_of)
    try:
        header, table = importing.read_table(file)
        columns = importing.resolve_columns(header, importing.parse_overrides(map_ or []))
    except (ValueError, OSError) as error:
        errors.print(f"[red]Error:[/red] {file.name}: {error}")
        raise typer.Exit(1) from None
    errors.print("Columns: " + ", ".join(f"{header[i]!s} → {f}" for i, f in sorted(columns.items())), markup=False, soft_wrap=True)
    options = _Options(file, columns, source, occurred_at, company)
    late: str | None = None
    with progress() as bar:
        rows_total = importing.row_estimate(file)
        if all_or_nothing and not dry_run:
            # A first pass finds any rejected row before anything is published; the file is read again to publish.
            checking = bar.add_task("Checking rows", total=rows_total)
            tally = run(_import(services, options, table, publish=False, on_row=lambda: bar.advance(checking)))
            held_back = bool(tally.rejected)
            if not held_back:
                table = importing.read_table(file)[1]
        else:
            held_back = False
        if not held_back:
            reading = bar.add_task("Reading rows" if dry_run else "Publishing rows", total=rows_total)
            tally, late = run(_import_and_wait(services, options, table, bar, reading, publish=not dry_run, wait=wait, timeout=wait_timeout))

    for rejection in tally.rejected:
        errors.print(str(rejection), highlight=False, soft_wrap=True, markup=False)
    for line_number, other in sorted(tally.elsewhere.items()):
        errors.print(
            f"line {line_number}: identity_number: the register already has this person as {other}; not published [ALREADY_REGISTERED]",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    note = " (dry run: nothing published)" if dry_run else " (nothing published: --all-or-nothing)" if held_back else ""
    console.print(
        f"{tally.read} row(s) read: {tally.published} customer(s) published, "
        f"{tally.known} already in the register{f' ({len(tally.elsewhere)} more under another customer id)' if tally.elsewhere else ''}, "
        f"{len(tally.rejected)} row(s) rejected"
        f"{f' ({tally.duplicates} duplicate(s) within the file)' if tally.duplicates else ''}{note}.",
        highlight=False,
        soft_wrap=True,
    )
    if dry_run and tally.new:
        console.print(f"{tally.new} customer(s) would be published.")
    if late is not None:
        errors.print(f"[red]Error:[/red] {late}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if tally.rejected:
        raise typer.Exit(REJECTED_EXIT_CODE)


@dataclass(frozen=True)
class _Options:
    file: Path
    columns: dict[int, str]
    source: str
    occurred_at: datetime
    company: str | None


async def _import_and_wait(
    services: Services, options: _Options, table: Iterable[Any], bar: Progress, task: TaskID, *, publish: bool, wait: bool, timeout: float
) -> tuple[_Tally, str | None]:
    """Publish the file's new customers (a progress bar per row) and, with `wait`, wait for the register (a bar each for the
    worker and the register); the tally, and advice if the register did not catch up in time."""
    settings = services.settings
    before = await catch_up.mark(settings) if publish and wait else None
    tally = await _import(services, options, table, publish=publish, on_row=lambda: bar.advance(task))
    bar.update(task, total=bar.tasks[task].completed)
    if before is None:
        return tally, None
    after = await catch_up.end_offsets(settings, settings.intake_topic)
    admitting = bar.add_task("Worker admitting", total=max(1, sum(after.values()) - sum(before.intake.values())))
    applying = bar.add_task("Register applying", total=None)

    def show(state: catch_up.CatchUp) -> None:
        bar.update(admitting, completed=state.admitted, total=max(state.published, state.admitted, 1))
        bar.update(applying, completed=state.applied, total=state.in_log if state.worker_done else None)

    try:
        await catch_up.wait_until_current(settings, services.engine, before, after, timeout=timeout, on_progress=show)
    except catch_up.NotCaughtUp as late:
        return tally, str(late)
    return tally, None


async def _import(services: Services, options: _Options, table: Iterable[Any], *, publish: bool, on_row: Callable[[], None]) -> _Tally:
    """One pass over the file: map each row, look its batch up in the register, and publish the new ones (if `publish`)."""
    settings = services.settings
    tally = _Tally()
    outcomes = importing.mapped_rows(
        importing.rows_by_field(table, options.columns),
        source=options.source,
        occurred_at=options.occurred_at,
        company=options.company,
        id_from_identity=lambda number: importing.opaque_id(stored_number_hash(number, settings.lookup_key)),
    )
    publisher = Publisher(settings) if publish else None
    async with contextlib.AsyncExitStack() as stack:
        if publisher is not None:
            await stack.enter_async_context(publisher)
        batch: list[importing.ImportedRow] = []
        for outcome in outcomes:
            tally.read += 1
            on_row()
            if isinstance(outcome, importing.Rejection):
                tally.rejected.append(outcome)
                continue
            batch.append(outcome)
            if len(batch) >= BATCH_ROWS:
                await _settle(services, batch, tally, publisher)
        await _settle(services, batch, tally, publisher)
    return tally


async def _settle(services: Services, batch: list[importing.ImportedRow], tally: _Tally, publisher: Publisher | None) -> None:
    """Leave out the batch's customers the register already has, publish the rest, count, and empty the batch."""
    if not batch:
        return
    known = _already_registered(services.engine, [row.customer_id for row in batch])
    elsewhere = _registered_under_other_ids(services.engine, services.settings, [row for row in batch if row.customer_id not in known])
    new = [row for row in batch if row.customer_id not in known and row.line_number not in elsewhere]
    tally.known += len(known)
    tally.elsewhere.update(elsewhere)
    tally.new += len(new)
    if publisher is not None and new:
        tally.published += await publisher.publish_encoded([(row.customer_id.encode(), codec.encode(row.event)) for row in new])
    batch.clear()


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
            by_hash[stored_number_hash(number, settings.lookup_key)] = row
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
