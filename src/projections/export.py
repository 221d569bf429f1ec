"""Exporting the register to a file (CSV or Excel), and recording who received it.

The rows are the register's (`customers`): a protected identity is exported
without name and address, as the register already holds it, and says so in its
"Skyddad identitet" column (ja), so that `registervard import` reads the row
back as a customer the register has rather than as a person without a name.
Every exported customer gets a `disclosures` row naming the recipient (channel
"export"), so that a register extract can say who received their data and a
correction can be passed on (GDPR Art. 15 and 19).

The headers are Swedish, the ones `registervard import` recognises for the
columns it reads (registervard/import_columns.toml); the register's own columns
(since when, civil status, NIX...) have Swedish headers the import lists as not
imported. The file is written by `projections.spreadsheet_output`: a workbook
with a bold, frozen and filtered header and real dates, or `;`-separated CSV
with a byte order mark, as Swedish Excel opens it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from projections.access import DisclosureRow
from projections.spreadsheet_output import DEFAULT_DELIMITER, CsvWriter, WorkbookWriter
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

EXPORT_HEADERS = {
    # Read back by `registervard import` (registervard/import_columns.toml)
    "customer_id": "Kundnummer",
    "kind": "Kundtyp",
    "status": "Status",
    "protected": "Skyddad identitet",
    "identity_number": "Person-/organisationsnummer",
    "given_names": "Förnamn",
    "surname": "Efternamn",
    "company_name": "Företagsnamn",
    "care_of": "C/O",
    "street": "Gatuadress",
    "postal_code": "Postnummer",
    "city": "Ort",
    "country": "Land",
    "phone": "Telefon",
    "email": "E-post",
    "contact_person_for": "Kontaktperson för",
    # The register's own: listed by the import as not imported
    "address_since": "Adress sedan",
    "civil_status": "Civilstånd",
    "deceased_on": "Avliden den",
    "emigrated_on": "Utvandrad den",
    "active_consents": "Gällande samtycken",
    "nix_registered": "Registrerad i NIX",
    "immigrated_on": "Invandrad den",
    "deregistered_on": "Avregistrerad den",
    "deregistration_cause": "Avregistreringsorsak",
    "marketing_opt_outs": "Reklamspärr",
}
"""Each column's header in the file: Swedish, as an operator reads it and as `registervard import` recognises it.
Values stay as the register holds them (codes such as PERSON and ACTIVE, which the import reads), yes and no as ja
and nej."""

EXPORT_HEADER = tuple(EXPORT_HEADERS[c] for c in EXPORT_COLUMNS)
"""The header row, in EXPORT_COLUMNS' order."""


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


def write_csv(rows: Iterator[dict[str, Any]], path: Path, on_row: Callable[[], None] | None = None, *, delimiter: str = DEFAULT_DELIMITER) -> list[str]:
    """Write rows as CSV for Excel (`spreadsheet_output.CsvWriter`: UTF-8 with BOM, `;`); return the exported customer ids."""
    return _write(CsvWriter(path, EXPORT_HEADER, delimiter=delimiter), rows, on_row)


def write_xlsx(rows: Iterator[dict[str, Any]], path: Path, on_row: Callable[[], None] | None = None) -> list[str]:
    """Write rows as an Excel workbook (one sheet, "Register"); identity numbers and phone numbers stay text, dates are dates."""
    return _write(WorkbookWriter(path, EXPORT_HEADER, title="Register"), rows, on_row)


def _write(writer: CsvWriter | WorkbookWriter, rows: Iterator[dict[str, Any]], on_row: Callable[[], None] | None) -> list[str]:
    exported = []
    with writer:
        for row in rows:
            writer.write([row[c] for c in EXPORT_COLUMNS])
            exported.append(row["customer_id"])
            if on_row:
                on_row()
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
