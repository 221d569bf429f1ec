"""A person's record from a SPAR notification file, as plain data: what the file adapter read, values already in the
register's terms (dates, a 12-digit identity number, PostalAddress, CivilStatus, a cause code).

`registervard.spar_files` builds these from the XML; `events.spar_changes` compares one with a customer's state.
Every part remembers where it was in the file (`Where`: line and element path), so that whatever is said about it
can name the place, never the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from events.catalog import CivilStatus, PersonName, PostalAddress, Protection
from events.spar_elements import AddressKind


@dataclass(frozen=True, kw_only=True)
class Where:
    """A place in a file: the line an element starts on, and its path (`/SPARExport/AviseringPost[3]/Namn`)."""

    line: int
    path: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.path}"


class Part(StrEnum):
    """The parts of a record that may be left out because an element of theirs could not be read."""

    NAMES = "NAMES"
    ADDRESSES = "ADDRESSES"
    CIVIL_STATUS = "CIVIL_STATUS"
    DEREGISTRATION = "DEREGISTRATION"
    DIRECT_MARKETING_BLOCK = "DIRECT_MARKETING_BLOCK"


@dataclass(frozen=True, kw_only=True)
class SparName:
    """One name entry: the name, the days it applies from and to (None: not given; a to-day of None is open)."""

    name: PersonName
    valid_from: date | None
    valid_to: date | None
    where: Where


@dataclass(frozen=True, kw_only=True)
class SparAddress:
    """One address entry of a kind, in the register's terms."""

    kind: AddressKind
    address: PostalAddress
    valid_from: date | None
    valid_to: date | None
    where: Where


@dataclass(frozen=True, kw_only=True)
class SparProtection:
    """One protection flag as delivered: JA (True) or NEJ (False), and the day it was set, when given."""

    protection: Protection
    flagged: bool
    since: date | None
    where: Where


@dataclass(frozen=True, kw_only=True)
class SparCivilStatus:
    """The civil status and the day it applies from, when given."""

    status: CivilStatus
    since: date | None
    where: Where


@dataclass(frozen=True, kw_only=True)
class SparDeregistration:
    """A deregistration: the two-character cause (one of events/deregistration_causes.toml), its day, a day of death."""

    cause: str
    on: date | None
    date_of_death: date | None
    where: Where
    new_identity_number: str | None = None
    """For an old number replaced: the person's new number (12 digits, a valid one), when the record names it."""


@dataclass(frozen=True, kw_only=True)
class SparRecord:
    """One person's record (AviseringPost). A protected identity's record has no names and no addresses: that is how
    SPAR delivers it. `left_out` names the parts an unreadable element was in: nothing is concluded from them."""

    where: Where
    identity_number: str
    """12 digits, a valid personnummer or samordningsnummer."""
    last_changed: date | None = None
    """SenasteAndringSPAR: the day SPAR last changed the record."""
    protections: tuple[SparProtection, ...] = ()
    """Every protection flag delivered, in the table's order of precedence."""
    names: tuple[SparName, ...] = ()
    addresses: tuple[SparAddress, ...] = ()
    civil_status: SparCivilStatus | None = None
    deregistration: SparDeregistration | None = None
    direct_marketing_block: bool | None = None
    """Direktreklamspärr: True JA, False NEJ, None not delivered."""
    left_out: frozenset[Part] = frozenset()

    @property
    def masked_reference(self) -> str:
        """The identity number with its last four digits hidden (`19811218-****`), to name a person in a report."""
        return f"{self.identity_number[:8]}-****"
