"""Importing an existing customer register (a spreadsheet or CSV file) as CustomerRegistered events.

Pure: rows in, JSON documents and rejections out. Reading the file, looking
customers up in the register and publishing are the CLI's business
(`registervard import`, registervard/commands/importer.py).

Columns are found by their header, case and spacing ignored, through
`DEFAULT_COLUMNS` (Swedish and English names); `--map column=field` adds to or
overrides that mapping. Each row becomes one JSON document as upstream systems
write them (`events.jsonlines`), so it is validated by the same rules, and its
event id is derived from its content: with the same `occurred_at` the same
file gives the same events, and publishing it again takes effect once.

A row that breaks a rule is rejected with its line number, the field and the
reason; reasons never carry the personal data itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from events.catalog import Event
from events.identity import IdentityNumberError, parse_identity_number
from events.jsonlines import parse_event
from events.phone import normalise_phone
from events.refusal import Refusal

FIELDS = (
    "customer_id",
    "identity_number",
    "given_names",
    "surname",
    "company_name",
    "care_of",
    "street",
    "postal_code",
    "city",
    "country",
    "phone",
    "email",
)
"""The fields a column can map to."""

DEFAULT_COLUMNS: Mapping[str, str] = {
    # customer id
    "kundnummer": "customer_id",
    "kundnr": "customer_id",
    "kund-id": "customer_id",
    "kundid": "customer_id",
    "customer_id": "customer_id",
    "customer id": "customer_id",
    "customer number": "customer_id",
    # identity number
    "personnummer": "identity_number",
    "personnr": "identity_number",
    "organisationsnummer": "identity_number",
    "orgnr": "identity_number",
    "org.nr": "identity_number",
    "identitetsnummer": "identity_number",
    "identity_number": "identity_number",
    "identity number": "identity_number",
    # names
    "förnamn": "given_names",
    "fornamn": "given_names",
    "given_names": "given_names",
    "given names": "given_names",
    "first name": "given_names",
    "efternamn": "surname",
    "surname": "surname",
    "last name": "surname",
    "företag": "company_name",
    "foretag": "company_name",
    "företagsnamn": "company_name",
    "company_name": "company_name",
    "company name": "company_name",
    "company": "company_name",
    # address
    "c/o": "care_of",
    "co": "care_of",
    "care_of": "care_of",
    "care of": "care_of",
    "gatuadress": "street",
    "adress": "street",
    "street": "street",
    "address": "street",
    "postnummer": "postal_code",
    "postnr": "postal_code",
    "postal_code": "postal_code",
    "postal code": "postal_code",
    "zip": "postal_code",
    "ort": "city",
    "postort": "city",
    "city": "city",
    "land": "country",
    "country": "country",
    # contact
    "telefon": "phone",
    "telefonnummer": "phone",
    "mobil": "phone",
    "mobilnummer": "phone",
    "phone": "phone",
    "phone number": "phone",
    "e-post": "email",
    "epost": "email",
    "e-mail": "email",
    "email": "email",
}
"""Header (lower case, spaces collapsed) → field."""

COUNTRY_NAMES = {"sverige": "SE", "sweden": "SE", "norge": "NO", "norway": "NO", "danmark": "DK", "denmark": "DK", "finland": "FI", "suomi": "FI"}


RowRejected = Refusal
"""The name a row's refusal was known by (the same class): the row's field, the reason (no personal data) and a code."""


@dataclass(frozen=True)
class Rejection:
    line_number: int
    error: Refusal

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.error} [{self.error.code}]"


@dataclass(frozen=True)
class ImportedRow:
    line_number: int
    event: Event
    document: dict[str, Any]

    @property
    def customer_id(self) -> str:
        return self.event.customer_id


@dataclass
class ImportPlan:
    """What a file gives: an event per good row, and every rejected row."""

    rows: list[ImportedRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def duplicates(self) -> list[Rejection]:
        return [r for r in self.rejected if r.error.code == "DUPLICATE_IN_FILE"]


# --- Headers -------------------------------------------------------------------


def _header_key(text: Any) -> str:
    return " ".join(str(text or "").strip().lower().split())


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """`column=field` options as a mapping; ValueError names a bad one."""
    mapping = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        target = target.strip()
        if not sep or not column.strip():
            raise ValueError(f"--map {pair!r}: write column=field, e.g. 'Mobil nr=phone'")
        if target not in FIELDS and target != "ignore":
            raise ValueError(f"--map {pair!r}: unknown field {target!r}; use one of {', '.join(FIELDS)} or ignore")
        mapping[_header_key(column)] = target
    return mapping


def resolve_columns(headers: Sequence[Any], overrides: Mapping[str, str] | None = None) -> dict[int, str]:
    """Column index → field, from the headers, the defaults and the overrides; ValueError on an ambiguity."""
    aliases = {**DEFAULT_COLUMNS, **{_header_key(k): v for k, v in (overrides or {}).items()}}
    columns: dict[int, str] = {}
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        target = aliases.get(_header_key(header))
        if target is None or target == "ignore":
            continue
        if target in seen:
            raise ValueError(f"columns {seen[target] + 1} and {index + 1} both map to {target}; use --map to say which is which")
        seen[target] = index
        columns[index] = target
    if "identity_number" not in seen and "customer_id" not in seen:
        raise ValueError("no column holds a customer id or an identity number (e.g. Kundnummer, Personnummer); use --map column=field")
    return columns


# --- Normalisation -------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell's value as text: spreadsheet numbers without `.0`, dates as ISO, None as empty.

    Line breaks and tabs inside a cell (Alt+Enter in Excel) become single spaces: an event holds no control characters.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return " ".join(str(value).split())


def normalise_postal_code(text: str) -> str:
    """"111 22" → "11122"."""
    return re.sub(r"\s", "", text)


def normalise_country(text: str) -> str:
    text = text.strip()
    if not text:
        return "SE"
    return COUNTRY_NAMES.get(text.lower(), text.upper())


# --- Rows → events -------------------------------------------------------------------

IdFromIdentity = Callable[[str], str]


def row_document(
    values: Mapping[str, str],
    *,
    source: str,
    occurred_at: datetime,
    company: str | None = None,
    id_from_identity: IdFromIdentity,
) -> dict[str, Any]:
    """The CustomerRegistered JSON document of one row (field → text); a Refusal says why not."""
    get = lambda name: (values.get(name) or "").strip()  # noqa: E731
    identity = None
    if get("identity_number"):
        try:
            identity = parse_identity_number(get("identity_number"), today=occurred_at.date())
        except IdentityNumberError as error:
            raise Refusal("identity_number", str(error), "INVALID_IDENTITY_NUMBER") from None
    customer_id = get("customer_id")
    if not customer_id:
        if identity is None:
            raise Refusal("customer_id", "is empty and there is no identity number to derive an id from", "MISSING_FIELD")
        customer_id = id_from_identity(identity.number)
    is_company = (identity is not None and not identity.is_person) or (bool(get("company_name")) and not (get("given_names") or get("surname")))
    registration: dict[str, Any] = {}
    if identity is not None:
        registration["identity_number"] = identity.number
    if is_company:
        if not get("company_name"):
            raise Refusal("company_name", "is required for a company (an organisationsnummer)", "MISSING_FIELD")
        registration["company_name"] = get("company_name")
    else:
        for name in ("given_names", "surname"):
            if not get(name):
                raise Refusal(name, "is required for a person", "MISSING_FIELD")
        registration["name"] = {"given_names": get("given_names"), "surname": get("surname")}
    address_fields = ("care_of", "street", "postal_code", "city")
    if any(get(name) for name in address_fields):
        for name in ("street", "postal_code", "city"):
            if not get(name):
                raise Refusal(name, "is required when the row has an address", "MISSING_FIELD")
        country = normalise_country(get("country"))
        postal_code = normalise_postal_code(get("postal_code"))
        if country == "SE" and not re.fullmatch(r"[1-9][0-9]{4}", postal_code):
            raise Refusal("postal_code", "must be five digits for a Swedish address (e.g. 111 22)", "INVALID_POSTAL_CODE")
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise Refusal("country", "must be a country name or an ISO 3166-1 alpha-2 code such as SE", "INVALID_FIELD")
        address = {"street": get("street"), "postal_code": postal_code, "city": get("city"), "country": country}
        if get("care_of"):
            address["care_of"] = get("care_of")
        registration["address"] = address
    contact: dict[str, Any] = {}
    if get("phone"):
        try:
            contact["phone"] = normalise_phone(get("phone"))
        except ValueError as error:
            raise Refusal("phone", str(error), "INVALID_PHONE") from None
    if get("email"):
        contact["email"] = get("email")
    if contact:
        registration["contact"] = contact
    document: dict[str, Any] = {
        "type": "CustomerRegistered",
        "customer_id": customer_id,
        "occurred_at": occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "source": source,
        "customer_kind": "COMPANY" if is_company else "PERSON",
        "registration": registration,
    }
    if company:
        document["company"] = company
    return document


def _field_of(error: Refusal) -> str:
    """The row's field an event error is about: `registration.contact.email` → `email`."""
    last = error.field.rsplit(".", 1)[-1]
    return {"name": "surname", "identity_number": "identity_number"}.get(last, last)


def map_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    *,
    source: str,
    occurred_at: datetime,
    company: str | None = None,
    id_from_identity: IdFromIdentity,
    now: datetime | None = None,
) -> ImportPlan:
    """Every row (line number, field → text) as an event or a rejection; later duplicates of a customer id or identity number are rejected."""
    plan = ImportPlan()
    for outcome in mapped_rows(rows, source=source, occurred_at=occurred_at, company=company, id_from_identity=id_from_identity, now=now):
        if isinstance(outcome, Rejection):
            plan.rejected.append(outcome)
        else:
            plan.rows.append(outcome)
    return plan


def mapped_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    *,
    source: str,
    occurred_at: datetime,
    company: str | None = None,
    id_from_identity: IdFromIdentity,
    now: datetime | None = None,
) -> Iterator[ImportedRow | Rejection]:
    """`map_rows` one row at a time, for a file of any size: each row's event or rejection as it is read.

    What it remembers between rows is the first line of each customer id and identity number (to name it in a
    duplicate's rejection): keys and line numbers, never the rows themselves.
    """
    first_line_of_id: dict[str, int] = {}
    first_line_of_identity: dict[str, int] = {}
    moment = now or datetime.now(UTC)
    for line_number, values in rows:
        if not any((v or "").strip() for v in values.values()):
            continue  # a blank row
        try:
            document = row_document(values, source=source, occurred_at=occurred_at, company=company, id_from_identity=id_from_identity)
            try:
                event = parse_event(document, now=moment, today=occurred_at.date())
            except Refusal as error:  # the event's field, named as the row's column
                raise Refusal(_field_of(error) if error.field != "customer_id" else "customer_id", error.reason, error.code) from None
            identity = document["registration"].get("identity_number")
            if (first := first_line_of_id.get(event.customer_id)) is not None:
                raise Refusal("customer_id", f"the same customer as line {first}", "DUPLICATE_IN_FILE")
            if identity is not None and (first := first_line_of_identity.get(identity)) is not None:
                raise Refusal("identity_number", f"the same identity number as line {first}", "DUPLICATE_IN_FILE")
        except Refusal as error:
            yield Rejection(line_number, error)
            continue
        first_line_of_id[event.customer_id] = line_number
        if identity is not None:
            first_line_of_identity[identity] = line_number
        yield ImportedRow(line_number, event, document)


def rows_by_field(table: Iterable[tuple[int, Sequence[Any]]], columns: Mapping[int, str]) -> Iterable[tuple[int, dict[str, str]]]:
    """Data rows (line number, cells) as (line number, field → text)."""
    for line_number, cells in table:
        yield line_number, {target: cell_text(cells[index]) if index < len(cells) else "" for index, target in columns.items()}


def opaque_id(lookup_hash: str) -> str:
    """The customer id of a row without one: "C-" and 16 hex digits of the identity number's keyed hash."""
    return "C-" + lookup_hash[:16]


# --- Reading files (the only I/O here) -------------------------------------------


def read_table(path: Any) -> tuple[list[Any], Iterable[tuple[int, list[Any]]]]:
    """The header and the data rows (line number, cells) of an .xlsx or .csv file (CSV: , ; or tab, UTF-8 with or without BOM).

    The rows are read as they are iterated, so a file of any size takes little memory; the file is closed when
    they have all been read (or the iterator is closed).
    """
    from pathlib import Path

    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = book.active.iter_rows(values_only=True)
        header = list(next(rows, None) or [])

        def data() -> Iterator[tuple[int, list[Any]]]:
            try:
                for number, cells in enumerate(rows, start=2):
                    yield number, list(cells)
            finally:
                book.close()

        return header, data()
    import csv
    import itertools

    stream = path.open(encoding="utf-8-sig", newline="")
    try:
        first = stream.readline()
        reader = csv.reader(itertools.chain([first], stream), delimiter=_delimiter_of(first))
        header = next(reader, [])
    except BaseException:
        stream.close()
        raise

    def csv_data() -> Iterator[tuple[int, list[Any]]]:
        with stream:
            for cells in reader:
                yield reader.line_num, cells

    return header, csv_data()


def _delimiter_of(first_line: str) -> str:
    return max((";", ",", "\t"), key=first_line.count) if any(d in first_line for d in ";,\t") else ","


def csv_delimiter(path: Any) -> str:
    """The delimiter a CSV file uses (, ; or tab), to write an answer file the same way."""
    from pathlib import Path

    with Path(path).open(encoding="utf-8-sig", newline="") as stream:
        return _delimiter_of(stream.readline())


def row_estimate(path: Any) -> int | None:
    """About how many data rows a file has, for a progress bar: a CSV file's lines after the header (a line break inside
    a quoted cell counts one too many), a workbook's stated dimension; None when it does not say."""
    from pathlib import Path

    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            rows = book.active.max_row
        finally:
            book.close()
        return max(0, rows - 1) if isinstance(rows, int) else None
    lines, last = 0, b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines - 1 + (last != b"\n"))
