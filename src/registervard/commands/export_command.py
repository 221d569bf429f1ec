"""`registervard export`: the register to a CSV or Excel file, recording who received it (projections/export.py).

The format is `--format`, else the output's name (`register.xlsx` is a workbook), else CSV: a file named .xlsx
always holds a workbook."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from projections.export import count_rows, export_rows, record_disclosures, write_csv, write_xlsx
from projections.spreadsheet_output import check_writable
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, progress


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def _format(chosen: Format | None, output: Path | None) -> Format:
    """The format to write: the one chosen, which must agree with the output's name, else the name's, else CSV."""
    if output is None:
        return chosen or Format.csv
    try:
        check_writable(output)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--output") from None
    named = {".csv": Format.csv, ".xlsx": Format.xlsx}.get(output.suffix.lower())
    if chosen is not None and named is not None and chosen is not named:
        raise typer.BadParameter(f"{output.name} does not end in .{chosen.value}; name it .{chosen.value}, or leave out --format", param_hint="--output")
    return chosen or named or Format.csv


@advise_on_failure
def export_command(
    recipient: Annotated[str, typer.Option(help="Who receives the file (recorded per customer, for register extracts and Art. 19).")],
    format_: Annotated[
        Format | None, typer.Option("--format", case_sensitive=False, help="csv (;-separated, for Swedish Excel) or xlsx; default: the output's suffix, or csv")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only customers with this status: ACTIVE, DECEASED, EMIGRATED, DEREGISTERED or ERASED.")] = None,
    output: Annotated[Path | None, typer.Option(help="The file to write (.xlsx or .csv); default register-YYYY-MM-DD.<format>.")] = None,
    purpose: Annotated[str | None, typer.Option(help="Why the recipient gets the data (recorded with each disclosure).")] = None,
) -> None:
    """Export the register (protected identities without name and address) and record the disclosure to RECIPIENT."""
    status = status.upper() if status else None
    if status and status not in ("ACTIVE", "DECEASED", "EMIGRATED", "DEREGISTERED", "ERASED"):
        raise typer.BadParameter(f"{status!r}: use ACTIVE, DECEASED, EMIGRATED, DEREGISTERED or ERASED", param_hint="--status")
    format_ = _format(format_, output)
    moment = datetime.now(UTC)
    path = output or Path(f"register-{moment.date().isoformat()}.{format_.value}")
    engine = bootstrap().engine
    with Session(engine) as session:
        total = count_rows(session, status)
        with progress() as bar:
            task = bar.add_task(f"Exporting to {path.name}", total=total)
            write = write_xlsx if format_ is Format.xlsx else write_csv
            exported = write(export_rows(session, status), path, lambda: bar.advance(task))
    with Session(engine) as session, session.begin():  # only once the file is written
        record_disclosures(session, exported, recipient=recipient, channel="export", purpose=purpose, at=moment)
    console.print(f"{len(exported)} customer(s) exported to {path}; disclosure to {recipient!r} recorded for each.", highlight=False, soft_wrap=True)
