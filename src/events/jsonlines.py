"""Events as JSON Lines: the human-readable form upstream systems publish.

One event per line, the envelope's fields at the top level beside the event's
own, and `type` naming the event:

    {"type": "AddressChanged", "customer_id": "C-1001", "occurred_at": "2025-03-01T09:00:00Z",
     "source": "SPAR", "effective_date": "2025-03-01",
     "address": {"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm"}}

A Swedish address's postal code may be written as people write it ("221 00",
"S-221 00", "SE-221 00": `events.postal_codes`); it is read as its five digits.

`event_id` may be left out: it is then derived from the line's content, so that
publishing the same file twice publishes the same events. `recorded_at` may be
left out: it is then the moment of publishing (or `occurred_at`, if the sender's
clock is a little ahead of ours), and no refusal names it.

A file is read as bytes, line by line (`read_lines`), so that neither a huge
file nor a huge line is ever held whole. Whatever is wrong with a line (too
long, not UTF-8, not JSON, nested too deep, not a valid event) rejects that line
alone, with its number and, where there is one, the field: a line too long to be
read whole names the string field that makes it so (`events.json_prefix`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

from events.catalog import EVENT_TYPES, Envelope, Event
from events.convert import from_plain, to_plain
from events.json_prefix import scan
from events.limits import LIMITS
from events.postal_codes import normalise_swedish_addresses
from events.refusal import Refusal
from events.validation import validate

EVENT_ID_NAMESPACE = uuid.UUID("6f1c3a55-7a0e-4a53-9a1e-2b5d8c0f4e61")
"""Namespace of the uuid5 event ids derived from a line's content."""

_ENVELOPE_FIELDS = tuple(f.name for f in fields(Envelope))


@dataclass(frozen=True)
class ParsedLine:
    """One line of a JSON Lines file: its event, or why it was rejected."""

    line_number: int
    event: Event | None = None
    error: Refusal | None = None


def parse_event(document: dict[str, Any], *, now: datetime | None = None, today: date | None = None) -> Event:
    """An event from one JSON document, validated as of `now` (the moment of publishing, the current time by
    default); Refusal names what is wrong, and only ever a field the document holds or lacks."""
    if not isinstance(document, dict):
        raise Refusal("", "each line must be a JSON object")
    type_name = document.get("type")
    event_type = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if event_type is None:
        raise Refusal("type", f"must name an event type: {', '.join(EVENT_TYPES)}", code="UNKNOWN_EVENT_TYPE")
    moment = now or datetime.now(UTC)
    # "221 00" and "SE-221 00" are 22100, as the import reads them; before the id is derived, so one fact is one id.
    document = normalise_swedish_addresses(document)
    envelope = {name: document[name] for name in _ENVELOPE_FIELDS if name in document}
    envelope.setdefault("event_id", str(_content_id(document)))
    defaulted = "recorded_at" not in envelope  # only when absent: a null or a bad value sent is refused as sent
    if defaulted:
        envelope["recorded_at"] = moment.isoformat()
    header = from_plain(Envelope, envelope)
    if defaulted and header.recorded_at < header.occurred_at:
        # The sender's clock is ahead of ours: within the skew allowed the fact is fine, and beyond it
        # `occurred_at` is refused. Either way a recorded_at nobody sent must not be what is wrong.
        header = replace(header, recorded_at=header.occurred_at)
    body = {k: v for k, v in document.items() if k not in _ENVELOPE_FIELDS and k != "type"}
    event = from_plain(event_type, {"envelope": header, **body})
    validate(event, now=moment, today=today)
    return event


def read_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Each line of a binary stream, read with a size cap: a line longer than the limit comes back
    cut short (so that `parse_lines` rejects it as too long) and the rest of it is skipped unread."""
    cap = LIMITS.max_line_bytes + 2  # room for the line break, CR LF included
    while line := stream.readline(cap):
        if len(line) == cap and not line.endswith(b"\n"):
            while (rest := stream.readline(cap)) and not rest.endswith(b"\n"):
                pass
        yield line


def parse_lines(lines: Iterable[str | bytes], *, now: datetime | None = None) -> Iterator[ParsedLine]:
    """Parse each non-blank line (text, or UTF-8 bytes as `read_lines` gives them);
    bad lines come back with their error, none is skipped."""
    moment = now or datetime.now(UTC)
    for number, line in enumerate(lines, start=1):
        try:
            document = _document(line)
            if document is not None:
                yield ParsedLine(number, event=parse_event(document, now=moment))
        except Refusal as error:
            yield ParsedLine(number, error=error)


def _document(line: str | bytes) -> Any:
    """The JSON document on one line, None for a blank line, or Refusal saying why it cannot be read."""
    raw = (line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line).rstrip(b"\r\n")
    if len(raw) > LIMITS.max_line_bytes:
        raise _too_long(raw[: LIMITS.max_line_bytes])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Refusal("", f"not valid UTF-8 (byte {error.start + 1} of the line); save the file as UTF-8", code="INVALID_ENCODING") from None
    if not text.strip():
        return None
    try:
        document = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as error:
        raise Refusal("", f"not valid JSON ({error.msg} at column {error.colno})", code="INVALID_JSON") from None
    except ValueError as error:  # e.g. an integer of thousands of digits
        raise Refusal("", f"not valid JSON ({str(error).split(':')[0]})", code="INVALID_JSON") from None
    if _nests_deeper(document, LIMITS.max_nesting):
        raise _too_deep()
    return document


def _too_long(prefix: bytes) -> Refusal:
    """Why a line over the limit is refused, from the part of it that is read (`prefix`): the first string field
    there over its own limit, or else the line's length, naming the field the limit falls in where it can."""
    texts, cut_in = scan(prefix, longer_than=min(LIMITS.max_string_chars, *LIMITS.string_chars.values()))
    for text in texts:  # bytes are at least as many as characters: only these few can be over a limit
        if text.field and (chars := text.chars) > (limit := LIMITS.max_chars(text.field)):
            length = f"is {chars}" if text.complete else f"is more than {chars}"
            return Refusal(text.field, f"{length} characters long; the limit is {limit}", code="FIELD_TOO_LONG")
    field = cut_in.split(".", 1)[0].split("[", 1)[0]
    if field:
        return Refusal(field, f"makes the line more than {LIMITS.max_line_bytes} bytes long, the limit for one line", code="LINE_TOO_LONG")
    return Refusal("", f"more than {LIMITS.max_line_bytes} bytes long, the limit for one line", code="LINE_TOO_LONG")


def _too_deep() -> Refusal:
    return Refusal("", f"objects and arrays nest more than {LIMITS.max_nesting} deep; an event needs 3", code="NESTED_TOO_DEEP")


def _nests_deeper(value: Any, levels: int) -> bool:
    """Whether JSON `value` nests objects and arrays more than `levels` deep (looking no deeper than that)."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    if children is None:
        return False
    return levels == 0 or any(_nests_deeper(child, levels - 1) for child in children)


def to_json(event: Event) -> str:
    """One JSON line for an event, in the same shape `parse_event` reads."""
    plain = to_plain(event, for_json=True)
    return json.dumps({"type": type(event).__name__, **plain.pop("envelope"), **plain}, ensure_ascii=False)


def _content_id(document: dict[str, Any]) -> uuid.UUID:
    """uuid5(EVENT_ID_NAMESPACE, the line's canonical JSON), spelled out so that a lone surrogate
    (refused later, naming its field) cannot fail the UTF-8 encoding; the same id as uuid.uuid5 for any text."""
    canonical = json.dumps({k: v for k, v in document.items() if k != "recorded_at"}, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha1(EVENT_ID_NAMESPACE.bytes + canonical.encode("utf-8", "surrogatepass")).digest()
    return uuid.UUID(bytes=digest[:16], version=5)
