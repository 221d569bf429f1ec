"""Likely duplicate customers (dubblettkontroll): pairs of customer ids that are probably one person or company.

Read-side only: the register's `customers` table is read (`read_customers`) and nothing is written. The rest are
plain functions over plain rows (`Customer`), testable without a database:

- **Normalisation** (`normalise_name`, `normalise_street`, ...): case and accents folded as the customer search
  folds them (`projections.search.fold`: "Östberg" is "ostberg", so "Ostberg" written without accents matches;
  hyphens are spaces), punctuation dropped, spaces collapsed. Street abbreviations are written out ("Storg. 73" is
  "storgatan 73", "Kungsv." "kungsvagen", "gata" "gatan"), and the house number and its letter are read apart
  ("Storgatan 73 A" is street "storgatan", number 73, letter "a"; "lgh 1102", "2 tr" after it are ignored).
- **Blocking** (`blocking_keys`, `candidate_pairs`): only customers who share a key are compared, never all pairs.
  The keys: the identity number; the phone (E.164); the e-mail (case-folded); the postal code + house number +
  initial of the surname (or company name); the birth date (from a personnummer or samordningsnummer) + that
  initial, paired only with a samordningsnummer (two personnummer are two people, below). The initial is folded,
  with C and K, W and V, Z and S, Q and K as one letter (Carlsson and Karlsson). A key shared by more than
  `MAX_BLOCK` customers (a switchboard number, info@ of a company) is a shared value, not a person: it is skipped
  and counted, never compared pair by pair (the identity number is never skipped).
- **Scoring** (`score_pair`): the same identity number is 100, whatever else differs (a name changed at
  marriage is still the same person). Otherwise the names must be alike first (`name_similarity`, with
  rapidfuzz's Jaro-Winkler: surnames at least `SURNAME_MIN`, given names the same, one an initial of the other
  ("E." and "Emma"), or at least `GIVEN_NAME_MIN`), then evidence adds up to at most 99 (`POINTS`): the name
  (40 when the same after normalisation, less when only similar), the same address (35: same postal code, house
  number and street, the house letter the same or written on one side only: "Storgatan 73" and "Storgatan 73 A"),
  a similar address (15: the house letters differ, "73 A" and "73 B"), the same phone (30), the same e-mail (30),
  the same birth date (30). So "Emma Andersson, Storgatan 73" and "E. Andersson, Storgatan 73 A" score 71, and
  the default minimum (60) asks for an alike name and one more fact in common. An alike name alone is a namesake.
- **Not duplicates**, whatever else they share: two different personnummer (or organisationsnummer): the
  register has both numbers from the population register, and two numbers are two people (twins at one address,
  namesakes born the same day). A samordningsnummer against a personnummer is compared by birth date (a person
  gets a personnummer after a samordningsnummer). Different birth dates; a person and a company; names not
  alike (a family sharing an e-mail, a phone or an address).
- **Excluded**: erased customers (nothing of them is left to compare). A protected identity is compared by
  identity number only, and a pair with one is listed by ids and "same identity number" alone: no name or
  address of either side, since the other record of the same person would show what the protection hides.

Known limits: a parent and child with the same name at the same address and no identity number on either record
look like one person (nothing in the register tells them apart); a customer who moved and changed phone and
e-mail, recorded again without an identity number, shares no key and is not found.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from events.phone import normalise_phone
from projections.search import FOLD, fold
from projections.tables import CustomerRow

DEFAULT_MIN_SCORE = 60
"""Pairs scoring less are not listed: at 60 a pair needs an alike name and at least one more fact in common (an
address, a phone, an e-mail or a birth date), or the same identity number."""
DEFAULT_LIMIT = 100
MAX_BLOCK = 100
"""Customers sharing one blocking key, at most, to be compared pair by pair (see the module's doc)."""
SURNAME_MIN = 0.9
"""Jaro-Winkler similarity of two surnames to count as alike: Carlsson/Karlsson (0.92) and Svensson/Svenson are;
Nilsson/Olsson (0.85) and Berg/Borg are not."""
GIVEN_NAME_MIN = 0.87
"""Jaro-Winkler similarity of two given names to count as alike: Anna/Anne (0.88), Mikael/Michael (0.88) are;
Johan/Jonas (0.79) and Lars/Lasse are not."""
STREET_MIN = 90
"""rapidfuzz `fuzz.ratio` of two street names (spaces removed) to count as the same street: a typo ("Storgtan") is,
Kungsgatan/Storgatan (63) is not."""
INITIAL_SIMILARITY = 0.8
"""How alike an initial and a given name it could stand for are ("E." and "Emma")."""


class Reason(StrEnum):
    """Why a pair is listed: the facts the two customers have in common."""

    SAME_IDENTITY_NUMBER = "same_identity_number"
    SAME_NAME = "same_name"
    SIMILAR_NAME = "similar_name"
    SAME_ADDRESS = "same_address"
    SIMILAR_ADDRESS = "similar_address"
    SAME_PHONE = "same_phone"
    SAME_EMAIL = "same_email"
    SAME_BIRTH_DATE = "same_birth_date"

    @property
    def text(self) -> str:
        """The reason as words ("same identity number")."""
        return self.value.replace("_", " ").replace("email", "e-mail")


POINTS: dict[Reason, int] = {
    Reason.SAME_NAME: 40,
    Reason.SAME_ADDRESS: 35,
    Reason.SIMILAR_ADDRESS: 15,
    Reason.SAME_PHONE: 30,
    Reason.SAME_EMAIL: 30,
    Reason.SAME_BIRTH_DATE: 30,
}
"""What each fact adds to a pair's score (a similar name: SAME_NAME's points times its similarity)."""
CERTAIN, MOST_LIKELY = 100, 99


class Block(StrEnum):
    """The keys customers are grouped by before they are compared."""

    IDENTITY_NUMBER = "identity_number"
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "postal_code_house_number_initial"
    BIRTH_DATE = "birth_date_initial"


class Customer(NamedTuple):
    """One register row, the columns the search reads (`read_customers` selects them in this order)."""

    customer_id: str
    kind: str | None = "PERSON"
    status: str = "ACTIVE"
    protected: bool = False
    identity_number: str | None = None
    given_names: str | None = None
    surname: str | None = None
    company_name: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    phone: str | None = None
    email: str | None = None


COLUMNS = tuple(getattr(CustomerRow, name) for name in Customer._fields)


# --- Normalisation ----------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_ABBREVIATED_STREET = (
    (".", re.compile(r"(\w)(?:g|gat)\.(?=\s|\d|$)"), r"\1gatan"),  # Storg. 73, Storgat. 73
    (".", re.compile(r"(\w)(?:v|vag)\.(?=\s|\d|$)"), r"\1vagen"),  # Kungsv. 5 (väg folded)
    ("gata", re.compile(r"(\w)gata\b"), r"\1gatan"),  # Storgata 73
    ("vag", re.compile(r"(\w)vag\b"), r"\1vagen"),  # Kungsväg 5
)
"""(a text the street must hold for the pattern to be tried, the pattern, its replacement): most streets hold none."""
_HOUSE = re.compile(r"^(.*?)(\d+)\s*([a-z](?![a-z]))?")
"""Street name, then the house number and a letter standing alone after it (not the "l" of "lgh")."""
_HOUSE_NUMBER = re.compile(r"\d+")
_LEGAL_FORMS = frozenset({"ab", "aktiebolag", "publ", "hb", "handelsbolag", "kb", "kommanditbolag", "ek", "for", "ekonomisk", "forening"})
"""Words of a company name that say its legal form, not which company it is ("Acme AB", "Acme Aktiebolag (publ)")."""


def normalise_name(text: str | None) -> tuple[str, ...]:
    """A name's words, folded (lower case, no accents, hyphens as spaces) without punctuation:
    "Anna-Karin  Östberg" -> ("anna", "karin", "ostberg"); "E." -> ("e",)."""
    return tuple(_WORD.findall(fold(text))) if text else ()


def normalise_text(text: str | None) -> str:
    """`normalise_name`'s words joined by single spaces; "" for None."""
    return " ".join(normalise_name(text))


def normalise_company(text: str | None) -> str:
    """A company name without its legal form: "ACME Aktiebolag (publ)" -> "acme"."""
    return " ".join(word for word in normalise_name(text) if word not in _LEGAL_FORMS)


class Street(NamedTuple):
    """A street address read apart: "Storgatan 73 A, lgh 1102" -> Street("storgatan", "73", "a")."""

    name: str
    number: str | None
    letter: str | None


def normalise_street(text: str | None) -> Street:
    """The street name (abbreviations written out, spaces removed: "Stora gatan" is "storagatan"), house number and letter."""
    folded = fold(text or "")
    for needed, pattern, replacement in _ABBREVIATED_STREET:
        if needed in folded:
            folded = pattern.sub(replacement, folded)
    folded = " ".join(_WORD.findall(folded))
    house = _HOUSE.match(folded)
    if house is None:
        return Street(folded.replace(" ", ""), None, None)
    return Street(house.group(1).replace(" ", ""), house.group(2).lstrip("0") or "0", house.group(3))


def normalise_postal_code(text: str | None) -> str:
    """Spaces and punctuation out, upper case: "111 22" -> "11122"; "" for None."""
    if not text:
        return ""
    return text if text.isdigit() else "".join(_WORD.findall(text)).upper()


def normalise_phone_key(text: str | None) -> str | None:
    """E.164 (`events.phone`); the register stores it so, but a number it cannot read is kept as its digits."""
    if not text:
        return None
    if text[0] == "+" and text[1:].isdigit():
        return text  # as the register stores it: checked by `events.validation`
    try:
        return normalise_phone(text)
    except ValueError:
        return "".join(c for c in text if c.isdigit()) or None


def normalise_email(text: str | None) -> str | None:
    """Case-folded, spaces around removed: "Anna@Example.SE " -> "anna@example.se"."""
    return text.strip().casefold() or None if text else None


def birth_date(identity_number: str | None) -> str | None:
    """YYYYMMDD of a personnummer or samordningsnummer (day - 60) in its 12-digit form; None for an organisation or none."""
    if not identity_number or len(identity_number) != 12 or not "01" <= identity_number[4:6] <= "12":
        return None  # 16 + an organisationsnummer: its "month" is 20 or more
    if identity_number[6] in "6789":
        return f"{identity_number[:6]}{int(identity_number[6:8]) - 60:02d}"
    return identity_number[:8]


def is_samordningsnummer(identity_number: str | None) -> bool:
    """Whether a 12-digit number is a samordningsnummer (day of birth + 60)."""
    if not identity_number or len(identity_number) != 12:
        return False
    return identity_number[6] in "6789" and "01" <= identity_number[4:6] <= "12"


# --- Blocking ---------------------------------------------------------------------------


_INITIALS = {**FOLD, ord("c"): "k", ord("C"): "k", ord("q"): "k", ord("Q"): "k", ord("w"): "v", ord("W"): "v", ord("z"): "s", ord("Z"): "s"}
"""An initial as blocking reads it: folded, and the letters Swedish names are spelt either way with as one (Carlsson
and Karlsson, Wallin and Vallin, Zetterberg and Setterberg)."""


def _keys(customer: Customer) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """The customer's blocking keys, in the order of `Block` (None: no such key)."""
    if customer.status == "ERASED":
        return (None, None, None, None, None)
    number = customer.identity_number or None
    if customer.protected:
        return (number, None, None, None, None)
    name = customer.surname or customer.company_name
    initial = name.lstrip()[:1].translate(_INITIALS) if name else ""
    address = born = None
    if initial:
        street, postal_code = customer.street, customer.postal_code
        if street and postal_code:
            house = _HOUSE_NUMBER.search(street)
            if house:
                address = f"{normalise_postal_code(postal_code)} {house.group().lstrip('0')} {initial}"
        if number and customer.kind != "COMPANY":
            born = birth_date(number)
            if born:
                born = f"{born} {initial}"
    return (number, normalise_phone_key(customer.phone), normalise_email(customer.email), address, born)


BLOCKS = tuple(Block)


def blocking_keys(customer: Customer) -> dict[Block, str]:
    """The keys a customer is grouped by (see the module's doc); a protected identity by identity number only, an
    erased customer by none."""
    return {block: key for block, key in zip(BLOCKS, _keys(customer), strict=True) if key}


@dataclass
class Candidates:
    """The pairs to compare (indexes into the customers, the lower first) and the keys skipped as shared values."""

    pairs: set[tuple[int, int]] = field(default_factory=set)
    skipped: dict[Block, int] = field(default_factory=dict)
    """Block -> how many keys were shared by more than MAX_BLOCK customers, and so not compared."""


def candidate_pairs(customers: Sequence[Customer], *, max_block: int = MAX_BLOCK) -> Candidates:
    """Every pair of customers that share a blocking key, each pair once."""
    # Per block: key -> the first customer's index, and key -> all of them once a second one shares it; a list only for
    # shared keys keeps a million mostly unique keys cheap.
    first: tuple[dict[str, int], ...] = tuple({} for _ in BLOCKS)
    shared: tuple[dict[str, list[int]], ...] = tuple({} for _ in BLOCKS)
    for index, customer in enumerate(customers):
        for position, key in enumerate(_keys(customer)):
            if key is None:
                continue
            earlier = first[position].setdefault(key, index)
            if earlier != index:
                members = shared[position].get(key)
                if members is None:
                    shared[position][key] = [earlier, index]
                else:
                    members.append(index)
    found = Candidates()
    for block, groups in zip(BLOCKS, shared, strict=True):
        for members in groups.values():
            if len(members) > max_block and block is not Block.IDENTITY_NUMBER:
                found.skipped[block] = found.skipped.get(block, 0) + 1
                continue
            if block is Block.BIRTH_DATE:
                # Two personnummer are two people (`two_numbers`): a birth date brings a pair only with a samordningsnummer.
                coordination = [i for i in members if is_samordningsnummer(customers[i].identity_number)]
                found.pairs.update((min(i, j), max(i, j)) for i in coordination for j in members if i != j)
                continue
            for position, i in enumerate(members):
                for j in members[position + 1 :]:
                    found.pairs.add((i, j))
    return found


# --- Scoring ----------------------------------------------------------------------------


class Normalised(NamedTuple):
    """What the comparison reads of one customer, normalised once."""

    given: tuple[str, ...]
    surname: tuple[str, ...]
    company: str
    street: Street
    postal_code: str
    city: str
    phone: str | None
    email: str | None
    born: str | None


def normalised(customer: Customer) -> Normalised:
    """The customer's comparable facts."""
    return Normalised(
        given=normalise_name(customer.given_names),
        surname=normalise_name(customer.surname),
        company=normalise_company(customer.company_name),
        street=normalise_street(customer.street),
        postal_code=normalise_postal_code(customer.postal_code),
        city=normalise_text(customer.city),
        phone=normalise_phone_key(customer.phone),
        email=normalise_email(customer.email),
        born=birth_date(customer.identity_number) if customer.kind != "COMPANY" else None,
    )


def given_name_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """1.0 for the same given names; 0.95 when one's names are among the other's ("Anna" and "Anna Maria") or the
    first names are the same; INITIAL_SIMILARITY for an initial of the other's first name ("E." and "Emma"); else
    the Jaro-Winkler similarity of the first names when at least GIVEN_NAME_MIN; 0.0 when not alike, or either has none."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if a[0] == b[0] or set(a) <= set(b) or set(b) <= set(a):
        return 0.95
    if len(a[0]) == 1 or len(b[0]) == 1:
        return INITIAL_SIMILARITY if a[0][0] == b[0][0] else 0.0
    similarity = JaroWinkler.normalized_similarity(a[0], b[0])
    return similarity if similarity >= GIVEN_NAME_MIN else 0.0


def surname_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """1.0 for the same surname; 0.95 when one is part of the other's double surname ("Andersson" and "Andersson
    Berg"); else the Jaro-Winkler similarity when at least SURNAME_MIN; 0.0 when not alike, or either has none."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if set(a) <= set(b) or set(b) <= set(a):
        return 0.95
    similarity = JaroWinkler.normalized_similarity(" ".join(a), " ".join(b))
    return similarity if similarity >= SURNAME_MIN else 0.0


def name_similarity(a: Normalised, b: Normalised, kind: str | None) -> float:
    """How alike two names are, 0 to 1 (1.0: the same after normalisation); 0.0 when they are not alike enough to
    be one person's (both the surnames and the given names must be) or one company's."""
    if kind == "COMPANY":
        if not a.company or not b.company:
            return 0.0
        similarity = 1.0 if a.company == b.company else fuzz.token_sort_ratio(a.company, b.company) / 100
        return similarity if similarity >= SURNAME_MIN else 0.0
    surname = surname_similarity(a.surname, b.surname)
    given = given_name_similarity(a.given, b.given)
    return (surname + given) / 2 if surname and given else 0.0


def address_reason(a: Normalised, b: Normalised) -> Reason | None:
    """SAME_ADDRESS, SIMILAR_ADDRESS (same street and number, different house letters) or None."""
    street_a, street_b = a.street, b.street
    if not street_a.name or not street_b.name or street_a.number != street_b.number:
        return None
    if a.postal_code and b.postal_code:
        if a.postal_code != b.postal_code:
            return None
    elif not a.city or a.city != b.city:
        return None
    if street_a.name != street_b.name and fuzz.ratio(street_a.name, street_b.name) < STREET_MIN:
        return None
    if street_a.letter and street_b.letter and street_a.letter != street_b.letter:
        return Reason.SIMILAR_ADDRESS
    return Reason.SAME_ADDRESS


@dataclass(frozen=True)
class Score:
    """A pair's score (0 to 100) and the facts behind it, in the order of `Reason`."""

    score: int
    reasons: tuple[Reason, ...]


def two_numbers(a: Customer, b: Customer) -> bool:
    """Whether `a` and `b` have two different identity numbers that make them two people (or companies): two
    personnummer or organisationsnummer, not a samordningsnummer, which a person may have had before a personnummer."""
    first, second = a.identity_number, b.identity_number
    return bool(first and second and first != second and not is_samordningsnummer(first) and not is_samordningsnummer(second))


def score_pair(a: Customer, b: Customer, na: Normalised | None = None, nb: Normalised | None = None) -> Score | None:
    """How likely `a` and `b` are one customer, and why; None when they are not a likely pair at all (see the
    module's doc). `na` and `nb`: their `normalised` facts, when the caller has them already."""
    if a.status == "ERASED" or b.status == "ERASED":
        return None
    same_number = bool(a.identity_number) and a.identity_number == b.identity_number
    if a.protected or b.protected:  # compared by identity number only, and nothing else said of them
        return Score(CERTAIN, (Reason.SAME_IDENTITY_NUMBER,)) if same_number else None
    if not same_number and (two_numbers(a, b) or (a.kind or "PERSON") != (b.kind or "PERSON")):
        return None  # checked before normalising: most pairs a shared address or birth date brings end here
    na = na or normalised(a)
    nb = nb or normalised(b)
    if not same_number and na.born and nb.born and na.born != nb.born:
        return None
    reasons: list[Reason] = []
    similarity = name_similarity(na, nb, a.kind)
    if similarity == 1.0:
        reasons.append(Reason.SAME_NAME)
    elif similarity > 0:
        reasons.append(Reason.SIMILAR_NAME)
    elif not same_number:
        return None  # a family sharing an address, a phone or an e-mail
    evidence = (
        address_reason(na, nb),
        Reason.SAME_PHONE if na.phone and na.phone == nb.phone else None,
        Reason.SAME_EMAIL if na.email and na.email == nb.email else None,
        Reason.SAME_BIRTH_DATE if na.born and na.born == nb.born and not same_number else None,  # the same number says it already
    )
    found = [reason for reason in evidence if reason is not None]
    if same_number:
        return Score(CERTAIN, (Reason.SAME_IDENTITY_NUMBER, *reasons, *found))
    if not found:
        return None  # an alike name alone is a namesake
    points = POINTS[Reason.SAME_NAME] * similarity + sum(POINTS[reason] for reason in found)
    return Score(min(MOST_LIKELY, round(points)), (*reasons, *found))


# --- Finding the pairs -----------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One customer of a pair as listed: name and address None for a pair with a protected identity."""

    customer_id: str
    kind: str | None
    status: str
    name: str | None
    address: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"customer_id": self.customer_id, "kind": self.kind, "status": self.status, "name": self.name, "address": self.address}


@dataclass(frozen=True)
class Pair:
    """A likely duplicate: two customers (the lower id first), the score and the reasons."""

    first: Side
    second: Side
    score: int
    reasons: tuple[Reason, ...]
    protected: bool
    """One of them is a protected identity: listed by ids and identity number alone."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "score": self.score,
            "reasons": [reason.value for reason in self.reasons],
            "protected": self.protected,
            "customers": [self.first.as_dict(), self.second.as_dict()],
        }


@dataclass(frozen=True)
class DuplicateReport:
    """The pairs found at or above the minimum score, best first, at most the limit asked for."""

    pairs: list[Pair]
    more: bool
    """More pairs scored at least the minimum than the limit let through."""
    customers: int
    """Customers read (erased ones not counted)."""
    compared: int
    """Candidate pairs compared."""
    skipped: dict[Block, int]
    """Blocking keys shared by too many customers to compare (see MAX_BLOCK)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "pairs": [pair.as_dict() for pair in self.pairs],
            "more": self.more,
            "customers": self.customers,
            "compared": self.compared,
            "skipped_shared_keys": {block.value: count for block, count in self.skipped.items()},
        }

    @property
    def customer_ids(self) -> list[str]:
        """Every customer the listed pairs name, once each, in the order listed."""
        return list(dict.fromkeys(c for pair in self.pairs for c in (pair.first.customer_id, pair.second.customer_id)))


def _side(customer: Customer, hidden: bool) -> Side:
    if hidden:
        return Side(customer.customer_id, customer.kind, customer.status, None, None)
    person = " ".join(part for part in (customer.given_names, customer.surname) if part)
    place = " ".join(part for part in (customer.postal_code, customer.city) if part)
    address = ", ".join(part for part in (customer.street, place) if part)
    return Side(customer.customer_id, customer.kind, customer.status, customer.company_name or person or None, address or None)


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused: building millions of tuples, lists and dict entries (none of them in a cycle)
    would otherwise set it off again and again, a third of the search's time at 1M customers. Memory held by plain
    reference counts is still freed at once; the collector's earlier state is restored after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def find_duplicates(
    customers: Iterable[Customer], *, min_score: int = DEFAULT_MIN_SCORE, limit: int = DEFAULT_LIMIT, max_block: int = MAX_BLOCK
) -> DuplicateReport:
    """The likely duplicate pairs among `customers` scoring at least `min_score`, best first (then by ids), at most `limit`."""
    with _without_cycle_collection():
        return _find(customers, min_score, limit, max_block)


def _find(customers: Iterable[Customer], min_score: int, limit: int, max_block: int) -> DuplicateReport:
    rows = [customer for customer in customers if customer.status != "ERASED"]
    candidates = candidate_pairs(rows, max_block=max_block)
    cache: dict[int, Normalised] = {}

    def facts(index: int) -> Normalised:
        known = cache.get(index)
        if known is None:
            known = cache[index] = normalised(rows[index])
        return known

    scored: list[tuple[int, str, str, int, int, Score]] = []
    for i, j in candidates.pairs:
        a, b = rows[i], rows[j]
        score = score_pair(a, b) if a.protected or b.protected else score_pair(a, b, facts(i), facts(j))
        if score is not None and score.score >= min_score:
            if b.customer_id < a.customer_id:
                i, j, a, b = j, i, b, a
            scored.append((-score.score, a.customer_id, b.customer_id, i, j, score))
    scored.sort(key=lambda entry: entry[:3])
    pairs = []
    for _, _, _, i, j, score in scored[:limit]:
        a, b = rows[i], rows[j]
        hidden = bool(a.protected or b.protected)
        pairs.append(Pair(_side(a, hidden), _side(b, hidden), score.score, score.reasons, hidden))
    return DuplicateReport(pairs, len(scored) > limit, len(rows), len(candidates.pairs), candidates.skipped)


def read_customers(source: Engine | Connection) -> Iterator[Customer]:
    """Every customer of the register's `customers` table but the erased, as `Customer` rows (streamed)."""
    if isinstance(source, Engine):
        with source.connect() as connection:
            yield from read_customers(connection)
        return
    statement = select(*COLUMNS).where(CustomerRow.status != "ERASED")
    make = Customer._make
    for row in source.execution_options(yield_per=10_000).execute(statement):
        yield make(row)


def register_duplicates(
    source: Engine | Connection, *, min_score: int = DEFAULT_MIN_SCORE, limit: int = DEFAULT_LIMIT, max_block: int = MAX_BLOCK
) -> DuplicateReport:
    """`find_duplicates` over the register at `source` (its engine or a connection to it)."""
    return find_duplicates(read_customers(source), min_score=min_score, limit=limit, max_block=max_block)
