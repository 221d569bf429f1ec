"""A customer's state as bytes and back, for the worker's state table.

The bytes are one version byte followed by the state as compact JSON. The
version says which shape of `CustomerState` wrote them: a change to
`CustomerState` that old bytes cannot be read into raises the version, and a
worker meeting a version it does not know refuses to guess (`UnknownStateVersion`):
the stored state is then rebuilt from the log (`registervard worker-state rebuild`).

* Version 4 (written today): version 3's array with three fields at its end (`FIELDS_ADDED_IN_4`): the two of a
  merge, `merged_into` and `merged_from` (CustomersMerged), and `registered_addresses` (AddressChanged.address_kind),
  both added with schema release 4; each registered address is an array of its date, event id, kind, ended flag and
  the address's fields. And in the place of version 3's `protected` flag, `protections`: the kinds of protected
  identity in force, a sorted list of `Protection` values (empty: not protected).
* Reading an older version (3, 2 or 1), whose `protected` is a yes/no: a protected customer's kind is not known, and
  is read as OTHER (as the schema's default reads a protection that does not say which). The safe side: SPAR lifts
  only a protection of the population register's kinds, so it lifts none of these until the stored state is rebuilt
  from the event log, which restores the kinds.
* Version 3: a JSON array holding the fields of `CustomerState`
  by position, in the order of `FIELDS`; each record in it (a dated name or
  address, the value within, contact details, a consent, a NIX status, a past
  contact role) is an array too, in the order its class declares its fields.
  Dates and times are ISO 8601 strings, enums their values, sets sorted lists.
  The worker reads and writes a state for every message it admits, and the
  generic field-by-field conversion cost more than the rest of the message's
  work: this one is written for `CustomerState` alone, so a change to
  `CustomerState` (or to a record it holds) changes this module and raises
  `VERSION`. Still read, with version 4's fields at their defaults: no event a
  version 3 worker folded could have set them (CustomersMerged came with version 4).
* Version 2: the same array without the four fields version 3 added at its end
  (`FIELDS_ADDED_IN_3`: immigration, deregistration, past contact roles). Still
  read, with those fields (and version 4's) at their defaults: no event a version 2
  worker folded could have set them (their events came with version 3).
* Version 1: a JSON object, the plain form the register projection stores
  (`convert.to_plain(for_json=True)`). Still read, so that the tables of a
  worker that wrote it need no rebuild; a state read from version 1, 2 or 3 is
  written back as version 4 when it next changes.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, TypeVar

from events.catalog import AddressKind, Channel, CivilStatus, ConsentPurpose, ContactDetails, CustomerKind, PersonName, PostalAddress, Protection
from events.convert import from_plain
from events.customer import Consent, CustomerState, DatedAddress, DatedName, NixStatus, PastContactRole, RegisteredAddress, Status
from events.refusal import Refusal

VERSION = 4
"""The version this code writes."""

READABLE = frozenset({1, 2, 3, 4})
"""The versions this code reads."""

FIELDS = (
    "customer_id",
    "kind",
    "status",
    "identity_number",
    "company_name",
    "names",
    "addresses",
    "contact",
    "civil_status",
    "protections",
    "deceased_on",
    "emigrated_on",
    "consents",
    "nix",
    "customer_of",
    "contact_person_for",
    "event_ids",
    "opted_out",
    "events_applied",
    "last_occurred_at",
    "immigrated_on",
    "deregistered_on",
    "deregistration_cause",
    "past_contact_roles",
    "merged_into",
    "merged_from",
    "registered_addresses",
)
"""The fields of `CustomerState` in the order version 4 writes them (a unit test holds it to the class)."""

FIELDS_ADDED_IN_4 = FIELDS[-3:]
"""The fields a version 3 array lacks (it holds the ones before them)."""

FIELDS_ADDED_IN_3 = FIELDS[-7:-3]
"""The fields version 3 added: a version 2 array lacks them and version 4's (it holds the ones before them)."""


class UnknownStateVersion(ValueError):
    """Stored state written by a version of `CustomerState` this worker cannot read."""

    def __init__(self, version: int | None) -> None:
        found = "no version byte" if version is None else f"version {version}"
        super().__init__(
            f"the stored customer state has {found}; this worker reads version {VERSION} (and the older versions 1, 2 and 3): "
            "stop every worker and run `registervard worker-state rebuild` to rebuild the stored state from the event log "
            "(or run the worker version that wrote it)"
        )
        self.version = version


class DamagedState(ValueError):
    """Stored state of a known version whose bytes do not hold a state of that version's shape."""

    def __init__(self, version: int, problem: str) -> None:
        super().__init__(
            f"the stored customer state (version {version}) is damaged: {problem}; stop every worker and run "
            "`registervard worker-state rebuild` to rebuild the stored state from the event log"
        )
        self.version = version


def encode_state(state: CustomerState) -> bytes:
    """The state's bytes: the version, then compact JSON."""
    text = json.dumps(_to_array(state), separators=(",", ":"), ensure_ascii=False)
    return bytes([VERSION]) + text.encode("utf-8")


def decode_state(data: bytes) -> CustomerState:
    """The state `encode_state` wrote, today or as version 1; UnknownStateVersion for bytes of another version (or none),
    DamagedState (a ValueError, as UnknownStateVersion is) for bytes that are not what their version says."""
    if not data:
        raise UnknownStateVersion(None)
    version = data[0]
    if version not in READABLE:
        raise UnknownStateVersion(version)
    if version == 1:
        return from_plain(CustomerState, _plain_with_kinds(json.loads(data[1:].decode("utf-8"))))
    try:
        return _from_array(json.loads(data[1:].decode("utf-8")), version)
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise DamagedState(version, type(error).__name__) from None


def to_stored(state: CustomerState) -> dict[str, Any]:
    """The state as the register projection stores it in a JSON column: this module's array, with its version.

    The register wrote the generic plain form (`convert.to_plain`) before; deriving it cost more than the rest of a
    customer's rows together, so rows written since hold this form, and `from_stored` reads both."""
    return {"state_codec": VERSION, "fields": _to_array(state)}


def from_stored(value: dict[str, Any]) -> CustomerState:
    """The state the register stored: `to_stored`'s form, or the plain form it stored before (version 1's JSON)."""
    version = value.get("state_codec")
    if version is None:
        return from_plain(CustomerState, _plain_with_kinds(value))
    if version not in READABLE:
        raise UnknownStateVersion(version)
    try:
        return _from_array(value["fields"], version)
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise DamagedState(version, type(error).__name__) from None


def _plain_with_kinds(value: Any) -> Any:
    """Version 1's plain form (a yes/no `protected`) with `protections` in its place: OTHER for a protected customer,
    whose kind it does not say (see the module's doc)."""
    if not isinstance(value, dict) or "protected" not in value:
        return value  # not version 1's shape: from_plain says what is wrong
    protected = value["protected"]
    if type(protected) is not bool:
        raise Refusal("protected", "must be true or false")
    plain = {name: item for name, item in value.items() if name != "protected"}
    plain["protections"] = [Protection.OTHER.value] if protected else []
    return plain


# --- Versions 4, 3 and 2 ---------------------------------------------------------------------
# Written out field by field: this runs for every message a table-mode worker admits.


def _to_array(s: CustomerState) -> list[Any]:
    return [
        s.customer_id,
        s.kind,  # a StrEnum: JSON writes its value
        s.status,
        s.identity_number,
        s.company_name,
        [[n.effective_date.isoformat(), n.event_id, n.value.given_names, n.value.surname] for n in s.names],
        [[a.effective_date.isoformat(), a.event_id, *_address(a.value)] for a in s.addresses],
        None if s.contact is None else [s.contact.phone, s.contact.email],
        s.civil_status,
        sorted(s.protections),
        _day(s.deceased_on),
        _day(s.emigrated_on),
        [
            [c.purpose, c.channel, c.company, c.given_at.isoformat(), c.event_id, c.overrides_nix, _day(c.valid_until), _day(c.lapses_on)]
            for c in s.consents
        ],
        [[n.phone, n.registered, n.as_of.isoformat()] for n in s.nix],
        sorted(s.customer_of),
        s.contact_person_for,
        sorted(s.event_ids),  # sorted, as every set here: the same state always makes the same bytes
        sorted(s.opted_out),
        s.events_applied,
        None if s.last_occurred_at is None else s.last_occurred_at.isoformat(),
        _day(s.immigrated_on),
        _day(s.deregistered_on),
        s.deregistration_cause,
        [[r.company_id, r.left_on.isoformat(), r.event_id] for r in s.past_contact_roles],
        s.merged_into,
        list(s.merged_from),
        [[a.effective_date.isoformat(), a.event_id, a.kind, a.ended, *_address(a.value)] for a in s.registered_addresses],
    ]


def _address(a: PostalAddress) -> tuple[str, str, str, str | None, str]:
    return a.street, a.postal_code, a.city, a.care_of, a.country


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


_DEFAULTS_ADDED_IN_3: list[Any] = [None, None, None, []]
"""What a version 2 array lacks of version 3's fields, as the array writes their defaults (a unit test holds them to the class's defaults)."""

_DEFAULTS_ADDED_IN_4: list[Any] = [None, [], []]
"""What a version 2 or 3 array lacks of version 4's fields, likewise."""

_MISSING = {2: _DEFAULTS_ADDED_IN_3 + _DEFAULTS_ADDED_IN_4, 3: _DEFAULTS_ADDED_IN_4, 4: []}
"""What an array of each version lacks at its end, as defaults."""


def _from_array(fields: list[Any], version: int = VERSION) -> CustomerState:
    missing = _MISSING[version]
    if not isinstance(fields, list) or len(fields) != len(FIELDS) - len(missing):
        raise ValueError("not an array of the state's fields")
    if missing:
        fields = [*fields, *missing]
    (
        customer_id,
        kind,
        status,
        identity_number,
        company_name,
        names,
        addresses,
        contact,
        civil_status,
        protections,
        deceased_on,
        emigrated_on,
        consents,
        nix,
        customer_of,
        contact_person_for,
        event_ids,
        opted_out,
        events_applied,
        last_occurred_at,
        immigrated_on,
        deregistered_on,
        deregistration_cause,
        past_contact_roles,
        merged_into,
        merged_from,
        registered_addresses,
    ) = fields
    return _made(
        CustomerState,
        customer_id=_text(customer_id),
        kind=None if kind is None else _KINDS[kind],
        status=_STATUSES[status],
        identity_number=_optional_text(identity_number),
        company_name=_optional_text(company_name),
        names=tuple(_name(*entry) for entry in names),
        addresses=tuple(_dated_address(*entry) for entry in addresses),
        contact=None if contact is None else _contact(*contact),
        civil_status=None if civil_status is None else _CIVIL_STATUSES[civil_status],
        protections=_protections(protections, version),
        deceased_on=_optional_day(deceased_on),
        emigrated_on=_optional_day(emigrated_on),
        consents=tuple(_consent(*entry) for entry in consents),
        nix=tuple(_made(NixStatus, phone=_text(phone), registered=_flag(registered), as_of=date.fromisoformat(as_of)) for phone, registered, as_of in nix),
        customer_of=frozenset(map(_text, customer_of)),
        contact_person_for=_optional_text(contact_person_for),
        event_ids=frozenset(map(_text, event_ids)),
        opted_out=frozenset(_CHANNELS[channel] for channel in opted_out),
        events_applied=_count(events_applied),
        last_occurred_at=None if last_occurred_at is None else datetime.fromisoformat(last_occurred_at),
        immigrated_on=_optional_day(immigrated_on),
        deregistered_on=_optional_day(deregistered_on),
        deregistration_cause=_optional_text(deregistration_cause),
        past_contact_roles=tuple(
            _made(PastContactRole, company_id=_text(company_id), left_on=date.fromisoformat(left_on), event_id=_text(event_id))
            for company_id, left_on, event_id in past_contact_roles
        ),
        merged_into=_optional_text(merged_into),
        merged_from=tuple(map(_text, merged_from)),
        registered_addresses=tuple(_registered_address(*entry) for entry in registered_addresses),
    )


def _protections(value: Any, version: int) -> frozenset[Protection]:
    """Version 4's list of kinds; an older version's yes/no, a yes read as OTHER (its kind unknown: see the module's doc)."""
    if version < 4:
        return frozenset({Protection.OTHER}) if _flag(value) else frozenset()
    if type(value) is not list:
        raise TypeError
    return frozenset(_PROTECTIONS[kind] for kind in value)


def _name(effective_date: str, event_id: str, given_names: str, surname: str) -> DatedName:
    return _made(
        DatedName,
        effective_date=date.fromisoformat(effective_date),
        event_id=_text(event_id),
        value=_made(PersonName, given_names=_text(given_names), surname=_text(surname)),
    )


def _dated_address(effective_date: str, event_id: str, street: str, postal_code: str, city: str, care_of: str | None, country: str) -> DatedAddress:
    value = _made(
        PostalAddress, street=_text(street), postal_code=_text(postal_code), city=_text(city), care_of=_optional_text(care_of), country=_text(country)
    )
    return _made(DatedAddress, effective_date=date.fromisoformat(effective_date), event_id=_text(event_id), value=value)


def _registered_address(
    effective_date: str, event_id: str, kind: str, ended: bool, street: str, postal_code: str, city: str, care_of: str | None, country: str
) -> RegisteredAddress:
    dated = _dated_address(effective_date, event_id, street, postal_code, city, care_of, country)
    return _made(
        RegisteredAddress,
        effective_date=dated.effective_date,
        event_id=dated.event_id,
        value=dated.value,
        kind=_ADDRESS_KINDS[kind],
        ended=_flag(ended),
    )


def _contact(phone: str | None, email: str | None) -> ContactDetails:
    return _made(ContactDetails, phone=_optional_text(phone), email=_optional_text(email))


def _consent(
    purpose: str, channel: str, company: str, given_at: str, event_id: str, overrides_nix: bool, valid_until: str | None, lapses_on: str | None
) -> Consent:
    return _made(
        Consent,
        purpose=_PURPOSES[purpose],
        channel=_CHANNELS[channel],
        company=_text(company),
        given_at=datetime.fromisoformat(given_at),
        event_id=_text(event_id),
        overrides_nix=_flag(overrides_nix),
        valid_until=_optional_day(valid_until),
        lapses_on=_optional_day(lapses_on),
    )


R = TypeVar("R")


def _made(cls: type[R], **fields: Any) -> R:
    """`cls(**fields)`, given every field of `cls`, at a tenth of the cost: a stored state holds a dozen records, and the
    __init__ of a frozen dataclass sets each field through `object.__setattr__`. The same record, since none of these
    classes has a `__post_init__` or a field that is not an init field; tests/unit/test_state_codec_versions.py
    checks that every record read has all its fields and nothing else."""
    record = object.__new__(cls)
    record.__dict__.update(fields)
    return record


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise TypeError
    return value


def _count(value: Any) -> int:
    if type(value) is not int:
        raise TypeError
    return value


def _optional_day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


_KINDS = {member.value: member for member in CustomerKind}
_STATUSES = {member.value: member for member in Status}
_CIVIL_STATUSES = {member.value: member for member in CivilStatus}
_PURPOSES = {member.value: member for member in ConsentPurpose}
_CHANNELS = {member.value: member for member in Channel}
_ADDRESS_KINDS = {member.value: member for member in AddressKind}
_PROTECTIONS = {member.value: member for member in Protection}
