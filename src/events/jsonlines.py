"""Events as JSON Lines: the human-readable form upstream systems publish.

One event per line, the envelope's fields at the top level beside the event's
own, and `type` naming the event:

    {"type": "AddressChanged", "customer_id": "C-1001", "occurred_at": "2025-03-01T09:00:00Z",
     "source": "SPAR", "effective_date": "2025-03-01",
     "address": {"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm"}}

`event_id` may be left out: it is then derived from the line's content, so that
publishing the same file twice publishes the same events. `recorded_at` may be
left out: it is then the moment of publishing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, Iterable, Iterator

from events.catalog import EVENT_TYPES, Envelope, Event
from events.convert import InvalidEvent, from_plain, to_plain
from events.validation import validate

EVENT_ID_NAMESPACE = uuid.UUID("6f1c3a55-7a0e-4a53-9a1e-2b5d8c0f4e61")
"""Namespace of the uuid5 event ids derived from a line's content."""

_ENVELOPE_FIELDS = tuple(f.name for f in fields(Envelope))


@dataclass(frozen=True)
class ParsedLine:
    """One line of a JSON Lines file: its event, or why it was rejected."""

    line_number: int
    event: Event | None = None
    error: InvalidEvent | None = None


def parse_event(document: dict[str, Any], *, now: datetime | None = None, today: date | None = None) -> Event:
    """An event from one JSON document, validated; InvalidEvent names what is wrong."""
    if not isinstance(document, dict):
        raise InvalidEvent("", "each line must be a JSON object")
    type_name = document.get("type")
    event_type = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if event_type is None:
        raise InvalidEvent("type", f"must name an event type: {', '.join(EVENT_TYPES)}", code="UNKNOWN_EVENT_TYPE")
    envelope = {name: document[name] for name in _ENVELOPE_FIELDS if name in document}
    envelope.setdefault("event_id", str(_content_id(document)))
    envelope.setdefault("recorded_at", (now or datetime.now(UTC)).isoformat())
    body = {k: v for k, v in document.items() if k not in _ENVELOPE_FIELDS and k != "type"}
    event = from_plain(event_type, {"envelope": from_plain(Envelope, envelope), **body})
    validate(event, today=today)
    return event


def parse_lines(lines: Iterable[str], *, now: datetime | None = None) -> Iterator[ParsedLine]:
    """Parse each non-blank line; bad lines come back with their error, none is skipped."""
    moment = now or datetime.now(UTC)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as error:
            yield ParsedLine(number, error=InvalidEvent("", f"not valid JSON ({error.msg} at column {error.colno})", code="INVALID_JSON"))
            continue
        try:
            yield ParsedLine(number, event=parse_event(document, now=moment))
        except InvalidEvent as error:
            yield ParsedLine(number, error=error)


def to_json(event: Event) -> str:
    """One JSON line for an event, in the same shape `parse_event` reads."""
    plain = to_plain(event, for_json=True)
    return json.dumps({"type": type(event).__name__, **plain.pop("envelope"), **plain}, ensure_ascii=False)


def _content_id(document: dict[str, Any]) -> uuid.UUID:
    canonical = json.dumps({k: v for k, v in document.items() if k != "recorded_at"}, sort_keys=True, ensure_ascii=False)
    return uuid.uuid5(EVENT_ID_NAMESPACE, canonical)
