"""Finding customers in the register by identity number, name, phone number or e-mail address (`customer find`, `POST /customers/find`).

What a search text is read as is decided here (`read_query`): an identity number
in any written form (YYMMDD-NNNN, YYMMDD+NNNN, YYYYMMDDNNNN, an organisationsnummer),
a phone number in any written form (brought to E.164 as `events.phone` does),
an e-mail address, or a name. Digits alone may be both an identity number and a
phone number ("0701234567" is also a valid personnummer); both are searched.

- An identity number is found through the register's keyed hash
  (`identity_lookup`), never the number itself.
- A name matches when every word of the search begins a word of the customer's
  name (given names, surname, company name), case- and accent-insensitively:
  "anna svens" finds Anna Svensson, "ostberg" finds Östberg. Former names
  (`name_history`) are searched too. A protected identity is never found by name:
  the register holds no name of theirs while the protection lasts, and the
  search says so again.
- A phone number matches the customer's current phone; an e-mail address the
  current e-mail, case-insensitively.

A result never shows a protected identity's name or city.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, select
from sqlalchemy.engine import Connection, Engine

from events.identity import IdentityNumberError, parse_identity_number
from events.phone import normalise_phone
from events.validation import is_opaque_customer_id
from projections.lookup import stored_number_hash
from projections.tables import CustomerRow, IdentityLookupRow, NameHistoryRow

DEFAULT_LIMIT = 50
"""Customers a search returns at most, unless the caller asks for another number."""


class SearchBy(StrEnum):
    """What the search text is: `auto` reads it as what it looks like."""

    AUTO = "auto"
    IDENTITY_NUMBER = "identity_number"
    NAME = "name"
    PHONE = "phone"
    EMAIL = "email"


class Matched(StrEnum):
    """Why a customer is among the results."""

    CUSTOMER_ID = "customer_id"
    IDENTITY_NUMBER = "identity_number"
    PHONE = "phone"
    EMAIL = "email"
    NAME = "name"
    FORMER_NAME = "former_name"


class SearchQueryError(ValueError):
    """A search text that cannot be read as what was asked. The message says why, never repeating the text."""


@dataclass(frozen=True)
class Query:
    """A search text as read: what to look for, each None (or empty) when the text is not that."""

    identity_hash: str | None = None
    phone: str | None = None
    email: str | None = None
    name_words: tuple[str, ...] = ()
    customer_id: str | None = None
    notes: tuple[str, ...] = ()
    """Why the text was not searched as an identity number or a phone number, when it looks like one but is neither
    (it was then looked up as a customer id only): to show when nothing is found."""

    @property
    def read_as(self) -> tuple[Matched, ...]:
        """What the text is searched as, in the order results are listed."""
        kinds = (
            (Matched.CUSTOMER_ID, self.customer_id),
            (Matched.IDENTITY_NUMBER, self.identity_hash),
            (Matched.PHONE, self.phone),
            (Matched.EMAIL, self.email),
            (Matched.NAME, self.name_words),
        )
        return tuple(kind for kind, value in kinds if value)


@dataclass(frozen=True)
class Found:
    """One customer found: what a list of results shows, never a protected identity's name or city."""

    customer_id: str
    kind: str | None
    status: str
    protected: bool
    name: str | None
    city: str | None
    matched_on: tuple[Matched, ...]

    @property
    def badge(self) -> str:
        """The status as one word to show (active, deceased, emigrated, deregistered, erased), or `protected` for a
        protected identity who is active, or both ("deceased, protected")."""
        status = self.status.lower()
        if not self.protected:
            return status
        return "protected" if status == "active" else f"{status}, protected"

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return {
            "customer_id": self.customer_id,
            "kind": self.kind,
            "status": self.status,
            "protected": self.protected,
            "badge": self.badge,
            "name": self.name,
            "city": self.city,
            "matched_on": [m.value for m in self.matched_on],
        }


@dataclass(frozen=True)
class SearchResult:
    """The customers found (at most the limit asked for) and whether there were more."""

    customers: list[Found]
    more: bool


# --- Folding names: the same in Python, SQLite and PostgreSQL --------------------------


def _fold_table() -> dict[int, str | None]:
    """Letters to their lower-case base letter (Å, å, Ä -> a; É -> e; Ø -> ø), hyphens to spaces, combining marks removed.

    One table serves the search text (str.translate), SQLite (a function that
    applies it) and PostgreSQL (translate() with the same characters), so that a
    name is folded the same way on every side: PostgreSQL's lower() depends on
    the database's locale, so it is not used.
    """
    table: dict[int, str | None] = {ord(c): c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    table[ord("-")] = " "  # Anna-Karin, Svensson-Berg: each part is a word of the name
    for code in range(0xC0, 0x250):  # Latin-1 Supplement, Latin Extended-A and B: the letters of European names
        char = chr(code)
        if not char.isalpha():
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)).lower()
        if len(base) == 1 and base != char:
            table[code] = base
    for code in range(0x300, 0x370):  # combining marks, as in a name stored decomposed ("o" + U+0308)
        table[code] = None
    return table


FOLD = _fold_table()
_FROM = "".join(chr(code) for code, to in FOLD.items() if to is not None) + "".join(chr(code) for code, to in FOLD.items() if to is None)
_TO = "".join(to for to in FOLD.values() if to is not None)
"""FOLD as PostgreSQL's translate() takes it: characters of _FROM beyond the length of _TO are removed."""

_SQLITE_FOLD = "registervard_fold"


def fold(text: str) -> str:
    """A name as the search compares it: lower case, without accents, hyphens as spaces ("Östberg-Ek" -> "ostberg ek")."""
    return text.translate(FOLD)


def _folded(column: ColumnElement[Any], dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.translate(column, literal(_FROM), literal(_TO))
    return getattr(func, _SQLITE_FOLD)(column)


def _fold_or_none(text: str | None) -> str | None:
    return None if text is None else fold(text)


def _prepare(connection: Connection) -> None:
    """Give a SQLite connection the fold function (PostgreSQL has translate(); other databases are not supported)."""
    if connection.dialect.name == "sqlite":
        raw: Any = connection.connection.driver_connection
        raw.create_function(_SQLITE_FOLD, 1, _fold_or_none, deterministic=True)


# --- Reading the search text ----------------------------------------------------------

_NUMBER_LIKE = re.compile(r"[\d\s\-+().\/]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_WORD_SPLIT = re.compile(r"[\s,;]+")
MAX_QUERY_LENGTH = 200


def read_query(text: str, by: SearchBy = SearchBy.AUTO, *, lookup_key: str | None = None) -> Query:
    """What `text` is searched as; `lookup_key`: the secret of the identity lookup's keyed hash (`Settings.lookup_key`).

    Raises SearchQueryError, saying why and never repeating the text, when it is
    not what `by` says (or, with `auto`, not anything that can be searched).
    """
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise SearchQueryError("contains control characters; type the name, number or address as text")
    stripped = text.strip()
    if not stripped:
        raise SearchQueryError("is empty; give an identity number, a name, a phone number or an e-mail address")
    if len(stripped) > MAX_QUERY_LENGTH:
        raise SearchQueryError(f"is longer than {MAX_QUERY_LENGTH} characters")
    if by is SearchBy.IDENTITY_NUMBER:
        return Query(identity_hash=_identity_hash(stripped, lookup_key))
    if by is SearchBy.PHONE:
        return Query(phone=_phone(stripped))
    if by is SearchBy.EMAIL:
        return Query(email=_email(stripped))
    if by is SearchBy.NAME:
        return Query(name_words=_name_words(stripped))
    return _read_auto(stripped, lookup_key)


def _read_auto(text: str, lookup_key: str | None) -> Query:
    if "@" in text:
        return Query(email=_email(text))
    # Customer numbers are often digits alone (an imported "Kundnummer"): an id is looked up whatever else the text is.
    customer_id = text if is_opaque_customer_id(text) else None
    if _NUMBER_LIKE.fullmatch(text) and sum(c.isdigit() for c in text) >= 6:
        reasons = []
        identity_hash = phone = None
        try:
            identity_hash = _identity_hash(text, lookup_key)
        except SearchQueryError as error:
            reasons.append(str(error))
        try:
            phone = _phone(text)
        except SearchQueryError as error:
            reasons.append(str(error))
        if identity_hash is None and phone is None:
            if customer_id is None:
                raise SearchQueryError(f"is neither an identity number nor a phone number: {'; '.join(reasons)}")
            return Query(customer_id=customer_id, notes=tuple(reasons))
        return Query(identity_hash=identity_hash, phone=phone, customer_id=customer_id)
    try:
        words = _name_words(text)
    except SearchQueryError:
        if customer_id is None:
            raise
        return Query(customer_id=customer_id)  # C-00001: an id, not a name
    return Query(name_words=words, customer_id=customer_id)


def _identity_hash(text: str, lookup_key: str | None) -> str:
    try:
        number = parse_identity_number(re.sub(r"\s", "", text))
    except IdentityNumberError as error:
        # The parser's reasons name the part that is wrong and the rule, never a digit of the number.
        raise SearchQueryError(f"is not a valid identity number ({error})") from None
    return stored_number_hash(number.number, lookup_key)


def _phone(text: str) -> str:
    try:
        return normalise_phone(text)
    except ValueError as error:
        raise SearchQueryError(str(error)) from None


def _email(text: str) -> str:
    if not _EMAIL.fullmatch(text):
        raise SearchQueryError("is not an e-mail address (name@example.se)")
    return text.lower()


def _name_words(text: str) -> tuple[str, ...]:
    words = tuple(word for word in _WORD_SPLIT.split(fold(text)) if word)
    if sum(c.isalpha() for word in words for c in word) < 2:
        raise SearchQueryError("has fewer than two letters to search names by; give a name, or an identity number, phone number or e-mail address")
    return words


# --- Searching the register -----------------------------------------------------------

_SUMMARY = (
    CustomerRow.customer_id,
    CustomerRow.kind,
    CustomerRow.status,
    CustomerRow.protected,
    CustomerRow.given_names,
    CustomerRow.surname,
    CustomerRow.company_name,
    CustomerRow.city,
)


def find_customers(source: Engine | Connection, query: Query, *, limit: int = DEFAULT_LIMIT) -> SearchResult:
    """The customers `query` finds, at most `limit`: those found by id, identity number, phone or e-mail first, then by
    name (current names before former ones), each group in customer-id order. `source`: the register's engine or a
    connection to it."""
    if isinstance(source, Engine):
        with source.connect() as connection:
            return find_customers(connection, query, limit=limit)
    _prepare(source)
    dialect = source.dialect.name
    matched: dict[str, list[Matched]] = {}
    rows: dict[str, Any] = {}
    more = False

    def collect(statement: Any, why: Matched) -> None:  # a select of _SUMMARY (its generic form differs in SQLAlchemy 2.0 and 2.1)
        nonlocal more
        found = source.execute(statement.order_by(CustomerRow.customer_id).limit(limit + 1)).all()
        more = more or len(found) > limit
        for row in found[:limit]:
            rows.setdefault(row.customer_id, row)
            reasons = matched.setdefault(row.customer_id, [])
            if why not in reasons and not (why is Matched.FORMER_NAME and Matched.NAME in reasons):
                reasons.append(why)

    summary = select(*_SUMMARY)
    if query.customer_id:
        collect(summary.where(CustomerRow.customer_id == query.customer_id), Matched.CUSTOMER_ID)
    if query.identity_hash:
        by_hash = summary.join(IdentityLookupRow, IdentityLookupRow.customer_id == CustomerRow.customer_id)
        collect(by_hash.where(IdentityLookupRow.lookup_hash == query.identity_hash), Matched.IDENTITY_NUMBER)
    if query.phone:
        collect(summary.where(CustomerRow.phone == query.phone), Matched.PHONE)
    if query.email:
        collect(summary.where(func.lower(CustomerRow.email) == query.email), Matched.EMAIL)
    if query.name_words:
        current = _words_match(
            func.coalesce(CustomerRow.given_names, "") + " " + func.coalesce(CustomerRow.surname, "") + " " + func.coalesce(CustomerRow.company_name, ""),
            query.name_words,
            dialect,
        )
        collect(summary.where(current, CustomerRow.protected.is_not(True)), Matched.NAME)
        former_names = _words_match(NameHistoryRow.given_names + " " + NameHistoryRow.surname, query.name_words, dialect)
        former = (
            summary.where(CustomerRow.protected.is_not(True))
            .where(select(NameHistoryRow.customer_id).where(NameHistoryRow.customer_id == CustomerRow.customer_id, former_names).exists())
        )
        collect(former, Matched.FORMER_NAME)
    found = [_found(rows[c], tuple(reasons)) for c, reasons in matched.items()]
    if len(found) > limit:
        found, more = found[:limit], True
    return SearchResult(found, more)


def _words_match(name: ColumnElement[str], words: tuple[str, ...], dialect: str) -> ColumnElement[bool]:
    """Every word begins a word of `name`, folded (a space put before the name, so that its first word counts too)."""
    folded = _folded(literal(" ") + name, dialect)
    return and_(*(folded.like(f"% {_escape_like(word)}%", escape="\\") for word in words))


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _found(row: Any, matched_on: tuple[Matched, ...]) -> Found:
    if row.protected:  # the register keeps no name or address of theirs; say so again here
        name = city = None
    else:
        person = " ".join(part for part in (row.given_names, row.surname) if part)
        name, city = row.company_name or person or None, row.city
    return Found(row.customer_id, row.kind, row.status, bool(row.protected), name, city, matched_on)


def customer_summary(source: Engine | Connection, customer_id: str) -> Found | None:
    """One customer as a search shows them (kind, status, name and city unless protected), or None if the register has
    no such customer."""
    found = find_customers(source, Query(customer_id=customer_id), limit=1).customers
    return found[0] if found else None
