"""The rules an event must meet before it may enter the log, beyond its schema.

Every rule raises `InvalidEvent` naming the field and the reason, never the
personal data itself.
"""

from __future__ import annotations

import re
from datetime import date

from events.catalog import (
    ContactDetails,
    CustomerKind,
    CustomerRegistered,
    Event,
    NixDeregistered,
    NixRegistered,
    PersonalIdentityNumberAssigned,
    PostalAddress,
    Registration,
)
from events.convert import InvalidEvent
from events.identity import IdentityNumberError, parse_identity_number

_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SWEDISH_POSTAL_CODE = re.compile(r"[1-9][0-9]{4}")
_COUNTRY = re.compile(r"[A-Z]{2}")


def validate(event: Event, *, today: date | None = None) -> None:
    """Raise InvalidEvent if `event` breaks a rule; return quietly if it is fine."""
    _check_envelope(event)
    if isinstance(event, CustomerRegistered) and isinstance(event.registration, Registration):
        _check_registration(event.customer_kind, event.registration, today)
    if isinstance(event, PersonalIdentityNumberAssigned) and isinstance(event.identity_number, str):
        check_identity_number(event.identity_number, "identity_number", today)
    if isinstance(event, (NixRegistered, NixDeregistered)) and isinstance(event.phone, str):
        _check_phone(event.phone, "phone")
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
        raise InvalidEvent(field, str(error), code="INVALID_IDENTITY_NUMBER") from None
    if parsed.number != number:
        raise InvalidEvent(field, "must be written in its 12-digit form without separator", code="INVALID_IDENTITY_NUMBER")


def _check_envelope(event: Event) -> None:
    envelope = event.envelope
    if not _CUSTOMER_ID.fullmatch(envelope.customer_id):
        raise InvalidEvent(
            "customer_id", "must be 1-100 letters, digits or . _ : - (an opaque id, starting with a letter or digit)"
        )
    try:
        parse_identity_number(envelope.customer_id)
    except (IdentityNumberError, TypeError):
        pass
    else:
        raise InvalidEvent("customer_id", "looks like an identity number; use an opaque customer id", code="PERSONAL_DATA_IN_KEY")
    if not envelope.source.strip():
        raise InvalidEvent("source", "must name the reporting system")
    if envelope.recorded_at < envelope.occurred_at:
        raise InvalidEvent("recorded_at", "is earlier than occurred_at; a fact cannot be recorded before it happened")


def _check_registration(kind: CustomerKind, details: Registration, today: date | None) -> None:
    if details.identity_number is not None:
        check_identity_number(details.identity_number, "registration.identity_number", today)
    if kind is CustomerKind.PERSON and details.name is None:
        raise InvalidEvent("registration.name", "is required for a person")
    if kind is CustomerKind.COMPANY and not details.company_name:
        raise InvalidEvent("registration.company_name", "is required for a company")
    if details.address is not None:
        _check_address(details.address, "registration.address")
    if details.contact is not None:
        _check_contact(details.contact, "registration.contact")


def _check_address(address: PostalAddress, field: str) -> None:
    if not _COUNTRY.fullmatch(address.country):
        raise InvalidEvent(f"{field}.country", "must be an ISO 3166-1 alpha-2 code such as SE")
    if address.country == "SE" and not _SWEDISH_POSTAL_CODE.fullmatch(address.postal_code):
        raise InvalidEvent(f"{field}.postal_code", "must be five digits for a Swedish address (no space)")
    if not address.street.strip():
        raise InvalidEvent(f"{field}.street", "must not be empty")
    if not address.city.strip():
        raise InvalidEvent(f"{field}.city", "must not be empty")


def _check_contact(contact: ContactDetails, field: str) -> None:
    if contact.phone is not None:
        _check_phone(contact.phone, f"{field}.phone")
    if contact.email is not None and not _EMAIL.fullmatch(contact.email):
        raise InvalidEvent(f"{field}.email", "is not an e-mail address")


def _check_phone(phone: str, field: str) -> None:
    if not _PHONE.fullmatch(phone):
        raise InvalidEvent(field, "must be in E.164 form: + then 7-15 digits, e.g. +46701234567")
