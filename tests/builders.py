"""Small builders for events in tests, with sensible defaults."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from events.catalog import Envelope

VALID_PERSONNUMMER = "198112189876"


def envelope(customer_id: str = "C-1", *, on: date | datetime = date(2025, 1, 10), event_id: uuid.UUID | None = None, **fields: Any) -> Envelope:
    moment = on if isinstance(on, datetime) else datetime(on.year, on.month, on.day, 9, tzinfo=UTC)
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        customer_id=customer_id,
        occurred_at=moment,
        recorded_at=moment,
        source=fields.pop("source", "TEST"),
        **fields,
    )


def line(type_: str, customer_id: str = "C-1", **fields: Any) -> dict[str, Any]:
    """A JSON Lines document as an upstream system would write it."""
    return {"type": type_, "customer_id": customer_id, "occurred_at": "2025-01-10T09:00:00Z", "source": "TEST", **fields}


def person(customer_id: str = "C-1", identity_number: str = VALID_PERSONNUMMER, **fields: Any) -> dict[str, Any]:
    """The JSON document registering a person."""
    registration = {
        "identity_number": identity_number,
        "name": {"given_names": "Anna", "surname": "Svensson"},
        "address": {"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm"},
        "contact": {"phone": "+46701234567", "email": "anna@example.se"},
    }
    return line("CustomerRegistered", customer_id, customer_kind="PERSON", registration=registration, **fields)
