"""Reading SPAR notification files (ändringsavisering, nulägesavisering, bruttoavisering; XML) and the optional CSV
that maps identity numbers to customer ids. The only I/O of `registervard spar import`'s reading.

The XML is untrusted input. It is parsed with defusedxml, with a document type forbidden outright: a SPAR file has
none, and one is how an entity-expansion ("billion laughs") or external-entity file works, so such a file is refused
before anything in it is read (`UnsafeFile`). Elements are found by their local names in `events/spar_elements.toml`
(namespaces aside), and the file is streamed: one person's record (AviseringPost) is held at a time, however large
the file, and a record holds at most `MAX_ELEMENTS` elements of at most `MAX_TEXT` characters each.

What cannot be read is said with its line and element path (`line 14: /SPARExport/AviseringPost[3]/
Folkbokforingsadress/SvenskAdress/PostNr: ...`), never its value, and the rest of the file goes on: a record without
a valid identity number, or with a protection flag that is neither JA nor NEJ (whether the person is protected cannot
then be told), is left out; any other element that cannot be read leaves out its part of the record (a name, the
addresses, the civil status, the deregistration, the marketing block), and the rest of the record is used. A file
that is not well-formed XML is read up to the break, which `BrokenFile` names.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from events.catalog import PersonName, PostalAddress
from events.identity import IdentityNumberError, parse_identity_number
from events.postal_codes import swedish_postal_code
from events.spar_elements import TABLE, AddressKind, SparTable
from events.spar_records import Part, SparAddress, SparCivilStatus, SparDeregistration, SparName, SparProtection, SparRecord, Where
from events.validation import is_opaque_customer_id

CHUNK_BYTES = 64 * 1024
"""The file is fed to the parser this much at a time."""

MAX_ELEMENTS = 2000
"""Elements one record may hold; a real record holds a few dozen, so more is not a SPAR record."""

MAX_TEXT = 10_000
"""Characters one element's text may hold (far above any field's limit: the events' own limits refuse less)."""

MAX_DEPTH = 32
"""How deep elements may nest within a record."""

MAX_FILE_DEPTH = 64
"""How deep elements may nest in the whole file: a SPAR file nests a handful deep, and each open element costs memory."""


class UnsafeFile(ValueError):
    """The file declares a document type (DOCTYPE), entities or external references: refused, nothing in it read."""


class BrokenFile(ValueError):
    """The file is not well-formed XML from `where` on: what came before was read, nothing after it."""

    def __init__(self, where: Where, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Problem:
    """Something in the file that could not be read: where, what is wrong (never the value) and a code."""

    where: Where
    message: str
    code: str = "INVALID_FIELD"

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class ReadRecord:
    """One record as read: the record (None if it had to be left out) and what in it could not be read."""

    where: Where
    record: SparRecord | None
    problems: tuple[Problem, ...] = ()


# --- The XML, streamed ----------------------------------------------------------------------------------------------


@dataclass
class _Node:
    """An element of a record: its local name, where it starts, its text and children."""

    name: str
    where: Where
    attrs: dict[str, str]
    children: list[_Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    length: int = 0
    too_long: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def find(self, path: str) -> _Node | None:
        """The first descendant along `path` ("PersonId/IdNummer"), or None."""
        node: _Node | None = self
        for name in path.split("/"):
            node = next((child for child in node.children if child.name == name), None) if node is not None else None
        return node

    def find_all(self, name: str) -> list[_Node]:
        """The children named `name`, in order."""
        return [child for child in self.children if child.name == name]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _TooDeep(Exception):
    """Elements nest deeper than `MAX_FILE_DEPTH`."""


@dataclass
class _Level:
    """An open element: its path, how many children of each name it has had, and its node if it is kept."""

    path: str
    seen: Counter[str] = field(default_factory=Counter)
    node: _Node | None = None


class _Collector:
    """The parser's target: keeps the elements of records only, and hands each record over when it ends."""

    def __init__(self, record: str) -> None:
        self.record = record
        self.expat: Any = None
        self.levels: list[_Level] = [_Level("")]
        self.done: list[tuple[_Node, bool]] = []
        """Records ended since the last `drain`, each with whether it broke a size limit."""
        self._open: _Node | None = None
        self._elements = 0
        self._oversized = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if len(self.levels) > MAX_FILE_DEPTH:
            raise _TooDeep
        name = _local(tag)
        parent = self.levels[-1]
        parent.seen[name] += 1
        index = parent.seen[name]
        path = f"{parent.path}/{name}" + (f"[{index}]" if index > 1 or name == self.record else "")
        node = None
        if self._open is None and name == self.record:
            node = self._open = _Node(name, Where(line=self.expat.CurrentLineNumber, path=path), {})
            self._elements, self._oversized = 1, False
        elif self._open is not None and parent.node is not None:
            self._elements += 1
            depth = path.count("/") - self._open.where.path.count("/")
            if self._elements > MAX_ELEMENTS or depth > MAX_DEPTH:
                self._oversized = True
            else:
                node = _Node(name, Where(line=self.expat.CurrentLineNumber, path=path), {_local(k): v for k, v in attrs.items()})
                parent.node.children.append(node)
        self.levels.append(_Level(path, node=node))

    def data(self, text: str) -> None:
        node = self.levels[-1].node
        if node is None or node.too_long:
            return
        node.length += len(text)
        if node.length > MAX_TEXT:
            node.too_long, node.parts = True, []
        else:
            node.parts.append(text)

    def end(self, tag: str) -> None:
        level = self.levels.pop()
        if level.node is not None and level.node is self._open:
            self.done.append((level.node, self._oversized))
            self._open = None

    def close(self) -> None:
        return None

    def drain(self) -> list[tuple[_Node, bool]]:
        done, self.done = self.done, []
        return done

    def where(self, line: int) -> Where:
        """The place of a break: its line and the innermost element open there."""
        return Where(line=line, path=self.levels[-1].path or "/")


def read_records(path: Path, table: SparTable = TABLE) -> Iterator[ReadRecord]:
    """Each person's record of a SPAR notification file, in the file's order, as it is read.

    UnsafeFile (before any record) for a file with a document type; BrokenFile once the XML stops being well-formed,
    after the records before the break."""
    collector = _Collector(table.record)
    parser = DefusedXMLParser(target=collector, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    collector.expat = parser.parser
    with path.open("rb") as stream:
        while True:
            chunk = stream.read(CHUNK_BYTES)
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
            except DefusedXmlException:
                raise UnsafeFile(
                    f"line {collector.expat.CurrentLineNumber}: the file declares a document type (DOCTYPE); a SPAR file has none, and the entities one "
                    "declares can expand without limit or read other files. Refused: nothing in the file was read."
                ) from None
            except (ParseError, _TooDeep) as error:
                yield from (interpret(node, oversized, table) for node, oversized in collector.drain())
                if isinstance(error, _TooDeep):
                    line, reason = collector.expat.CurrentLineNumber, f"elements nest more than {MAX_FILE_DEPTH} deep here"
                else:
                    line = error.position[0] if error.position else collector.expat.CurrentLineNumber
                    reason = f"the file is not well-formed XML here ({str(error).split(':')[0]})"
                raise BrokenFile(collector.where(line), f"{reason}; nothing after it was read") from None
            yield from (interpret(node, oversized, table) for node, oversized in collector.drain())
            if not chunk:
                return


# --- A record's elements, in the register's terms ----------------------------------------------------------------


class _Unreadable(ValueError):
    """An element that cannot be read: the element, and what is wrong with it."""

    def __init__(self, node: _Node, message: str, code: str = "INVALID_FIELD") -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.code = code


_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def _text(node: _Node) -> str:
    if node.too_long:
        raise _Unreadable(node, f"is more than {MAX_TEXT} characters long")
    return node.text


def _required(parent: _Node, name: str) -> str:
    node = parent.find(name)
    if node is None or not _text(node):
        raise _Unreadable(parent, f"{name}: is missing", code="MISSING_FIELD")
    return _text(node)


def _optional(parent: _Node, name: str) -> str | None:
    node = parent.find(name)
    return (_text(node) or None) if node is not None else None


def _date(parent: _Node, name: str) -> date | None:
    """The date in element `name`, if there is one: YYYY-MM-DD or YYYYMMDD; an incomplete date (00 for the month or the
    day, as the population register writes one it does not know in full) is read as the first of the month or year."""
    node = parent.find(name)
    if node is None or not _text(node):
        return None
    found = _DATE.fullmatch(_text(node))
    try:
        if found is None:
            raise ValueError
        year, month, day = (int(part) for part in found.groups())
        return date(year, month or 1, day or 1)
    except ValueError:
        raise _Unreadable(node, "is not a date (YYYY-MM-DD)") from None


def _latest(nodes: list[_Node], table: SparTable) -> _Node | None:
    """Of entries delivered with their history, the one begun last (the last of those begun the same day)."""
    dated = [(_date(node, table.valid_from) or date.min, index, node) for index, node in enumerate(nodes)]
    return max(dated, key=lambda entry: entry[:2])[2] if dated else None


def _name(node: _Node, table: SparTable) -> SparName:
    surname = " ".join(part for part in (_optional(node, table.middle_name), _required(node, table.surname)) if part)
    return SparName(
        name=PersonName(given_names=_required(node, table.given_names), surname=surname),
        valid_from=_date(node, table.valid_from),
        valid_to=_date(node, table.valid_to),
        where=node.where,
    )


def _address(kind: AddressKind, node: _Node, table: SparTable) -> SparAddress:
    international = node.name == table.international
    elements = table.international_address if international else table.swedish_address
    lines = [text for name in elements.lines if (text := _optional(node, name))]
    if international:
        assert elements.country is not None
        country_node = node.find(elements.country)
        if country_node is None or not _text(country_node):
            raise _Unreadable(node, f"{elements.country}: is missing", code="MISSING_FIELD")
        country = table.country(_text(country_node))
        if country is None:
            raise _Unreadable(country_node, "is not a country the table knows (events/spar_elements.toml, [countries]); add it")
        if len(lines) < 2:
            raise _Unreadable(node, f"needs a delivery line and a town line ({', '.join(elements.lines)})", code="MISSING_FIELD")
        address = PostalAddress(care_of=_optional(node, elements.care_of), street=", ".join(lines[:-1]), postal_code="", city=lines[-1], country=country)
    else:
        assert elements.postal_code is not None and elements.city is not None
        if not lines:
            raise _Unreadable(node, f"has no delivery address line ({', '.join(elements.lines)})", code="MISSING_FIELD")
        written = _required(node, elements.postal_code)
        code = swedish_postal_code(written)
        if code is None:
            raise _Unreadable(node.find(elements.postal_code) or node, "is not a Swedish postal code (five digits)")
        address = PostalAddress(care_of=_optional(node, elements.care_of), street=", ".join(lines), postal_code=code, city=_required(node, elements.city))
    return SparAddress(kind=kind, address=address, valid_from=_date(node, table.valid_from), valid_to=_date(node, table.valid_to), where=node.where)


def _deregistration(node: _Node, table: SparTable) -> SparDeregistration | None:
    written = _optional(node, table.cause)
    died = _date(node, table.date_of_death)
    if written is None:
        if died is not None:
            raise _Unreadable(node, f"{table.date_of_death}: a day of death without a cause of deregistration ({table.cause})", code="MISSING_FIELD")
        return None
    cause = table.cause_code(written)
    if cause is None:
        raise _Unreadable(node.find(table.cause) or node, "is not a cause of deregistration the register knows (events/deregistration_causes.toml)")
    new_number = _optional(node, table.new_identity_number)
    if new_number is not None:
        try:
            parsed = parse_identity_number(new_number)
        except IdentityNumberError as error:  # the error names the rule broken, never the number
            raise _Unreadable(node.find(table.new_identity_number) or node, str(error), code="INVALID_IDENTITY_NUMBER") from None
        if not parsed.is_person:
            raise _Unreadable(node.find(table.new_identity_number) or node, "is an organisationsnummer, not a person's new number", "INVALID_IDENTITY_NUMBER")
        new_number = parsed.number
    return SparDeregistration(cause=cause, on=_date(node, table.deregistration_date), date_of_death=died, where=node.where, new_identity_number=new_number)


def interpret(node: _Node, oversized: bool, table: SparTable = TABLE) -> ReadRecord:
    """A record element in the register's terms, with what in it could not be read."""
    where = node.where
    if oversized:
        reason = f"holds more than {MAX_ELEMENTS} elements or nests them more than {MAX_DEPTH} deep; not a SPAR record; the record is left out"
        return ReadRecord(where, None, (Problem(where, reason, "RECORD_TOO_LARGE"),))
    problems: list[Problem] = []

    def unreadable(error: _Unreadable, consequence: str) -> None:
        problems.append(Problem(error.node.where, f"{error.message}; {consequence}", error.code))

    try:
        written = _required(node, table.identity_number)
        try:
            number = parse_identity_number(written)
        except IdentityNumberError as error:
            raise _Unreadable(node.find(table.identity_number) or node, str(error), code="INVALID_IDENTITY_NUMBER") from None
        if not number.is_person:
            raise _Unreadable(node.find(table.identity_number) or node, "is an organisationsnummer; a SPAR record is a person's", "INVALID_IDENTITY_NUMBER")
        protections = []
        for flag in table.protections:
            flag_node = node.find(flag.flag)
            if flag_node is None:
                continue
            flagged = table.flag(_text(flag_node))
            if flagged is None:
                raise _Unreadable(flag_node, f"must be {' or '.join(sorted(table.yes | table.no))}: whether the person is protected cannot be told")
            try:
                since = _date(node, flag.date)
            except _Unreadable as error:
                unreadable(error, "the protection is dated by the record")
                since = None
            protections.append(SparProtection(protection=flag.protection, flagged=flagged, since=since, where=flag_node.where))
    except _Unreadable as error:
        unreadable(error, "the record is left out")
        return ReadRecord(where, None, tuple(problems))

    left_out: set[Part] = set()
    try:
        last_changed = _date(node, table.last_changed)
    except _Unreadable as error:
        unreadable(error, "left out")
        last_changed = None
    names: list[SparName] = []
    for name_node in node.find_all(table.name):
        try:
            names.append(_name(name_node, table))
        except _Unreadable as error:
            unreadable(error, "the names are left out")
            left_out.add(Part.NAMES)
    addresses: list[SparAddress] = []
    for kind, element in table.address_elements.items():
        for holder in node.find_all(element):
            for address_node in holder.children:
                if address_node.name not in (table.swedish, table.international):
                    continue
                try:
                    addresses.append(_address(kind, address_node, table))
                except _Unreadable as error:
                    unreadable(error, "the addresses are left out")
                    left_out.add(Part.ADDRESSES)
    civil_status = None
    try:
        civil_node = _latest(node.find_all(table.civil_status), table)
        if civil_node is not None and (code := _optional(civil_node, table.civil_status_code)) is not None:
            status = table.civil_statuses.get(code.upper())
            if status is None:
                raise _Unreadable(civil_node.find(table.civil_status_code) or civil_node, "is not a civil status code of events/spar_elements.toml")
            civil_status = SparCivilStatus(status=status, since=_date(civil_node, table.civil_status_date), where=civil_node.where)
    except _Unreadable as error:
        unreadable(error, "the civil status is left out")
        left_out.add(Part.CIVIL_STATUS)
    deregistration = None
    try:
        details = _latest(node.find_all(table.deregistration), table)
        deregistration = _deregistration(details, table) if details is not None else None
    except _Unreadable as error:
        unreadable(error, "the deregistration is left out")
        left_out.add(Part.DEREGISTRATION)
    block = None
    block_node = node.find(table.direct_marketing_block)
    if block_node is not None:
        try:
            block = table.flag(_text(block_node))
            if block is None:
                raise _Unreadable(block_node, f"must be {' or '.join(sorted(table.yes | table.no))}")
        except _Unreadable as error:
            unreadable(error, "left out")
            left_out.add(Part.DIRECT_MARKETING_BLOCK)
    record = SparRecord(
        where=where,
        identity_number=number.number,
        last_changed=last_changed,
        protections=tuple(protections),
        names=tuple(names),
        addresses=tuple(addresses),
        civil_status=civil_status,
        deregistration=deregistration,
        direct_marketing_block=block,
        left_out=frozenset(left_out),
    )
    return ReadRecord(where, record, tuple(problems))


# --- The mapping file: identity number → customer id -----------------------------------------------------------

NUMBER_HEADERS = ("identity_number", "personnummer", "pnr")
ID_HEADERS = ("customer_id", "kundnummer", "kundnr")


@dataclass(frozen=True)
class CustomerMapping:
    """The customers a mapping file names, by 12-digit identity number (a number may name several), and its bad lines."""

    customers: Mapping[str, tuple[str, ...]]
    problems: tuple[tuple[int, str], ...] = ()


def read_mapping(path: Path) -> CustomerMapping:
    """A CSV (UTF-8, `;`, `,` or tab) with a header naming an identity number column (identity_number, personnummer)
    and a customer id column (customer_id, kundnummer); ValueError if there is no such header. A bad line is reported
    with its number and left out; no message holds a value of the file."""
    text = path.read_text(encoding="utf-8-sig")
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(rows, [])]
    number_at = next((header.index(h) for h in NUMBER_HEADERS if h in header), None)
    id_at = next((header.index(h) for h in ID_HEADERS if h in header), None)
    if number_at is None or id_at is None:
        raise ValueError(f"line 1 must be a header naming the columns {NUMBER_HEADERS[0]} and {ID_HEADERS[0]}")
    customers: dict[str, list[str]] = {}
    problems: list[tuple[int, str]] = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = [*row, "", ""]
        try:
            number = parse_identity_number(cells[number_at].strip())
        except IdentityNumberError as error:
            problems.append((line, f"{header[number_at]}: {error} [INVALID_IDENTITY_NUMBER]"))
            continue
        customer_id = cells[id_at].strip()
        if not is_opaque_customer_id(customer_id):
            problems.append((line, f"{header[id_at]}: must be an opaque customer id (letters, digits, . _ : -; not an identity number) [INVALID_FIELD]"))
            continue
        ids = customers.setdefault(number.number, [])
        if customer_id not in ids:
            ids.append(customer_id)
    return CustomerMapping({number: tuple(ids) for number, ids in customers.items()}, tuple(problems))
