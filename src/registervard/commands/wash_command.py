"""`registervard wash`: NIX wash of a call list against the register (projections/wash.py decides)."""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from events.contactability import load_rules
from projections.wash import WashRow, load_states_for, phones_of, wash
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, errors, parse_moment
from registervard.importing import cell_text, csv_delimiter, read_table

PHONE_HEADERS = ("telefon", "telefonnummer", "mobil", "mobilnummer", "phone", "phone number", "nummer", "number", "tel")
ID_HEADERS = ("kundnummer", "kundnr", "kundid", "kund-id", "customer_id", "customer id", "customer number")


def _column(header: list[str], chosen: str | None, aliases: tuple[str, ...]) -> int | None:
    keys = [" ".join(h.strip().lower().split()) for h in header]
    if chosen is not None:
        key = " ".join(chosen.strip().lower().split())
        if key not in keys:
            raise typer.BadParameter(f"no column {chosen!r} in the file's header")
        return keys.index(key)
    return next((keys.index(a) for a in aliases if a in keys), None)


@advise_on_failure
def wash_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Call list: CSV with a header, a phone number or a customer id per row.")],
    company: Annotated[str, typer.Option(help="The company that would call, as customers name it in consents.")],
    at: Annotated[str | None, typer.Option(help="When the calls would be made, ISO 8601 with a time zone; default now.")] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the answer (CSV); default standard output.")] = None,
    phone_column: Annotated[str | None, typer.Option(help="The header of the phone number column (default: Telefon, Phone, Mobil, ...).")] = None,
    id_column: Annotated[str | None, typer.Option(help="The header of the customer id column (default: Kundnummer, customer_id, ...).")] = None,
) -> None:
    """Wash a call list: may COMPANY call each row now for telemarketing, and why not.

    Writes the input columns with `may_call` (yes/no) and `reasons` (reason codes, denying first, `;`-separated).
    A number no customer of the register has is UNKNOWN_NUMBER.
    """
    moment = parse_moment(at)
    header, table = read_table(file)
    header = [cell_text(h) for h in header]
    phone_at, id_at = _column(header, phone_column, PHONE_HEADERS), _column(header, id_column, ID_HEADERS)
    if phone_at is None and id_at is None:
        errors.print("[red]Error:[/red] no phone number or customer id column found; name it with --phone-column or --id-column.")
        raise typer.Exit(1)
    rows = []
    for _, cells in table:
        cells = [cell_text(c) for c in cells]
        if not any(cells):
            continue
        cells += [""] * (len(header) - len(cells))
        rows.append(
            WashRow(
                phone=cells[phone_at] if phone_at is not None else None,
                customer_id=cells[id_at] if id_at is not None else None,
                values=dict(zip(header, cells, strict=False))  # cells are padded to the header; extra cells have no name,
            )
        )
    services = bootstrap()
    with Session(services.engine) as session:
        by_phone, by_id = load_states_for(session, phones_of(rows), [r.customer_id for r in rows if r.customer_id])
    results = wash(rows, by_phone, company, moment, load_rules(services.settings.contact_rules), states_by_id=by_id)

    delimiter = csv_delimiter(file) if file.suffix.lower() == ".csv" else ","
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow([*header, "may_call", "reasons"])
    for result in results:
        writer.writerow([*(result.row.values.get(h, "") for h in header), "yes" if result.may_call else "no", ";".join(result.reasons)])
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        output.write_text(buffer.getvalue(), encoding="utf-8")
    callable_ = sum(r.may_call for r in results)
    denials = Counter(code for r in results if not r.may_call for code in r.reasons)
    errors.print(
        f"{len(results)} row(s) washed for {company} at {moment.isoformat()}: {callable_} may be called, {len(results) - callable_} may not"
        + (f" ({', '.join(f'{code} {n}' for code, n in denials.most_common())})" if denials else "")
        + (f". Written to {output}." if output else "."),
        highlight=False,
        soft_wrap=True,
    )
