"""The rules an event must meet before it may enter the log, beyond its schema.

Every rule raises `Refusal` naming the field and the reason, never the
personal data itself. `validate` runs when a file is published and again at the
worker's intake, so both refuse the same events. The limits (string lengths,
the accepted time range, how far ahead of now a fact may lie, sizes) are data:
`limits.toml`. There is no clock here: whoever checks an event passes the
moment it is checked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from functools import cache
from typing import Any

from events import schemas
from events.catalog import (
    AddressChanged,
    AddressKind,
    ContactDetails,
    ContactPersonLeft,
    CustomerDeregistered,
    CustomerImmigrated,
    CustomerKind,
    CustomerRegistered,
    CustomersMerged,
    Event,
    NixDeregistered,
    NixRegistered,
    PersonalIdentityNumberAssigned,
    PostalAddress,
    Registration,
    SealedPersonalData,
)
from events.deregistration import check_cause
from events.identity import IdentityNumberError, parse_identity_number
from events.limits import LIMITS, Limits
from events.refusal import Refusal

_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SWEDISH_POSTAL_CODE = re.compile(r"[1-9][0-9]{4}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# C0 and C1 control characters (NUL, tab, escape...) and halves of surrogate pairs: they are not
# text, break PostgreSQL (NUL) or terminals, and cannot be encoded as UTF-8 (surrogates).
_NOT_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def validate(event: Event, *, now: datetime | None = None, today: date | None = None) -> None:
    """Raise Refusal if `event` breaks a rule; return quietly if it is fine.

    `now` (time-zone aware) is the moment a new fact is checked, when a file is published or the worker takes a
    message in: `occurred_at` and `recorded_at` may lie no further ahead of it than `limits.toml` allows for clock
    skew. None leaves that rule out, for events read again from the log: a fact admitted once is never refused later
    because of the clock.
    """
    _check_values(event, "")
    _check_envelope(event, now)
    if isinstance(event, CustomerRegistered) and isinstance(event.registration, Registration):
        _check_registration(event.customer_kind, event.registration, today)
    if isinstance(event, PersonalIdentityNumberAssigned) and isinstance(event.identity_number, str):
        check_identity_number(event.identity_number, "identity_number", today)
    if isinstance(event, (NixRegistered, NixDeregistered)) and isinstance(event.phone, str):
        _check_phone(event.phone, "phone")
    _check_population_register(event)
    if isinstance(event, AddressChanged) and event.ended and event.address_kind in (None, AddressKind.OTHER):
        raise Refusal(
            "ended",
            "may be true only with an address_kind (such as SPECIAL_POSTAL): an address the customer gave is replaced by a new one, never ended",
        )
    if isinstance(event, CustomersMerged):
        _check_merge(event)
    for field in ("address", "contact"):
        value = getattr(event, field, None)
        if isinstance(value, PostalAddress):
            _check_address(value, field)
        if isinstance(value, ContactDetails):
            _check_contact(value, field)


def check_identity_number(number: str, field: str, today: date | None = None) -> None:
    """An identity number must be valid and written in its 12-digit form."""
    try:
        parsed = parse_identity_number(number, today=today)
    except IdentityNumberError as error:
        raise Refusal(field, str(error), code="INVALID_IDENTITY_NUMBER") from None
    if parsed.number != number:
        raise Refusal(field, "must be written in its 12-digit form without separator", code="INVALID_IDENTITY_NUMBER")


def is_identity_number(text: str) -> bool:
    """Whether `text` parses as a personnummer, samordningsnummer or organisationsnummer."""
    try:
        parse_identity_number(text)
    except (IdentityNumberError, TypeError, ValueError):
        return False
    return True


def is_opaque_customer_id(text: str) -> bool:
    """Whether `text` is a valid customer id: 1-100 letters, digits or . _ : -, and not an identity number."""
    return bool(_CUSTOMER_ID.fullmatch(text)) and not is_identity_number(text)


def _check_envelope(event: Event, now: datetime | None) -> None:
    envelope = event.envelope
    if not _CUSTOMER_ID.fullmatch(envelope.customer_id):
        raise Refusal("customer_id", "must be 1-100 letters, digits or . _ : - (an opaque id, starting with a letter or digit)")
    if is_identity_number(envelope.customer_id):
        raise Refusal("customer_id", "looks like an identity number; use an opaque customer id", code="PERSONAL_DATA_IN_KEY")
    if not envelope.source.strip():
        raise Refusal("source", "must name the reporting system")
    if now is not None:  # occurred_at first: a recorded_at in the future most often follows from it
        _check_not_ahead(envelope.occurred_at, "occurred_at", now)
        _check_not_ahead(envelope.recorded_at, "recorded_at", now)
    if envelope.recorded_at < envelope.occurred_at:
        raise Refusal("recorded_at", "is earlier than occurred_at; a fact cannot be recorded before it happened")
    if envelope.schema_version not in released_schema_versions():
        known = ", ".join(map(str, sorted(released_schema_versions())))
        raise Refusal("schema_version", f"must be a released schema version ({known}), or left out", code="UNKNOWN_SCHEMA_VERSION")


@cache
def released_schema_versions() -> frozenset[int]:
    """The schema versions a producer may name: the folders of schemas/released/."""
    return frozenset(int(version) for version in schemas.released() if version.isdigit()) or frozenset({1})


def _check_not_ahead(moment: datetime, field: str, now: datetime) -> None:
    """A fact is reported after it happens: `moment` may lie ahead of `now` by the clock skew allowed, no more."""
    allowed = LIMITS.max_future
    if moment - now > allowed:
        checked = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise Refusal(
            field,
            f"lies in the future: more than {_duration(allowed)} after it was checked ({checked}); "
            "a fact is sent once it has happened. Check the year and the time zone (Z is UTC)",
            code="IN_THE_FUTURE",
        )


def _duration(span: timedelta) -> str:
    """`span` in words, in the largest unit it is a whole number of: 5 minutes, 1 hour, 90 seconds."""
    seconds = int(span.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0 and (seconds or size == 1):
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable: every span is a whole number of seconds")


def check_encoded_size(value: bytes, event: Event | None = None) -> None:
    """An encoded event (a message value) must fit the limit, with room for the worker's sealing.

    Given the event `value` encodes, the refusal names the field that holds most of it (followed down through
    records), and says so if that field is a string over its own limit too.
    """
    limit = LIMITS.max_event_bytes
    if len(value) <= limit:
        return
    size = f"the encoded event is {len(value)} bytes; the limit is {limit}"
    field, item = _largest_field(event) if event is not None else ("", None)
    if not field:
        raise Refusal("", size, code="EVENT_TOO_LARGE")
    own = ""
    if isinstance(item, str) and len(item) > (chars := LIMITS.max_chars(field)):
        own = f" (the field is {len(item)} characters long; its own limit is {chars})"
    raise Refusal(field, f"makes the event too large: {size}{own}", code="EVENT_TOO_LARGE")


def _largest_field(record: Any) -> tuple[str, Any]:
    """The path and value of the field holding most of `record`, followed down through records (not into lists,
    nor into sealed data, which is refused as a whole)."""
    field, item = "", record
    while dataclasses.is_dataclass(item) and not isinstance(item, (type, SealedPersonalData)):
        weights = {f.name: _weight(getattr(item, f.name)) for f in dataclasses.fields(item)}
        if not weights:
            break
        name = max(weights, key=weights.__getitem__)
        field, item = _child(field, name), getattr(item, name)
    return field, item


def _weight(value: Any) -> int:
    """Roughly how much of an encoded event `value` takes: characters and bytes, one for anything else."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_weight(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (tuple, list, frozenset)):
        return len(value) + sum(_weight(item) for item in value)
    return 1


def _check_values(value: Any, field: str) -> None:
    """The rules for every value of an event, wherever it sits: no sealed input, only text, within the limits."""
    check = _CHECKS[type(value)]
    if check is not None:
        check(value, field)


Check = Callable[[Any, str], None]


class _Checks(dict[type, Check | None]):
    """The check `_check_values` makes of a value of each type (None: none), decided once per type and in the order
    the rules have always been tried: what a value needs depends on its type alone, and the worker checks every event."""

    def __missing__(self, tp: type) -> Check | None:
        check: Check | None = None
        if issubclass(tp, SealedPersonalData):
            check = _refuse_sealed
        elif issubclass(tp, type):
            check = _check_class
        elif dataclasses.is_dataclass(tp):
            check = _check_record
        elif issubclass(tp, (tuple, list, frozenset)):
            check = _check_items
        elif issubclass(tp, str) and not issubclass(tp, Enum):
            check = _check_text
        elif issubclass(tp, date):
            check = _check_moment
        self[tp] = check
        return check


_CHECKS = _Checks()


def _refuse_sealed(value: SealedPersonalData, field: str) -> None:
    raise Refusal(field, "holds sealed data; send the plain value: Registervård seals personal data itself", code="SEALED_INPUT")


def _check_record(value: Any, field: str) -> None:
    checks = _CHECKS
    for name, path in _paths(type(value), field):
        item = getattr(value, name)
        check = checks[type(item)]
        if check is not None:
            check(item, path)


def _check_items(value: Any, field: str) -> None:
    for index, item in enumerate(value):
        _check_values(item, f"{field}[{index}]")


def _check_class(value: type, field: str) -> None:
    """A class given as a value: a dataclass is checked as it always was, its defaults as its values."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _check_values(getattr(value, f.name), _child(field, f.name))


_PATHS: dict[tuple[type, str], tuple[tuple[str, str], ...]] = {}
_REMEMBERED_PATHS = 4096
"""Field paths come from the catalog's shapes (and list positions): few. The bound is for a caller with unusual records."""


def _paths(tp: type, field: str) -> tuple[tuple[str, str], ...]:
    """Each field of record type `tp` at `field`, with its path in refusals."""
    paths = _PATHS.get((tp, field))
    if paths is None:
        paths = tuple((f.name, _child(field, f.name)) for f in dataclasses.fields(tp))
        if len(_PATHS) < _REMEMBERED_PATHS:
            _PATHS[(tp, field)] = paths
    return paths


def _child(field: str, name: str) -> str:
    path = f"{field}.{name}" if field else name
    return "" if path == "envelope" else path  # as in JSON Lines: its fields at the top


def _check_text(text: str, field: str) -> None:
    bad = _NOT_TEXT.search(text)
    if bad:
        what = "half of a surrogate pair" if "\ud800" <= bad.group() <= "\udfff" else "the control character"
        raise Refusal(
            field, f"contains {what} U+{ord(bad.group()):04X} at character {bad.start() + 1}; only printable text is allowed", code="INVALID_CHARACTER"
        )
    bounds = _bounds()
    if len(text) <= bounds.shortest:
        return  # within every limit: no need to find this field's
    limit = bounds.max_chars(field)
    if len(text) > limit:
        raise Refusal(field, f"is {len(text)} characters long; the limit is {limit}", code="FIELD_TOO_LONG")


def _check_moment(moment: date, field: str) -> None:
    bounds = _bounds()
    if isinstance(moment, datetime):  # compared in UTC: year 1 at +14:00 is year 0 in UTC, which no reader can decode
        inside = bounds.earliest_moment <= moment < bounds.latest_moment
    else:
        inside = bounds.limits.earliest <= moment < bounds.limits.latest
    if not inside:
        raise Refusal(field, f"must be from {bounds.limits.earliest} up to (not including) {bounds.limits.latest}", code="DATE_OUT_OF_RANGE")


class _Bounds:
    """What the checks of every string and moment read of `LIMITS`, worked out once for the limits in force."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.earliest_moment = datetime.combine(limits.earliest, time(), UTC)
        self.latest_moment = datetime.combine(limits.latest, time(), UTC)
        self.shortest = min(limits.max_string_chars, *limits.string_chars.values())
        """The lowest limit of any string field."""
        self._chars: dict[str, int] = {}

    def max_chars(self, field: str) -> int:
        """`limits.max_chars(field)`, remembered by field path."""
        limit = self._chars.get(field)
        if limit is None:
            limit = self.limits.max_chars(field)
            if len(self._chars) < _REMEMBERED_PATHS:
                self._chars[field] = limit
        return limit


_BOUNDS: list[_Bounds] = []


def _bounds() -> _Bounds:
    """The bounds of `LIMITS` as it is now (read each time: a test may put other limits in its place)."""
    if not _BOUNDS or _BOUNDS[0].limits is not LIMITS:
        _BOUNDS[:] = [_Bounds(LIMITS)]
    return _BOUNDS[0]


def _check_registration(kind: CustomerKind, details: Registration, today: date | None) -> None:
    if details.identity_number is not None:
        check_identity_number(details.identity_number, "registration.identity_number", today)
    if kind is CustomerKind.PERSON and details.name is None:
        raise Refusal("registration.name", "is required for a person")
    if kind is CustomerKind.COMPANY and not details.company_name:
        raise Refusal("registration.company_name", "is required for a company")
    if details.address is not None:
        _check_address(details.address, "registration.address")
    if details.contact is not None:
        _check_contact(details.contact, "registration.contact")


def _check_address(address: PostalAddress, field: str) -> None:
    if not _COUNTRY.fullmatch(address.country):
        raise Refusal(f"{field}.country", "must be an ISO 3166-1 alpha-2 code such as SE")
    if address.country == "SE" and not _SWEDISH_POSTAL_CODE.fullmatch(address.postal_code):
        raise Refusal(f"{field}.postal_code", "must be five digits for a Swedish address (no space)")
    if not address.street.strip():
        raise Refusal(f"{field}.street", "must not be empty")
    if not address.city.strip():
        raise Refusal(f"{field}.city", "must not be empty")


def _check_population_register(event: Event) -> None:
    """The events of schema release 3: a cause from the table, a Swedish address on return, a company by its opaque id."""
    if isinstance(event, CustomerDeregistered):
        check_cause(event.cause, "cause")
    if isinstance(event, CustomerImmigrated) and isinstance(event.address, PostalAddress) and event.address.country != "SE":
        raise Refusal("address.country", "must be SE: the population register registers a returning emigrant at a Swedish address")
    if isinstance(event, ContactPersonLeft) and not is_opaque_customer_id(event.company_id):
        raise Refusal("company_id", "must be the company's opaque customer id (not an identity number)", code="PERSONAL_DATA_IN_KEY")


def _check_merge(event: CustomersMerged) -> None:
    """A merge names two different customers by their opaque ids, and is keyed by one of them: published keyed by the
    dropped customer; the fact keyed by the kept customer, with what the dropped one held, is Registervård's to record."""
    for field in ("kept_customer_id", "dropped_customer_id"):
        if not is_opaque_customer_id(getattr(event, field)):
            raise Refusal(field, "must be an opaque customer id (1-100 letters, digits or . _ : -, not an identity number)", code="PERSONAL_DATA_IN_KEY")
    if event.kept_customer_id == event.dropped_customer_id:
        raise Refusal("dropped_customer_id", "is the kept customer: a customer cannot be merged into itself", code="SAME_CUSTOMER")
    if event.customer_id not in (event.kept_customer_id, event.dropped_customer_id):
        raise Refusal("customer_id", "must be dropped_customer_id: a merge is published keyed by the customer merged away")
    dropped_side = event.customer_id == event.dropped_customer_id
    if dropped_side and (event.absorbed is not None or event.absorbed_personal is not None):
        field = "absorbed" if event.absorbed is not None else "absorbed_personal"
        raise Refusal(field, "must be left out: Registervård fills it in when it records the merge for the kept customer")
    if not dropped_side and event.absorbed is None:
        raise Refusal("customer_id", "must be dropped_customer_id: a merge is published keyed by the customer merged away")


def _check_contact(contact: ContactDetails, field: str) -> None:
    if contact.phone is not None:
        _check_phone(contact.phone, f"{field}.phone")
    if contact.email is not None and not _EMAIL.fullmatch(contact.email):
        raise Refusal(f"{field}.email", "is not an e-mail address")


def _check_phone(phone: str, field: str) -> None:
    if not _PHONE.fullmatch(phone):
        raise Refusal(field, "must be in E.164 form: + then 7-15 digits, e.g. +46701234567")
