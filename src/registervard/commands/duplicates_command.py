"""`registervard duplicates`: duplicate customers (dubblettkontroll). `find` lists likely pairs (projections/duplicates.py).

The group is `app`; a command is added to it with `@app.command("NAME")` in a module of its own, or here.

`find` prints a table by default; `--format json` prints JSON, `--format csv` CSV (on standard output, or to
`--output`), `--format xlsx` an Excel workbook (to `--output`, default `duplicates-YYYY-MM-DD.xlsx`), both through
`projections.spreadsheet_output` so that they open in Swedish Excel. A pair with a protected identity is listed by
ids and "same identity number" alone. Counts, notes and advice go to standard error; nothing is logged.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from projections.duplicates import DEFAULT_LIMIT, DEFAULT_MIN_SCORE, DuplicateReport, Pair, Reason, register_duplicates
from projections.spreadsheet_output import CsvWriter, WorkbookWriter, check_writable, spreadsheet_writer
from registervard.bootstrap import bootstrap
from registervard.commands.merge_command import duplicates_merge
from registervard.console import advise_on_failure, console, errors
from registervard.listings import folded, whole

app = typer.Typer(help="Duplicate customers (dubblettkontroll): the same person or company under two customer ids.", no_args_is_help=True)
app.command("merge")(duplicates_merge)  # merge KEEP DROP: registervard/commands/merge_command.py

MAX_LIMIT = 1_000_000

SWEDISH_REASONS = {
    Reason.SAME_IDENTITY_NUMBER: "samma person-/organisationsnummer",
    Reason.SAME_NAME: "samma namn",
    Reason.SIMILAR_NAME: "liknande namn",
    Reason.SAME_ADDRESS: "samma adress",
    Reason.SIMILAR_ADDRESS: "liknande adress",
    Reason.SAME_PHONE: "samma telefonnummer",
    Reason.SAME_EMAIL: "samma e-postadress",
    Reason.SAME_BIRTH_DATE: "samma födelsedatum",
}
"""The reasons as a spreadsheet's (Swedish) reader reads them."""

SPREADSHEET_HEADER = (
    "Poäng", "Kundnummer 1", "Namn 1", "Adress 1", "Status 1", "Kundnummer 2", "Namn 2", "Adress 2", "Status 2", "Skäl", "Skyddad identitet",
)  # fmt: skip
PROTECTED_NOTE = (
    "A pair with a protected identity is compared by identity number only and listed by ids alone: no name or address of "
    "either customer is shown (the other record is the same person)."
)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


def _format(chosen: OutputFormat | None, output: Path | None) -> OutputFormat:
    """The format: the one chosen (a file's name must agree with it), else the output's suffix, else a table."""
    if output is None:
        return chosen or OutputFormat.table
    try:
        check_writable(output)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--output") from None
    named = {".csv": OutputFormat.csv, ".xlsx": OutputFormat.xlsx}.get(output.suffix.lower())
    if chosen in (OutputFormat.table, OutputFormat.json):
        raise typer.BadParameter(f"--format {chosen.value} is printed, not written to a file; use --format csv or xlsx with --output", param_hint="--output")
    if chosen is not None and named is not None and chosen is not named:
        raise typer.BadParameter(f"{output.name} does not end in .{chosen.value}; name it .{chosen.value}, or leave out --format", param_hint="--output")
    return chosen or named or OutputFormat.csv


@app.command("find")
@advise_on_failure
def duplicates_find(
    min_score: Annotated[int, typer.Option(min=1, max=100, help="List pairs scoring at least this (100: the same identity number).")] = DEFAULT_MIN_SCORE,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="List at most this many pairs, best first.")] = DEFAULT_LIMIT,
    format_: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="table or json (printed), csv (printed, or to --output) or xlsx (to --output); default: the output's suffix, else table.",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="The file to write (.xlsx or .csv); xlsx defaults to duplicates-YYYY-MM-DD.xlsx.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json, as every listing command has it.")] = False,
) -> None:
    """List likely duplicate customers: pairs of customer ids, each with a score (0-100) and the reasons.

    Reasons: same identity number (score 100), same or similar name, same or similar address (house letters and
    street abbreviations aside: "Storgatan 73" and "Storg. 73 A"), same phone, same e-mail, same birth date (a
    samordningsnummer and a personnummer). Two different personnummer are never a pair, nor are names that are not
    alike (a family sharing an address or an e-mail). Erased customers are left out; a protected identity is compared
    by identity number only and listed without any name or address.
    """
    chosen = OutputFormat.json if as_json else _format(format_, output)
    if chosen is OutputFormat.xlsx and output is None:
        output = Path(f"duplicates-{datetime.now(UTC).date().isoformat()}.xlsx")
    engine = bootstrap().engine
    with errors.status("Comparing customers"):
        report = register_duplicates(engine, min_score=min_score, limit=limit)
    if chosen is OutputFormat.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    elif chosen is OutputFormat.table:
        if report.pairs:
            console.print(_table(report.pairs))
    else:
        _write(report.pairs, output)
    _summarise(report, min_score, output)


def _table(pairs: list[Pair]) -> Table:
    """A pair is two rows, one per customer, the score and reasons on the first."""
    table = Table(
        whole("score", [str(p.score) for p in pairs]),
        whole("customer id", [c for p in pairs for c in (p.first.customer_id, p.second.customer_id)]),
        folded("name", ratio=2),
        folded("address", ratio=3),
        folded("reasons", ratio=2),
        box=box.SIMPLE_HEAD,
    )
    for pair in pairs:
        for side, score, reasons in ((pair.first, str(pair.score), ", ".join(r.text for r in pair.reasons)), (pair.second, "", "")):
            hidden = "(not shown)" if pair.protected else ""
            table.add_row(score, side.customer_id, escape(side.name or hidden), escape(side.address or hidden), reasons, end_section=side is pair.second)
    return table


def spreadsheet_row(pair: Pair) -> list[object]:
    """A pair as a row of SPREADSHEET_HEADER."""
    first, second = pair.first, pair.second
    return [
        pair.score,
        first.customer_id, first.name, first.address, first.status,
        second.customer_id, second.name, second.address, second.status,
        ", ".join(SWEDISH_REASONS[reason] for reason in pair.reasons),
        pair.protected,
    ]  # fmt: skip


def _write(pairs: list[Pair], output: Path | None) -> None:
    writer: CsvWriter | WorkbookWriter
    if output is None:
        writer = CsvWriter(sys.stdout, SPREADSHEET_HEADER, lineterminator="\n")
    else:
        writer = spreadsheet_writer(output, SPREADSHEET_HEADER, title="Dubbletter")
    with writer:
        for pair in pairs:
            writer.write(spreadsheet_row(pair))


def _summarise(report: DuplicateReport, min_score: int, output: Path | None) -> None:
    """Counts and notes on standard error: never a name, an address or a number."""
    written = f" Written to {output}." if output else ""
    lines = [
        f"{len(report.pairs)} likely duplicate pair(s) scoring {min_score} or more among {report.customers} customer(s) "
        f"({report.compared} pair(s) compared).{written}"
    ]
    if report.more:
        lines.append("There are more: raise --limit or --min-score.")
    if any(pair.protected for pair in report.pairs):
        lines.append(PROTECTED_NOTE)
    for block, count in report.skipped.items():
        lines.append(f"{count} {block.value.replace('_', ' ')} value(s) shared by too many customers to be one person's were not compared.")
    if report.pairs:
        lines.append("`registervard customer show ID` shows a customer's record.")
    errors.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)
