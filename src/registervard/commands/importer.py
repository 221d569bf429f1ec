"""`registervard import`: an existing customer register (Excel or CSV) → CustomerRegistered events.

The row mapping is in registervard/importing.py, reading the file (encoding, delimiter, header row) in
registervard/spreadsheet_files.py, the result file in registervard/import_results.py. Here: read the file, leave
out customers the register already has, publish the rest, report every rejected row and every value left out,
and write each row's result.

The file is streamed: rows are read one at a time and looked up and published `BATCH_ROWS` at a time, so memory
holds a batch, the keys that find duplicates within the file, and the report's first messages, not the file. The
result file is written as each batch is settled, in the file's order. With --wait the command returns once the
register has applied what it published (registervard/catch_up.py).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
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
from registervard import catch_up, exit_codes, importing, spreadsheet_files
from registervard.bootstrap import Services, bootstrap
from registervard.console import advise_on_failure, console, errors, progress, run
from registervard.import_results import ResultFile, RowResult, RowStatus, result_path

REJECTED_EXIT_CODE = exit_codes.SOME_REFUSED
"""Exit status when a row was rejected: done, but some input was refused (registervard.exit_codes)."""


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

LISTED_MESSAGES = 1000
"""Messages (rejections, values left out) printed at most; the result file holds every one."""


@dataclass
class _Tally:
    """What one pass over a file found: counts, and the first messages to print (line and reason, no personal data)."""

    read: int = 0
    new: int = 0
    """Rows the register does not have: published, or with --dry-run what would be."""
    published: int = 0
    """Customers published (a company's contact person counts as one)."""
    contact_persons: int = 0
    """Contact persons among the new customers."""
    known: int = 0
    elsewhere: int = 0
    """Rows whose identity number the register has under another customer id."""
    rejected: int = 0
    duplicates: int = 0
    warned: int = 0
    """New rows with a value left out."""
    left_out: Counter[str] = field(default_factory=Counter)
    """Column → new rows with a value of it left out."""
    messages: list[str] = field(default_factory=list)
    unlisted: int = 0

    def say(self, lines: Iterable[str]) -> None:
        for line in lines:
            if len(self.messages) < LISTED_MESSAGES:
                self.messages.append(line)
            else:
                self.unlisted += 1


@advise_on_failure
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The register: .xlsx or .csv (UTF-8 or Excel's CSV, ; , or tab).")],
    company: Annotated[str | None, typer.Option(help="The company these are customers of (existing customers may be contacted about the same goods).")] = None,
    source: Annotated[str, typer.Option(help="The system the register comes from.")] = "CRM",
    as_of: Annotated[str | None, typer.Option(help="Date the facts are recorded as of (ISO); default the file's modification time.")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="column=field, e.g. 'Mobil nr=phone' (repeatable); field 'ignore' drops a column.")] = None,
    header_row: Annotated[
        int | None, typer.Option(min=1, help="The line (CSV) or row (Excel) the header is on; default: found among the first rows.")
    ] = None,
    result: Annotated[Path | None, typer.Option(help="Each row's result: .csv or .xlsx; default <name>.result.csv/.xlsx beside the file.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check and report, publish nothing.")] = False,
    all_or_nothing: Annotated[bool, typer.Option(help="Publish nothing if any row is rejected.")] = False,
    wait: Annotated[bool, typer.Option(help="After publishing, wait until the worker has admitted every event and the register has applied them.")] = False,
    wait_timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds (exit 1; the events stay published).")] = 3600,
) -> None:
    """Import an existing customer register (Excel or CSV) as CustomerRegistered events.

    The encoding (UTF-8, Excel's Windows-1252), the delimiter (; , tab) and the header row (below a title or
    blank rows) are found. Columns are found by header (Kundnummer, Personnummer/Pnr, Namn or Förnamn and
    Efternamn, Företag, Kontaktperson, C/O, Gatuadress, Postadress or Postnummer and Ort, Land, Telefon,
    E-post, or their English names: src/registervard/import_columns.toml). Every rejected row is reported with its
    line and every reason; a bad phone or e-mail is left out with a warning and the row kept; columns not imported
    are listed. Each row's customer id, status and messages go to a result file. Customers already in the
    register are left alone, so a re-run publishes nothing new. The file is read row by row and published in
    batches, so its size does not matter. Exits 4 when a row was rejected (done, but some input was refused).
    """
    services = bootstrap()
    occurred_at = occurred_at_of(file, as_of)
    output = result_path(file, result)
    table = None
    try:
        if output.resolve() == file.resolve():
            raise ValueError("--result names the file being imported; choose another file")
        overrides = importing.parse_overrides(map_ or [])
        table = importing.open_table(file, header_row=header_row, overrides=overrides)
        columns = importing.resolve_columns(table.header, overrides)
        # Every line is decoded once before anything is published: a file that is not text fails here, naming the line.
        lines = None if spreadsheet_files.is_workbook(file) else spreadsheet_files.count_lines(file)
    except (ValueError, OSError) as error:
        if table is not None:
            table.close()
        errors.print(f"[red]Error:[/red] {escape(file.name)}: {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(exit_codes.ERROR) from None
    header = table.header
    _describe_layout(table)
    errors.print("Columns: " + ", ".join(_mapped(header, i, f) for i, f in sorted(columns.items())), markup=False, soft_wrap=True)
    unmapped = importing.unmapped_columns(header, columns, overrides)
    filled: Counter[int] = Counter()
    named = {target: importing.column_name(header, index) for index, target in columns.items()}
    column_names = {index: importing.column_name(header, index) for index in unmapped}
    options = _Options(file, columns, source, occurred_at, company, named, unmapped, column_names, filled)
    stated = lines if lines is not None else spreadsheet_files.workbook_rows(file)
    rows_total = max(0, stated - table.header_line) if stated is not None else None
    late: str | None = None
    with progress() as bar:
        if all_or_nothing and not dry_run:
            # A first pass finds any rejected row before anything is published; the file is read again to publish.
            checking = bar.add_task("Checking rows", total=rows_total)
            with ResultFile(output) as results:
                tally = run(
                    _import(services, options, table.rows, results, publish=False, on_row=lambda: bar.advance(checking), note=_HELD_BACK)
                )
            held_back = tally.rejected > 0
            if not held_back:
                filled.clear()
                table = importing.open_table(file, header_row=table.header_line, overrides=overrides)
        else:
            held_back = False
        if not held_back:
            reading = bar.add_task("Reading rows" if dry_run else "Publishing rows", total=rows_total)
            with ResultFile(output) as results:
                tally, late = run(
                    _import_and_wait(services, options, table.rows, results, bar, reading, publish=not dry_run, wait=wait, timeout=wait_timeout)
                )
    _report(tally, options, output, dry_run=dry_run, held_back=held_back)
    if late is not None:
        errors.print(f"[red]Error:[/red] {late}", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_codes.ERROR)
    if tally.rejected:
        raise typer.Exit(REJECTED_EXIT_CODE)


_DRY_RUN = "dry run: not published"
_HELD_BACK = "not published: --all-or-nothing, and a row was rejected"


def _mapped(header: list[Any], index: int, target: str) -> str:
    parts = importing.SPLITS.get(target)
    return f"{importing.column_name(header, index)} → {target}" + (f" ({', '.join(parts)})" if parts else "")


def _describe_layout(table: spreadsheet_files.Table) -> None:
    """Say how the file was read, where there was anything to find out: a CSV file's encoding and delimiter, and the
    header's line when it is not the first."""
    where = "line" if table.encoding else "row"
    parts = []
    if table.encoding:
        delimiter = {"\t": "tab", ";": "';'", ",": "','"}[table.delimiter or ";"]
        parts.append(f"Read as {spreadsheet_files.ENCODING_NAMES[table.encoding]} text, {delimiter}-separated")
    if table.header_line != 1:
        above = f" ({len(table.skipped)} {where}(s) above it left out)" if table.skipped else ""
        parts.append(f"header on {where} {table.header_line}{above}")
    if parts:
        text = "; ".join(parts)
        errors.print(text[0].upper() + text[1:] + ".", markup=False, highlight=False, soft_wrap=True)


def _report(tally: _Tally, options: _Options, output: Path, *, dry_run: bool, held_back: bool) -> None:
    """The messages (standard error) and the summary (standard output)."""
    for line in tally.messages:
        errors.print(line, highlight=False, soft_wrap=True, markup=False)
    if tally.unlisted:
        errors.print(f"... and {tally.unlisted} more message(s): see {output}", highlight=False, soft_wrap=True, markup=False)
    note = " (dry run: nothing published)" if dry_run else " (nothing published: --all-or-nothing)" if held_back else ""
    contacts = f" ({tally.contact_persons} of them a company's contact person)" if tally.contact_persons and tally.published else ""
    say = lambda text: console.print(text, highlight=False, soft_wrap=True, markup=False)  # noqa: E731
    say(
        f"{tally.read} row(s) read: {tally.published} customer(s) published{contacts}, "
        f"{tally.known} already in the register{f' ({tally.elsewhere} more under another customer id)' if tally.elsewhere else ''}, "
        f"{tally.rejected} row(s) rejected"
        f"{f' ({tally.duplicates} duplicate(s) within the file)' if tally.duplicates else ''}{note}."
    )
    if dry_run and tally.new:
        contacts = f" ({tally.contact_persons} of them a company's contact person)" if tally.contact_persons else ""
        say(f"{tally.new + tally.contact_persons} customer(s) would be published{contacts}.")
    if tally.warned:
        columns = ", ".join(f"{column} ({n} row(s))" for column, n in tally.left_out.most_common())
        say(f"{tally.warned} row(s) kept with a value left out, by column: {columns}.")
    listed = [
        f"{options.column_names[i]} ({options.filled[i]} row(s) with a value)"
        for i in options.unmapped
        if options.filled[i] or not options.column_names[i].startswith("column ")  # an unnamed empty column is no data
    ]
    if listed:
        say(f"Columns not imported: {', '.join(listed)}; --map \"Column=field\" imports one.")
    say(f"Each row's result: {output}")


@dataclass(frozen=True)
class _Options:
    file: Path
    columns: dict[int, str]
    source: str
    occurred_at: datetime
    company: str | None
    headers: dict[str, str]
    """Field → the header of its column, to name columns in warnings."""
    unmapped: list[int]
    """The columns no field takes."""
    column_names: dict[int, str]
    filled: Counter[int]
    """Unmapped column → rows with a value in it (counted as the rows are read)."""


async def _import_and_wait(
    services: Services,
    options: _Options,
    table: Iterable[Any],
    results: ResultFile,
    bar: Progress,
    task: TaskID,
    *,
    publish: bool,
    wait: bool,
    timeout: float,
) -> tuple[_Tally, str | None]:
    """Publish the file's new customers (a progress bar per row) and, with `wait`, wait for the register (a bar each for the
    worker and the register); the tally, and advice if the register did not catch up in time."""
    settings = services.settings
    before = await catch_up.mark(settings) if publish and wait else None
    note = None if publish else _DRY_RUN
    tally = await _import(services, options, table, results, publish=publish, on_row=lambda: bar.advance(task), note=note)
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


async def _import(
    services: Services, options: _Options, table: Iterable[Any], results: ResultFile, *, publish: bool, on_row: Callable[[], None], note: str | None
) -> _Tally:
    """One pass over the file: map each row, look its batch up in the register, publish the new ones (if `publish`),
    and write each row's result; `note` is said of every row that would have been published."""
    settings = services.settings
    tally = _Tally()
    cells = importing.count_filled(table, options.unmapped, options.filled)
    outcomes = importing.mapped_rows(
        importing.rows_by_field(cells, options.columns),
        source=options.source,
        occurred_at=options.occurred_at,
        company=options.company,
        id_from_identity=lambda number: importing.opaque_id(stored_number_hash(number, settings.lookup_key)),
        id_from_text=lambda text: importing.opaque_id(stored_number_hash(text, settings.lookup_key)),
        headers=options.headers,
    )
    publisher = Publisher(settings) if publish else None
    async with contextlib.AsyncExitStack() as stack:
        if publisher is not None:
            await stack.enter_async_context(publisher)
        batch: list[importing.Outcome] = []
        for outcome in outcomes:
            tally.read += 1
            on_row()
            batch.append(outcome)
            if len(batch) >= BATCH_ROWS:
                await _settle(services, batch, tally, publisher, results, note)
        await _settle(services, batch, tally, publisher, results, note)
    return tally


async def _settle(
    services: Services, batch: list[importing.Outcome], tally: _Tally, publisher: Publisher | None, results: ResultFile, note: str | None
) -> None:
    """Leave out the batch's customers the register already has, publish the rest, write every row's result in the
    file's order, count, and empty the batch."""
    if not batch:
        return
    rows = [o for o in batch if not isinstance(o, importing.Rejection)]
    known = _already_registered(services.engine, [row.customer_id for row in rows])
    elsewhere = _registered_under_other_ids(services.engine, services.settings, [row for row in rows if row.customer_id not in known])
    new = [row for row in rows if isinstance(row, importing.ImportedRow) and row.customer_id not in known and row.line_number not in elsewhere]
    if publisher is not None and new:
        await publisher.publish_encoded([(event.customer_id.encode(), codec.encode(event)) for row in new for event in row.events])
        tally.published += sum(1 + len(row.contact_persons) for row in new)
    for outcome in batch:
        outcome_result = _result_of(outcome, known, elsewhere, note, tally)
        results.write(outcome_result)
    batch.clear()


def _result_of(outcome: importing.Outcome, known: set[str], elsewhere: dict[int, str], note: str | None, tally: _Tally) -> RowResult:
    """A row's result, counted and (its messages) said."""
    line = outcome.line_number
    if isinstance(outcome, importing.Rejection):
        tally.rejected += 1
        tally.duplicates += outcome.error.code == "DUPLICATE_IN_FILE"
        tally.say(str(outcome).splitlines())
        return RowResult(line, outcome.customer_id, RowStatus.REJECTED, tuple(outcome.messages()))
    if outcome.customer_id in known:
        tally.known += 1
        return RowResult(line, outcome.customer_id, RowStatus.UNCHANGED, ("already in the register; nothing published",))
    if line in elsewhere:
        tally.elsewhere += 1
        message = f"identity_number: the register already has this person as {elsewhere[line]}; not published [ALREADY_REGISTERED]"
        tally.say([f"line {line}: {message}"])
        return RowResult(line, elsewhere[line], RowStatus.UNCHANGED, (message,))
    if isinstance(outcome, importing.ReferenceRow):
        tally.rejected += 1
        message = f"{outcome.refusal} [{outcome.refusal.code}]"
        tally.say([f"line {line}: {message}"])
        return RowResult(line, outcome.customer_id, RowStatus.REJECTED, (message,))
    tally.new += 1
    tally.contact_persons += len(outcome.contact_persons)
    messages = [warning.message() for warning in outcome.warnings]
    tally.say(str(warning) for warning in outcome.warnings)
    if outcome.warnings:
        tally.warned += 1
        tally.left_out.update(dict.fromkeys(warning.column or warning.error.field for warning in outcome.warnings).keys())  # once a row
    messages += [f"contact person registered as {person.customer_id}" for person in outcome.contact_persons]
    if note:
        messages.append(note)
    return RowResult(line, outcome.customer_id, RowStatus.WARNING if outcome.warnings else RowStatus.IMPORTED, tuple(messages))


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
        if row.identity_number:
            by_hash[stored_number_hash(row.identity_number, settings.lookup_key)] = row
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
