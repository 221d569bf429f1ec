"""SPAR's element names and codes, as data: the packaged `spar_elements.toml`, read once into `TABLE`.

The file adapter (`registervard.spar_files`) finds a notification file's elements by these names, and
`events.spar_changes` reads the codes through it; neither names an element or a code itself. A new SPAR schema
version that renames an element or adds a code is a change of the TOML file. Which entries are not yet confirmed
against a real file is data too (`SparTable.unconfirmed`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from events.catalog import AddressKind as RegisterAddressKind
from events.catalog import CivilStatus, Protection
from events.deregistration import CAUSES

TABLE_PATH = Path(__file__).with_name("spar_elements.toml")


class AddressKind(StrEnum):
    """The kinds of address a SPAR record holds; the register keeps each apart (`REGISTER_KINDS`)."""

    FOLKBOKFORINGSADRESS = "FOLKBOKFORINGSADRESS"
    """Where the person is registered as living (always Swedish)."""
    SARSKILD_POSTADRESS = "SARSKILD_POSTADRESS"
    """A special postal address the person asked for (Swedish or abroad)."""
    UTLANDSADRESS = "UTLANDSADRESS"
    """An emigrant's address abroad."""
    KONTAKTADRESS = "KONTAKTADRESS"
    """A coordination number's contact address."""


REGISTER_KINDS: Mapping[AddressKind, RegisterAddressKind] = MappingProxyType(
    {
        AddressKind.FOLKBOKFORINGSADRESS: RegisterAddressKind.POPULATION_REGISTER,
        AddressKind.KONTAKTADRESS: RegisterAddressKind.CONTACT,
        AddressKind.UTLANDSADRESS: RegisterAddressKind.ABROAD,
        AddressKind.SARSKILD_POSTADRESS: RegisterAddressKind.SPECIAL_POSTAL,
    }
)
"""Each SPAR kind of address as the register's AddressChanged names it, in the order a record's are published. The
register keeps every kind apart and derives its postal address from them (`events.customer.postal_address`)."""


@dataclass(frozen=True, kw_only=True)
class ProtectionFlag:
    """One protection flag of a record: its element, the element of its date, and the register's kind of protection."""

    flag: str
    date: str
    protection: Protection


@dataclass(frozen=True, kw_only=True)
class AddressElements:
    """The elements of a Swedish or an international address (`country` only for the international)."""

    care_of: str
    lines: tuple[str, ...]
    """Delivery address lines, in order."""
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None


@dataclass(frozen=True, kw_only=True)
class SparTable:
    """Every element name and code `spar_elements.toml` holds; see the comments there."""

    schema_version: str
    record: str
    identity_number: str
    identity_type: str
    last_changed: str
    name: str
    civil_status: str
    deregistration: str
    direct_marketing_block: str
    protections: tuple[ProtectionFlag, ...]
    """In order of precedence."""
    yes: frozenset[str]
    no: frozenset[str]
    valid_from: str
    valid_to: str
    given_names: str
    middle_name: str
    surname: str
    address_elements: Mapping[AddressKind, str]
    swedish: str
    international: str
    swedish_address: AddressElements
    international_address: AddressElements
    cause: str
    deregistration_date: str
    date_of_death: str
    new_identity_number: str
    """The new number an old one (a cause with `number_replaced`) was replaced by."""
    legacy_causes: Mapping[str, str]
    """A pre-2019 one-letter cause → the two-character cause it became."""
    civil_status_code: str
    civil_status_date: str
    civil_statuses: Mapping[str, CivilStatus]
    countries: Mapping[str, str]
    """A country written in words (upper case) → ISO 3166-1 alpha-2."""
    unconfirmed: tuple[str, ...]

    def flag(self, text: str) -> bool | None:
        """JA → True, NEJ → False (any case, spaces around ignored); None for anything else."""
        word = text.strip().upper()
        return True if word in self.yes else False if word in self.no else None

    def country(self, text: str) -> str | None:
        """The ISO code of a country as SPAR writes it (in words, or already a two-letter code); None if unknown."""
        word = " ".join(text.split()).upper()
        if len(word) == 2 and word.isascii() and word.isalpha():
            return word
        return self.countries.get(word)

    def cause_code(self, text: str) -> str | None:
        """The two-character deregistration cause of a code as written (a pre-2019 letter translated); None if unknown."""
        code = text.strip().upper()
        code = self.legacy_causes.get(code, code)
        return code if code in CAUSES else None


def _at(data: Mapping[str, Any], key: str, source: str) -> Any:
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ValueError(f"{source}: {key}: missing")
        value = value[part]
    return value


def _text(data: Mapping[str, Any], key: str, source: str) -> str:
    value = _at(data, key, source)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{source}: {key}: must be an element name (text)")
    return value


def _texts(data: Mapping[str, Any], key: str, source: str) -> tuple[str, ...]:
    value = _at(data, key, source)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{source}: {key}: must be a list of names")
    return tuple(value)


def _names(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, str]:
    value = _at(data, key, source)
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{source}: {key}: must be a table of names")
    return MappingProxyType({str(k).upper(): v for k, v in value.items()})


def _choice(enum: type[StrEnum], value: str, key: str, source: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"{source}: {key}: {value!r} is not one of {', '.join(enum)}") from None


def _names_an_entry(data: Mapping[str, Any], key: str) -> bool:
    """Whether a dotted key names an entry of the table (in an array of tables: of any of its tables)."""
    values: list[Any] = [data]
    for part in key.split("."):
        values = [v[part] for item in values for v in (item if isinstance(item, list) else [item]) if isinstance(v, Mapping) and part in v]
    return bool(values)


def parse_table(data: Mapping[str, Any], *, source: str = "spar_elements.toml") -> SparTable:
    """The table in the parsed TOML of an elements file; a ValueError names the key that is wrong."""
    protections = []
    for number, entry in enumerate(_at(data, "protection", source), start=1):
        where = f"protection[{number}]"
        protections.append(
            ProtectionFlag(
                flag=_text(entry, "flag", f"{source}: {where}"),
                date=_text(entry, "date", f"{source}: {where}"),
                protection=_choice(Protection, _text(entry, "protection", f"{source}: {where}"), f"{where}.protection", source),
            )
        )
    kinds = {_choice(AddressKind, k, f"addresses.kinds.{k}", source): v for k, v in _names(data, "addresses.kinds", source).items()}
    legacy = _names(data, "deregistration.legacy_codes", source)
    for letter, code in legacy.items():
        if code not in CAUSES:
            raise ValueError(f"{source}: deregistration.legacy_codes.{letter}: {code!r} is not a cause of deregistration_causes.toml")
    civil = {code: _choice(CivilStatus, value, f"civil_status.codes.{code}", source) for code, value in _names(data, "civil_status.codes", source).items()}
    unconfirmed = _texts(data, "unconfirmed", source)
    for key in unconfirmed:
        if not _names_an_entry(data, key):
            raise ValueError(f"{source}: unconfirmed: {key!r} names no entry of the table")
    return SparTable(
        schema_version=_text(data, "schema_version", source),
        record=_text(data, "file.record", source),
        identity_number=_text(data, "person.identity_number", source),
        identity_type=_text(data, "person.identity_type", source),
        last_changed=_text(data, "person.last_changed", source),
        name=_text(data, "person.name", source),
        civil_status=_text(data, "person.civil_status", source),
        deregistration=_text(data, "person.deregistration", source),
        direct_marketing_block=_text(data, "person.direct_marketing_block", source),
        protections=tuple(protections),
        yes=frozenset(v.upper() for v in _texts(data, "flags.yes", source)),
        no=frozenset(v.upper() for v in _texts(data, "flags.no", source)),
        valid_from=_text(data, "dates.valid_from", source),
        valid_to=_text(data, "dates.valid_to", source),
        given_names=_text(data, "name.given_names", source),
        middle_name=_text(data, "name.middle_name", source),
        surname=_text(data, "name.surname", source),
        address_elements=MappingProxyType(kinds),
        swedish=_text(data, "addresses.swedish", source),
        international=_text(data, "addresses.international", source),
        swedish_address=AddressElements(
            care_of=_text(data, "swedish_address.care_of", source),
            lines=_texts(data, "swedish_address.lines", source),
            postal_code=_text(data, "swedish_address.postal_code", source),
            city=_text(data, "swedish_address.city", source),
        ),
        international_address=AddressElements(
            care_of=_text(data, "international_address.care_of", source),
            lines=_texts(data, "international_address.lines", source),
            country=_text(data, "international_address.country", source),
        ),
        cause=_text(data, "deregistration.cause", source),
        deregistration_date=_text(data, "deregistration.date", source),
        date_of_death=_text(data, "deregistration.date_of_death", source),
        new_identity_number=_text(data, "deregistration.new_identity_number", source),
        legacy_causes=legacy,
        civil_status_code=_text(data, "civil_status.code", source),
        civil_status_date=_text(data, "civil_status.date", source),
        civil_statuses=MappingProxyType(civil),
        countries=_names(data, "countries", source),
        unconfirmed=unconfirmed,
    )


def load_table(path: Path = TABLE_PATH) -> SparTable:
    """The table in `path` (by default the packaged one)."""
    return parse_table(tomllib.loads(path.read_text(encoding="utf-8")), source=path.name)


TABLE: SparTable = load_table()
"""The element names and codes of the schema version the register reads (`TABLE.schema_version`)."""
