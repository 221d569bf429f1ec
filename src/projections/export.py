"""Exporting the register to a file (CSV or Excel), and recording who received it.

The rows are the register's (`customers`): a protected identity is exported
without name and address, as the register already holds it. Every exported
customer gets a `disclosures` row naming the recipient (channel "export"), so
that a register extract can say who received their data and a correction can
be passed on (GDPR Art. 15 and 19).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from projections.access import DisclosureRow
from projections.tables import CustomerRow

EXPORT_COLUMNS = (
    "customer_id",
    "kind",
    "status",
    "protected",
    "identity_number",
    "given_names",
    "surname",
    "company_name",
    "care_of",
    "street",
    "postal_code",
    "city",
    "country",
    "address_since",
    "phone",
    "email",
    "civil_status",
    "deceased_on",
    "emigrated_on",
    "active_consents",
    "nix_registered",
    "immigrated_on",
    "deregistered_on",
    "deregistration_cause",
    "contact_person_for",
    "marketing_opt_outs",
)
"""The register's columns in an export, in order (internal counters and timestamps are left out)."""


def count_rows(session: Session, status: str | None = None) -> int:
    query = select(func.count()).select_from(CustomerRow)
    if status:
        query = query.where(CustomerRow.status == status)
    return session.scalar(query) or 0


def export_rows(session: Session, status: str | None = None, chunk_size: int = 1000) -> Iterator[dict[str, Any]]:
    """The register's rows as dicts of EXPORT_COLUMNS, in customer id order, a chunk at a time."""
    after = ""
    while True:
        query = select(CustomerRow).where(CustomerRow.customer_id > after).order_by(CustomerRow.customer_id).limit(chunk_size)
        if status:
            query = query.where(CustomerRow.status == status)
        chunk = session.scalars(query).all()
        if not chunk:
            return
        for row in chunk:
            record = {column: getattr(row, column) for column in EXPORT_COLUMNS}
            if row.protected:  # the register holds none; say so again here
                for column in ("given_names", "surname", "care_of", "street", "postal_code", "city", "country", "address_since"):
                    record[column] = None
            yield record
        after = chunk[-1].customer_id
        session.expunge_all()


def _cell(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def write_csv(rows: Iterator[dict[str, Any]], path: Path, on_row: Callable[[], None] | None = None) -> list[str]:
    """Write rows as CSV (UTF-8 with BOM, so Excel reads å, ä and ö); return the exported customer ids."""
    exported = []
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow(["" if row[c] is None else _cell(row[c]) for c in EXPORT_COLUMNS])
            exported.append(row["customer_id"])
            if on_row:
                on_row()
    return exported


def write_xlsx(rows: Iterator[dict[str, Any]], path: Path, on_row: Callable[[], None] | None = None) -> list[str]:
    """Write rows as an Excel workbook (one sheet, "Register"); identity numbers and phone numbers stay text."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Register")
    sheet.append(list(EXPORT_COLUMNS))
    exported = []
    for row in rows:
        sheet.append([_cell(row[c]) for c in EXPORT_COLUMNS])
        exported.append(row["customer_id"])
        if on_row:
            on_row()
    book.save(path)
    return exported


def record_disclosures(
    session: Session, customer_ids: Sequence[str], *, recipient: str, channel: str, purpose: str | None = None, at: datetime | None = None
) -> int:
    """A `disclosures` row per customer: `recipient` received their data through `channel`."""
    moment = at or datetime.now(UTC)
    rows = [dict(customer_id=c, recipient=recipient, channel=channel, purpose=purpose, disclosed_at=moment) for c in customer_ids]
    for start in range(0, len(rows), 1000):
        session.execute(insert(DisclosureRow), rows[start : start + 1000])
    return len(rows)
