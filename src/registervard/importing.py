"""Importing an existing customer register (a spreadsheet or CSV file) as CustomerRegistered events.

Pure: rows in, events, warnings and rejections out. Reading the file is `registervard.spreadsheet_files`'s (encoding,
delimiter, header row); looking customers up in the register, publishing and the result file are the CLI's
(`registervard import`, registervard/commands/importer.py).

Columns are found by their header, case, spaces and punctuation ignored, through the table in
`import_columns.toml` (Swedish and English names); `--map column=field` adds to or overrides it. A whole name
("Namn") is split into given names and surname, a postal address ("Postadress") into postal code and town, a c/o
line at the start of the street into its own field (`registervard.swedish_values`). Each row becomes one JSON
document as upstream systems write them (`events.jsonlines`), so it is validated by the same rules, and its event id
is derived from its content: with the same `occurred_at` the same file gives the same events, and publishing it
again takes effect once.

A row that breaks a rule of a required field is rejected with its line number and every field that is wrong; a
bad optional field (phone, e-mail, the contact person...) is left out with a warning naming the column, and the row
is kept. Reasons never carry the personal data itself.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from events.catalog import CustomerKind, Event, Protection
from events.identity import IdentityNumberError, parse_identity_number
from events.jsonlines import parse_event
from events.phone import normalise_phone
from events.postal_codes import split_postal_code
from events.refusal import Refusal
from events.validation import is_identity_number, is_opaque_customer_id
from registervard import spreadsheet_files
from registervard.swedish_values import looks_like_company, split_care_of, split_name, split_postal_address, without_care_of_prefix

__all__ = ["normalise_phone", "parse_identity_number"]  # tests and tools reach these through this module too

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
    "name",
    "postal_address",
    "kind",
    "protected",
    "status",
    "contact_person",
    "contact_phone",
    "contact_email",
    "contact_person_for",
)
"""The fields a column can map to."""

SPLITS = {"name": ("given_names", "surname"), "postal_address": ("postal_code", "city")}
"""The fields a combined column is split into."""

COLUMNS_PATH = Path(__file__).with_name("import_columns.toml")


def _header_key(text: Any) -> str:
    """A header as it is compared: lower case, without spaces or punctuation ("Org.nr" → "orgnr", "E-post" → "epost")."""
    return re.sub(r"[\W_]+", "", str(text if text is not None else "").casefold())


def _value_key(text: str) -> str:
    return " ".join(text.casefold().split())


def _load_columns(path: Path = COLUMNS_PATH) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """The header table (header key → field) and the value words (kind of word → keys), from `import_columns.toml`;
    ValueError names an unknown field or a header listed for two fields."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    columns: dict[str, str] = {}
    for target, headers in data["columns"].items():
        if target not in FIELDS:
            raise ValueError(f"{path.name}: [columns] names unknown field {target!r}")
        for header in headers:
            key = _header_key(header)
            if columns.setdefault(key, target) != target:
                raise ValueError(f"{path.name}: header {header!r} is listed for both {columns[key]} and {target}")
    values = {kind: frozenset(_value_key(word) for word in words) for kind, words in data["values"].items()}
    return columns, values


DEFAULT_COLUMNS, VALUES = _load_columns()
"""Header key (`_header_key`) → field; and the words read as yes, no, a kind of protection or of customer."""

COUNTRY_NAMES = {"sverige": "SE", "sweden": "SE", "norge": "NO", "norway": "NO", "danmark": "DK", "denmark": "DK", "finland": "FI", "suomi": "FI"}

OPTIONAL_FIELDS = {
    "registration.contact.phone": "phone",
    "registration.contact.email": "email",
    "contact_person_for": "contact_person_for",
}
"""The fields of a row's event the rules may refuse without rejecting the row: the value is left out with a warning."""

_CONTACT_OPTIONAL = {"registration.contact.phone": "contact_phone", "registration.contact.email": "contact_email"}

_NOT_IMPORTED = "NOT_IMPORTED"


RowRejected = Refusal
"""The name a row's refusal was known by (the same class): the row's field, the reason (no personal data) and a code."""


class RowRefused(Refusal):
    """Every reason a row is rejected (the first one is the refusal's own field, reason and code)."""

    def __init__(self, errors: Sequence[Refusal], customer_id: str = "") -> None:
        first = errors[0]
        super().__init__(first.field, first.reason, first.code)
        self.errors = tuple(errors)
        self.customer_id = customer_id


@dataclass(frozen=True)
class Rejection:
    """A rejected row: its line, every reason, and its customer id where the row gave or derived one."""

    line_number: int
    errors: tuple[Refusal, ...]
    customer_id: str = ""

    @property
    def error(self) -> Refusal:
        """The first reason."""
        return self.errors[0]

    def messages(self) -> list[str]:
        """Each reason as `field: reason [CODE]`."""
        return [f"{error} [{error.code}]" for error in self.errors]

    def __str__(self) -> str:
        return "\n".join(f"line {self.line_number}: {message}" for message in self.messages())


@dataclass(frozen=True)
class RowWarning:
    """A value of a kept row that is left out: its line, the field and the column it was in, and why."""

    line_number: int
    error: Refusal
    column: str = ""

    def message(self) -> str:
        """`field (column Header): reason; left out [CODE]`."""
        where = self.error.field if _header_key(self.column) in ("", _header_key(self.error.field)) else f"{self.error.field} (column {self.column})"
        return f"{where}: {self.error.reason}; left out [{self.error.code}]"

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.message()}"


@dataclass(frozen=True)
class ImportedRow:
    """A row that registers a customer: its event, the document it was read from, and what goes with it."""

    line_number: int
    event: Event
    document: dict[str, Any]
    warnings: tuple[RowWarning, ...] = ()
    follow_ups: tuple[Event, ...] = ()
    """Events about the same customer, published after the registration (a protected identity the row states)."""
    contact_persons: tuple[Event, ...] = ()
    """The registration of the company's contact person the row names (another customer)."""

    @property
    def customer_id(self) -> str:
        return self.event.customer_id

    @property
    def identity_number(self) -> str | None:
        number = self.document["registration"].get("identity_number")
        return number if isinstance(number, str) else None

    @property
    def events(self) -> tuple[Event, ...]:
        """Everything the row publishes, in order."""
        return (self.event, *self.follow_ups, *self.contact_persons)


@dataclass(frozen=True)
class ReferenceRow:
    """A row that names a customer without what it takes to register one: a protected identity as `export` writes it
    (no name, no address), or an erased customer. It can only match a customer the register has; `refusal` says why
    it cannot be imported otherwise. Nothing is made up to fill the gap."""

    line_number: int
    customer_id: str
    identity_number: str | None
    refusal: Refusal
    warnings: tuple[RowWarning, ...] = ()


Outcome = ImportedRow | ReferenceRow | Rejection


@dataclass
class ImportPlan:
    """What a file gives: an event per good row, the rows that can only match the register, and every rejected row."""

    rows: list[ImportedRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)

    @property
    def duplicates(self) -> list[Rejection]:
        return [r for r in self.rejected if r.error.code == "DUPLICATE_IN_FILE"]


# --- Headers -------------------------------------------------------------------


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


def _aliases(overrides: Mapping[str, str] | None) -> dict[str, str]:
    return {**DEFAULT_COLUMNS, **{_header_key(k): v for k, v in (overrides or {}).items()}}


def header_score(overrides: Mapping[str, str] | None = None) -> Callable[[Sequence[Any]], int]:
    """How many known columns a row names: what tells the header from a title row above it."""
    aliases = _aliases(overrides)
    return lambda cells: sum(1 for cell in cells if aliases.get(_header_key(cell), "ignore") != "ignore")


def resolve_columns(headers: Sequence[Any], overrides: Mapping[str, str] | None = None) -> dict[int, str]:
    """Column index → field, from the headers, the defaults and the overrides; ValueError on an ambiguity."""
    aliases = _aliases(overrides)
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
        raise ValueError("no column holds a customer id or an identity number (e.g. Kundnummer, Personnummer, Pnr); use --map column=field")
    return columns


def column_name(headers: Sequence[Any], index: int) -> str:
    """A column as a person names it: its header, or "column 7" when it has none."""
    text = cell_text(headers[index]) if index < len(headers) else ""
    return text or f"column {index + 1}"


def unmapped_columns(headers: Sequence[Any], columns: Mapping[int, str], overrides: Mapping[str, str] | None = None) -> list[int]:
    """The columns no field takes, and that no --map said to ignore: their data is not imported."""
    ignored = {key for key, target in (overrides or {}).items() if target == "ignore"}
    return [i for i in range(len(headers)) if i not in columns and _header_key(headers[i]) not in ignored]


def count_filled(table: Iterable[tuple[int, Sequence[Any]]], indexes: Sequence[int], counts: Counter[int]) -> Iterator[tuple[int, Sequence[Any]]]:
    """The rows as they are, counting for each of these columns the rows with a value in it (the columns not imported)."""
    for line_number, cells in table:
        for index in indexes:
            if index < len(cells) and cell_text(cells[index]):
                counts[index] += 1
        yield line_number, cells


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
    """"111 22" → "11122", "S-211 20" → "21120"."""
    return split_postal_code(text)[0]


def normalise_country(text: str) -> str:
    text = text.strip()
    if not text:
        return "SE"
    return COUNTRY_NAMES.get(text.lower(), text.upper())


def parse_protection(text: str) -> Protection | None:
    """A protected-identity cell: None for no, the kind of protection for yes (OTHER when it does not say which);
    ValueError for anything else."""
    key = _value_key(text)
    if not key or key in VALUES["no"]:
        return None
    if key in VALUES["yes"]:
        return Protection.OTHER
    if key in VALUES["sekretessmarkering"]:
        return Protection.SEKRETESSMARKERING
    if key in VALUES["skyddad_folkbokforing"]:
        return Protection.SKYDDAD_FOLKBOKFORING
    raise ValueError("must be yes or no (ja/nej, true/false), or the kind of protection (sekretessmarkering, skyddad folkbokföring)")


def parse_kind(text: str) -> CustomerKind | None:
    """A customer-kind cell (PERSON, COMPANY, Privat, Företag...), or None when it is neither."""
    key = _value_key(text)
    if key in VALUES["person"]:
        return CustomerKind.PERSON
    if key in VALUES["company"]:
        return CustomerKind.COMPANY
    return None


# --- Rows → events -------------------------------------------------------------------

IdFromIdentity = Callable[[str], str]


@dataclass
class _Draft:
    """What a row gives before it is validated as events."""

    customer_id: str
    document: dict[str, Any] | None = None
    warnings: list[Refusal] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    contact_person: dict[str, Any] | None = None
    reference: Refusal | None = None
    identity_number: str | None = None


def _draft(
    values: Mapping[str, str],
    *,
    source: str,
    occurred_at: datetime,
    company: str | None,
    id_from_identity: IdFromIdentity,
    id_from_text: IdFromIdentity,
) -> _Draft:
    """A row's documents, or RowRefused with every reason a required field is wrong."""

    def get(name: str) -> str:
        return (values.get(name) or "").strip()

    errors: list[Refusal] = []
    warnings: list[Refusal] = []

    protection: Protection | None = None
    if get("protected"):
        try:
            protection = parse_protection(get("protected"))
        except ValueError as error:
            errors.append(Refusal("protected", str(error)))
    identity = None
    if get("identity_number"):
        try:
            identity = parse_identity_number(get("identity_number"), today=occurred_at.date())
        except IdentityNumberError as error:
            errors.append(Refusal("identity_number", str(error), "INVALID_IDENTITY_NUMBER"))
    customer_id = get("customer_id")
    if customer_id:
        if not is_opaque_customer_id(customer_id):
            if is_identity_number(customer_id):
                errors.append(Refusal("customer_id", "looks like an identity number; use an opaque customer id", "PERSONAL_DATA_IN_KEY"))
            else:
                errors.append(Refusal("customer_id", "must be 1-100 letters, digits or . _ : - (an opaque id, starting with a letter or digit)"))
            customer_id = ""  # not to be shown in the result file: it may be personal data
    elif identity is not None:
        customer_id = id_from_identity(identity.number)
    elif not get("identity_number"):
        errors.append(Refusal("customer_id", "is empty and there is no identity number to derive an id from", "MISSING_FIELD"))

    status = get("status").upper()
    if status == "ERASED":
        if errors:
            raise RowRefused(errors, customer_id)
        refusal = Refusal("status", "an erased customer holds no data to import: the row can only match a customer the register has", "NOT_IN_REGISTER")
        return _Draft(customer_id, reference=refusal, identity_number=identity.number if identity else None)
    if status not in ("", "ACTIVE", "AKTIV"):
        reason = "a status other than ACTIVE is not imported: the register learns deaths, emigrations and the like from the population register"
        warnings.append(Refusal("status", reason, _NOT_IMPORTED))

    kind = parse_kind(get("kind")) if get("kind") else None
    if get("kind") and kind is None:
        warnings.append(Refusal("kind", "must be person or company (PERSON, COMPANY, Privat, Företag); the identity number decides instead"))
    if kind is CustomerKind.PERSON and identity is not None and not identity.is_person:
        errors.append(Refusal("kind", "says person, but the identity number is an organisationsnummer"))
    if kind is not None:
        is_company = kind is CustomerKind.COMPANY
    elif identity is not None:
        is_company = not identity.is_person
    else:
        personal = get("given_names") or get("surname")
        is_company = not personal and (bool(get("company_name")) or looks_like_company(get("name")))

    registration: dict[str, Any] = {}
    if identity is not None:
        registration["identity_number"] = identity.number
    reference: Refusal | None = None
    if is_company:
        company_name = get("company_name") or get("name")
        if not company_name:
            errors.append(Refusal("company_name", "is required for a company (an organisationsnummer)", "MISSING_FIELD"))
        registration["company_name"] = company_name
        advice = "if the column names the contact person, --map it to contact_person"
        if get("company_name") and get("name"):
            warnings.append(Refusal("name", f"a company's row is named by its company name; {advice}", _NOT_IMPORTED))
        for name in ("given_names", "surname"):
            if get(name):
                warnings.append(Refusal(name, f"a company's row has no person's name; {advice}", _NOT_IMPORTED))
        if protection is not None:
            warnings.append(Refusal("protected", "a company has no protected identity", _NOT_IMPORTED))
            protection = None
    else:
        given, surname = get("given_names"), get("surname")
        unsplit = False
        if not given and not surname and get("name"):
            parts = split_name(get("name"))
            if parts is None:
                errors.append(Refusal("name", "needs a given name and a surname, e.g. 'Anna Svensson' or 'Svensson, Anna'", "MISSING_FIELD"))
                unsplit = True  # said once, of the name column
            else:
                given, surname = parts
        if get("company_name"):
            warnings.append(Refusal("company_name", "a person's row has no company name", _NOT_IMPORTED))
        if not given and not surname and protection is not None:
            # The export writes a protected identity without name and address; nothing is made up in their place.
            reference = Refusal(
                "protected",
                "a protected identity without name (as an export writes it) can only match a customer the register has; "
                "its name and address come from the population register (SPAR)",
                "NOT_IN_REGISTER",
            )
        else:
            for name, value in (("given_names", given), ("surname", surname)):
                if not value and not unsplit:
                    errors.append(Refusal(name, "is required for a person", "MISSING_FIELD"))
            registration["name"] = {"given_names": given, "surname": surname}

    address = _address(get, errors, warnings)
    if address is not None:
        registration["address"] = address

    contact = _contact(get, "phone", "email", warnings)
    if contact:
        registration["contact"] = contact

    if errors:
        raise RowRefused(errors, customer_id)
    if reference is not None:
        return _Draft(customer_id, reference=reference, warnings=warnings, identity_number=identity.number if identity else None)

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
    draft = _Draft(customer_id, document=document, warnings=warnings, identity_number=identity.number if identity else None)
    if get("contact_person_for"):
        if is_company:
            warnings.append(Refusal("contact_person_for", "a company is not a contact person", _NOT_IMPORTED))
        elif not is_opaque_customer_id(get("contact_person_for")):
            warnings.append(Refusal("contact_person_for", "must be the company's customer id"))
        else:
            document["contact_person_for"] = get("contact_person_for")
    if protection is not None:
        envelope = {k: document[k] for k in ("customer_id", "occurred_at", "source")}
        draft.follow_ups.append({"type": "ProtectedIdentitySet", **envelope, "protection": protection.value})
    draft.contact_person = _contact_person(get, document, is_company, warnings, id_from_text)
    return draft


def _address(get: Callable[[str], str], errors: list[Refusal], warnings: list[Refusal]) -> dict[str, Any] | None:
    """The row's postal address (c/o, street, postal code and town, from their columns or split from combined ones)."""
    street, care_of = get("street"), without_care_of_prefix(get("care_of"))
    if street and (parts := split_care_of(street)) is not None:
        street_care_of, street = parts
        if care_of and care_of != street_care_of:
            warnings.append(Refusal("street", "begins with a c/o line other than the c/o column's, which is kept; the street's c/o line is", _NOT_IMPORTED))
        else:
            care_of = street_care_of
    postal_code, country_written = split_postal_code(get("postal_code")) if get("postal_code") else ("", None)
    city = get("city")
    combined_unreadable = False
    if get("postal_address"):
        parts_of = split_postal_address(get("postal_address"))
        if parts_of is None:
            errors.append(Refusal("postal_address", "must be a postal code followed by the town, e.g. 111 22 Stockholm", "INVALID_POSTAL_CODE"))
            combined_unreadable = True
        else:
            code, town, country_of_code = parts_of
            postal_code, city, country_written = postal_code or code, city or town, country_written or country_of_code
    if not any((care_of, street, postal_code, city, get("postal_address"))):
        return None
    if not street:
        errors.append(Refusal("street", "is required when the row has an address", "MISSING_FIELD"))
    if not combined_unreadable:
        for name, value in (("postal_code", postal_code), ("city", city)):
            if not value:
                errors.append(Refusal(name, "is required when the row has an address", "MISSING_FIELD"))
    country = normalise_country(get("country")) if get("country") else country_written or "SE"
    if not re.fullmatch(r"[A-Z]{2}", country):
        errors.append(Refusal("country", "must be a country name or an ISO 3166-1 alpha-2 code such as SE", "INVALID_FIELD"))
    elif country == "SE" and postal_code and not re.fullmatch(r"[1-9][0-9]{4}", postal_code):
        errors.append(Refusal("postal_code", "must be five digits for a Swedish address (e.g. 111 22)", "INVALID_POSTAL_CODE"))
    address = {"street": street, "postal_code": postal_code, "city": city, "country": country}
    if care_of:
        address["care_of"] = care_of
    return address


def _contact_person(
    get: Callable[[str], str], company_document: dict[str, Any], is_company: bool, warnings: list[Refusal], id_from_text: IdFromIdentity
) -> dict[str, Any] | None:
    """The registration of the contact person a company's row names, with `contact_person_for` the company."""
    if not any(get(name) for name in ("contact_person", "contact_phone", "contact_email")):
        return None
    if not is_company:
        filled = next(name for name in ("contact_person", "contact_phone", "contact_email") if get(name))
        warnings.append(Refusal(filled, "only a company's row has a contact person", _NOT_IMPORTED))
        return None
    if not get("contact_person"):
        filled = "contact_phone" if get("contact_phone") else "contact_email"
        warnings.append(Refusal(filled, "a contact person's phone or e-mail needs their name in the contact person column", _NOT_IMPORTED))
        return None
    parts = split_name(get("contact_person"))
    if parts is None:
        warnings.append(Refusal("contact_person", "needs a given name and a surname, e.g. 'Karin Berg' or 'Berg, Karin'", "MISSING_FIELD"))
        return None
    given, surname = parts
    company_id = company_document["customer_id"]
    registration: dict[str, Any] = {"name": {"given_names": given, "surname": surname}}
    contact = _contact(get, "contact_phone", "contact_email", warnings)
    if contact:
        registration["contact"] = contact
    # The contact person's id: a keyed hash of the company's id and the name, so the same row gives the same id
    # again, and a new contact person of the company a new one; the name itself never appears in it.
    contact_id = id_from_text(f"contact person of {company_id}: {_value_key(f'{given} {surname}')}")
    document = {k: v for k, v in company_document.items() if k not in ("customer_id", "customer_kind", "registration", "contact_person_for")}
    return {**document, "customer_id": contact_id, "customer_kind": "PERSON", "registration": registration, "contact_person_for": company_id}


def row_document(
    values: Mapping[str, str],
    *,
    source: str,
    occurred_at: datetime,
    company: str | None = None,
    id_from_identity: IdFromIdentity,
) -> dict[str, Any]:
    """The CustomerRegistered JSON document of one row (field → text); RowRefused says why not (every reason)."""
    draft = _draft(values, source=source, occurred_at=occurred_at, company=company, id_from_identity=id_from_identity, id_from_text=id_from_identity)
    if draft.document is None:
        assert draft.reference is not None
        raise RowRefused([draft.reference], draft.customer_id)
    return draft.document


def _field_of(error: Refusal) -> str:
    """The row's field an event error is about: `registration.contact.email` → `email`."""
    if error.field == "customer_id":
        return error.field
    return error.field.rsplit(".", 1)[-1]


def _contact(get: Callable[[str], str], phone_field: str, email_field: str, warnings: list[Refusal]) -> dict[str, Any]:
    """The contact details in a row's `phone_field` and `email_field`; a phone that is not one is left out with a warning."""
    contact: dict[str, Any] = {}
    if get(phone_field):
        try:
            contact["phone"] = normalise_phone(get(phone_field))
        except ValueError as error:
            warnings.append(Refusal(phone_field, str(error), "INVALID_PHONE"))
    if get(email_field):
        contact["email"] = get(email_field)
    return contact


def _drop(document: dict[str, Any], path: str) -> bool:
    """Remove the field at `path` (dotted), and the records it leaves empty; whether it was there."""
    parts = path.split(".")
    parents = [document]
    for part in parts[:-1]:
        child = parents[-1].get(part)
        if not isinstance(child, dict):
            return False
        parents.append(child)
    if parts[-1] not in parents[-1]:
        return False
    del parents[-1][parts[-1]]
    for depth in range(len(parents) - 1, 0, -1):
        if not parents[depth]:
            del parents[depth - 1][parts[depth - 1]]
    return True


def _parsed(document: dict[str, Any], optional: Mapping[str, str], warnings: list[Refusal], *, now: datetime, today: date) -> Event:
    """The event of a document; an optional field the rules refuse is left out (a warning), anything else raises."""
    while True:
        try:
            return parse_event(document, now=now, today=today)
        except Refusal as error:
            name = optional.get(error.field)
            if name is None or not _drop(document, error.field):
                raise
            warnings.append(Refusal(name, error.reason, error.code))


def map_row(
    values: Mapping[str, str],
    *,
    line_number: int,
    source: str,
    occurred_at: datetime,
    company: str | None = None,
    id_from_identity: IdFromIdentity,
    id_from_text: IdFromIdentity | None = None,
    now: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> ImportedRow | ReferenceRow:
    """One row (field → text) as its events, or as a row that can only match the register; RowRefused with every
    reason it is rejected. `headers` (field → the column's header) names the columns in warnings."""
    draft = _draft(
        values, source=source, occurred_at=occurred_at, company=company, id_from_identity=id_from_identity, id_from_text=id_from_text or id_from_identity
    )
    moment = now or datetime.now(UTC)
    today = occurred_at.date()

    def warned() -> tuple[RowWarning, ...]:
        return tuple(RowWarning(line_number, w, (headers or {}).get(w.field, "")) for w in draft.warnings)

    if draft.document is None:
        assert draft.reference is not None
        return ReferenceRow(line_number, draft.customer_id, draft.identity_number, draft.reference, warned())
    try:
        event = _parsed(draft.document, OPTIONAL_FIELDS, draft.warnings, now=moment, today=today)
        follow_ups = tuple(parse_event(document, now=moment, today=today) for document in draft.follow_ups)
    except Refusal as error:  # the event's field, named as the row's column
        raise RowRefused([Refusal(_field_of(error), error.reason, error.code)], draft.customer_id) from None
    contacts: tuple[Event, ...] = ()
    if draft.contact_person is not None:
        try:
            contacts = (_parsed(draft.contact_person, _CONTACT_OPTIONAL, draft.warnings, now=moment, today=today),)
        except Refusal as error:
            draft.warnings.append(Refusal("contact_person", error.reason, error.code))
    return ImportedRow(line_number, event, draft.document, warned(), follow_ups, contacts)


def map_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    *,
    source: str,
    occurred_at: datetime,
    company: str | None = None,
    id_from_identity: IdFromIdentity,
    id_from_text: IdFromIdentity | None = None,
    now: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> ImportPlan:
    """Every row (line number, field → text) as an event, a reference or a rejection; later duplicates of a customer
    id or identity number are rejected."""
    plan = ImportPlan()
    for outcome in mapped_rows(
        rows, source=source, occurred_at=occurred_at, company=company, id_from_identity=id_from_identity, id_from_text=id_from_text, now=now, headers=headers
    ):
        if isinstance(outcome, Rejection):
            plan.rejected.append(outcome)
        elif isinstance(outcome, ReferenceRow):
            plan.references.append(outcome)
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
    id_from_text: IdFromIdentity | None = None,
    now: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[Outcome]:
    """`map_rows` one row at a time, for a file of any size: each row's outcome as it is read.

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
            outcome = map_row(
                values,
                line_number=line_number,
                source=source,
                occurred_at=occurred_at,
                company=company,
                id_from_identity=id_from_identity,
                id_from_text=id_from_text,
                now=moment,
                headers=headers,
            )
            identity = outcome.identity_number
            if (first := first_line_of_id.get(outcome.customer_id)) is not None:
                raise RowRefused([Refusal("customer_id", f"the same customer as line {first}", "DUPLICATE_IN_FILE")], outcome.customer_id)
            if identity is not None and (first := first_line_of_identity.get(identity)) is not None:
                raise RowRefused([Refusal("identity_number", f"the same identity number as line {first}", "DUPLICATE_IN_FILE")], outcome.customer_id)
        except RowRefused as refused:
            yield Rejection(line_number, refused.errors, refused.customer_id)
            continue
        first_line_of_id[outcome.customer_id] = line_number
        if identity is not None:
            first_line_of_identity[identity] = line_number
        yield outcome


def rows_by_field(table: Iterable[tuple[int, Sequence[Any]]], columns: Mapping[int, str]) -> Iterable[tuple[int, dict[str, str]]]:
    """Data rows (line number, cells) as (line number, field → text)."""
    for line_number, cells in table:
        yield line_number, {target: cell_text(cells[index]) if index < len(cells) else "" for index, target in columns.items()}


def opaque_id(lookup_hash: str) -> str:
    """The customer id of a row without one: "C-" and 16 hex digits of the identity number's keyed hash."""
    return "C-" + lookup_hash[:16]


# --- Reading files -------------------------------------------------------------------------


def open_table(path: Any, *, header_row: int | None = None, overrides: Mapping[str, str] | None = None) -> spreadsheet_files.Table:
    """An .xlsx or CSV file as a table: its encoding, delimiter and header row found (`registervard.spreadsheet_files`)."""
    return spreadsheet_files.read_table(Path(path), score=header_score(overrides), header_row=header_row)


def read_table(path: Any, *, header_row: int | None = None) -> tuple[list[Any], Iterable[tuple[int, list[Any]]]]:
    """The header and the data rows (line number, cells) of an .xlsx or CSV file (`open_table`).

    The rows are read as they are iterated, so a file of any size takes little memory; the file is closed when
    they have all been read (or the iterator is closed).
    """
    table = open_table(path, header_row=header_row)
    return table.header, table.rows


def csv_delimiter(path: Any) -> str:
    """The delimiter a CSV file uses (, ; or tab), to write an answer file the same way."""
    return spreadsheet_files.sniff(Path(path))[1]


def row_estimate(path: Any) -> int | None:
    """About how many data rows a file has, for a progress bar: a CSV file's lines after the header (a line break inside
    a quoted cell counts one too many), a workbook's stated dimension; None when it does not say."""
    path = Path(path)
    if spreadsheet_files.is_workbook(path):
        rows = spreadsheet_files.workbook_rows(path)
        return max(0, rows - 1) if rows is not None else None
    lines, last = 0, b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines - 1 + (last != b"\n"))
