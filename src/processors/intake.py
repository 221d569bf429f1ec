"""The intake rules: may a message enter the canonical event log?

Pure functions of the message (and of the moment of intake, which `check`
reads from the clock unless given), so the rules can be tested without Kafka and
read in one place. A message that fails them gets a `Refusal` (code, field,
reason) and is kept as a dead letter with it, byte for byte, never dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from events import codec
from events.catalog import Event
from events.refusal import Refusal
from events.validation import check_encoded_size, validate


def admit(key: bytes | None, value: bytes | None, *, now: datetime | None = None) -> Event | Refusal:
    """The event in one intake message if it may enter the canonical log at `now` (the current time by default),
    or why it may not."""
    event = read(value)
    if isinstance(event, Refusal):
        return event
    refusal = check(key, event, now=now)
    return event if refusal is None else refusal


def read(value: bytes | None) -> Event | Refusal:
    """The event a message value holds, or why it holds none: EMPTY, EVENT_TOO_LARGE (naming the field that holds
    most of it, when the value is an event), or the codec's refusal."""
    if value is None:
        return Refusal("", "message has no value", code="EMPTY")
    try:
        event = codec.decode(value)
    except Refusal as refusal:
        return _too_large(value) or refusal  # bytes over the limit are refused for their size, event or not
    # Checked once decoded (the broker bounds what there is to decode), so that the refusal can name the field:
    # an oversize event would not fit the log once sealed.
    return _too_large(value, event) or event


def _too_large(value: bytes, event: Event | None = None) -> Refusal | None:
    try:
        check_encoded_size(value, event)
    except Refusal as refusal:
        return refusal
    return None


def check(key: bytes | None, event: Event, *, now: datetime | None = None) -> Refusal | None:
    """Why a decoded event may not enter the log at `now`, the moment of intake (the current time by default):
    KEY_MISMATCH, or a rule of `events.validation`; or None. Only for new messages: the log is never checked again."""
    if key != event.customer_id.encode():
        return Refusal("", "message key must be the event's customer_id", code="KEY_MISMATCH")
    try:
        validate(event, now=now or datetime.now(UTC))
    except Refusal as refusal:
        return refusal
    return None


def dead_letter(
    refusal: Refusal,
    *,
    event_type: str | None,
    event_id: str | None,
    key: bytes | None,
    value: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The DeadLetter record (schemas/DeadLetter.avsc) for a refused message, refused `at` (now by default)."""
    return {
        "rejected_at": at or datetime.now(UTC),
        "reason_code": refusal.code,
        "reason": str(refusal),
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "event_type": event_type,
        "event_id": event_id,
        "key": key,
        "value": value,
    }
