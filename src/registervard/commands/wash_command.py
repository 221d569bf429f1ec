"""`registervard wash`: NIX wash of a call list against the register (projections/wash.py decides).

The answer is the call list again, with three columns added: "Får ringas" (ja/nej), "Skäl" (the reason codes that
decided, stable for scripts) and "Förklaring" (what they mean and what to do, in Swedish). `--output washed.xlsx`
writes a workbook, any other name CSV in the input's delimiter (`;` for a workbook's list), both through
`projections.spreadsheet_output`. Input cells are written back as they were read: a date stays a date. Progress
bars on standard error (reading, looking up, washing, writing) show how far a long list has come.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from events.contactability import load_rules
from projections.spreadsheet_output import DEFAULT_DELIMITER, NO, YES, CsvWriter, WorkbookWriter, check_writable, spreadsheet_writer
from projections.wash import Washer, WashResult, WashRow, load_states_for, phones_of
from projections.wash_reasons import deciding, explain
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, errors, fail, parse_moment, progress
from registervard.importing import cell_text, csv_delimiter, read_table, row_estimate

PHONE_HEADERS = ("telefon", "telefonnummer", "mobil", "mobilnummer", "phone", "phone number", "nummer", "number", "tel")
ID_HEADERS = ("kundnummer", "kundnr", "kundid", "kund-id", "customer_id", "customer id", "customer number")

MAY_CALL, REASONS, EXPLANATION = "Får ringas", "Skäl", "Förklaring"
ANSWER_HEADER = (MAY_CALL, REASONS, EXPLANATION)
"""The columns the wash adds. A list washed before has them already: they are replaced, not repeated."""
CODE_SEPARATOR = ", "
"""Between the codes in the reason column (not `;`, the CSV's own delimiter)."""


def _key(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _column(header: list[str], chosen: str | None, aliases: tuple[str, ...]) -> int | None:
    keys = [_key(h) for h in header]
    if chosen is not None:
        key = _key(chosen)
        if key not in keys:
            raise typer.BadParameter(f"no column {chosen!r} in the file's header")
        return keys.index(key)
    return next((keys.index(a) for a in aliases if a in keys), None)


def answer_cells(result: WashResult) -> list[str]:
    """The cells the wash adds to a row: ja/nej, the deciding codes, and their Swedish explanations."""
    codes = deciding(result.reasons, result.may_call)
    return [YES if result.may_call else NO, CODE_SEPARATOR.join(codes), " ".join(explain(code) for code in codes)]


def summary(results: Sequence[WashResult], company: str, moment: datetime, output: Path | None) -> str:
    """What the wash found, for standard error: the counts, the codes that allowed and stopped the calls, and what each
    code that stopped one means (NO_NUMBER, NO_PHONE_NUMBER and UNKNOWN_NUMBER are told apart there)."""
    callable_ = [r for r in results if r.may_call]
    allowing = Counter(code for r in callable_ for code in deciding(r.reasons, True))
    denying = Counter(code for r in results if not r.may_call for code in deciding(r.reasons, False))
    lines = [
        f"{len(results)} row(s) washed for {company} at {moment.isoformat()}: {len(callable_)} may be called, {len(results) - len(callable_)} may not"
        + (f". Written to {output}." if output else ".")
    ]
    if allowing:
        lines.append("May be called: " + ", ".join(f"{code} {n}" for code, n in allowing.most_common()) + ".")
    if denying:
        lines.append("May not be called:")
        width = max(len(code) for code in denying) + max(len(str(n)) for n in denying.values()) + 1
        lines += [f"  {f'{code} {n}':<{width}}  {explain(code, 'en')}" for code, n in denying.most_common()]
    return "\n".join(lines)


@advise_on_failure
def wash_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Call list: .xlsx or CSV with a header, a phone number or a customer id per row.")],
    company: Annotated[str, typer.Option(help="The company that would call, as customers name it in consents.")],
    at: Annotated[str | None, typer.Option(help="When the calls would be made, ISO 8601 with a time zone; default now.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to write the answer: .xlsx for an Excel workbook, else CSV; default CSV on standard output.")
    ] = None,
    phone_column: Annotated[str | None, typer.Option(help="The header of the phone number column (default: Telefon, Phone, Mobil, ...).")] = None,
    id_column: Annotated[str | None, typer.Option(help="The header of the customer id column (default: Kundnummer, customer_id, ...).")] = None,
) -> None:
    """Wash a call list: may COMPANY call each row now for telemarketing, and why not.

    Writes the input columns with "Får ringas" (ja/nej), "Skäl" (the reason codes that decided) and "Förklaring"
    (what they mean and what to do). CSV keeps the input's delimiter (`;` when the input is a workbook) and is UTF-8
    with a byte order mark, as Swedish Excel opens it. A number no customer of the register has is UNKNOWN_NUMBER;
    a row with neither number nor customer id is NO_NUMBER; a customer without a phone number is NO_PHONE_NUMBER.
    """
    moment = parse_moment(at)
    if output is not None:
        try:
            check_writable(output)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--output") from None
    services = bootstrap()
    rules = load_rules(services.settings.contact_rules)
    # A bar per step on standard error (standard output may be the answer): a long list takes a while.
    with progress() as bar:
        reading = bar.add_task("Reading rows", total=row_estimate(file))
        try:
            header, rows, cells = _read(file, phone_column, id_column, on_row=lambda: bar.advance(reading))
        except ValueError as error:  # the file cannot be read as a table (spreadsheet_files.UnreadableFile): advice, no traceback
            fail(f"{file.name} {error}")
        bar.update(reading, total=bar.tasks[reading].completed)
        looking = bar.add_task("Looking up customers", total=None)
        with Session(services.engine) as session:
            by_phone, by_id = load_states_for(session, phones_of(rows), [r.customer_id for r in rows if r.customer_id])
        bar.update(looking, total=1, completed=1)
        washer = Washer(by_phone, company, moment, rules, states_by_id=by_id)  # what `projections.wash.wash` does, a row at a time
        washing = bar.add_task("Washing rows", total=len(rows))
        results = []
        for row in rows:
            results.append(washer.wash_row(row))
            bar.advance(washing)

        answered = {_key(a) for a in ANSWER_HEADER}
        kept = [i for i, h in enumerate(header) if _key(h) not in answered]
        columns = [*(header[i] for i in kept), *ANSWER_HEADER]
        delimiter = csv_delimiter(file) if file.suffix.lower() == ".csv" else DEFAULT_DELIMITER
        writer: CsvWriter | WorkbookWriter
        if output is None:
            writer = CsvWriter(sys.stdout, columns, delimiter=delimiter, lineterminator="\n")
        else:
            writer = spreadsheet_writer(output, columns, delimiter=delimiter, title="Ringlista")
        writing = bar.add_task(f"Writing {output.name if output else 'the answer'}", total=len(rows))
        with writer:
            for row_cells, result in zip(cells, results, strict=True):
                writer.write([*(row_cells[i] for i in kept), *answer_cells(result)])
                bar.advance(writing)
    errors.print(summary(results, company, moment, output), highlight=False, soft_wrap=True, markup=False)


def _read(
    file: Path, phone_column: str | None, id_column: str | None, *, on_row: Callable[[], None] = lambda: None
) -> tuple[list[str], list[WashRow], list[list[Any]]]:
    """The call list's header, its rows, and each row's cells as read (a workbook's dates and numbers as such), by
    position: two columns may have the same header, or none. `on_row` is called for each row read (blank ones too)."""
    raw_header, table = read_table(file)
    header = [cell_text(h) for h in raw_header]
    phone_at, id_at = _column(header, phone_column, PHONE_HEADERS), _column(header, id_column, ID_HEADERS)
    if phone_at is None and id_at is None:
        fail("no phone number or customer id column found; name it with --phone-column or --id-column.")
    rows, kept = [], []
    for _, cells in table:
        on_row()
        if not any(cell_text(c) for c in cells):
            continue
        cells = [*cells, *[None] * (len(header) - len(cells))]
        kept.append(cells)
        rows.append(
            WashRow(
                phone=cell_text(cells[phone_at]) if phone_at is not None else None,
                customer_id=cell_text(cells[id_at]) if id_at is not None else None,
                values=dict(zip(header, cells, strict=False)),  # cells are padded to the header; extra cells have no name
            )
        )
    return header, rows, kept
