"""The intake rules: may a message enter the canonical event log?

A pure function of the message, so the rules can be tested without Kafka and
read in one place. Anything that fails them is kept as a dead letter with the
reason, byte for byte, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from events import codec
from events.catalog import Event
from events.convert import InvalidEvent
from events.validation import check_encoded_size, validate


@dataclass(frozen=True)
class Accepted:
    """The message may enter the log as it is."""

    event: Event


@dataclass(frozen=True)
class Rejected:
    """The message may not enter the log, and why."""

    code: str
    """Stable reason code, e.g. UNKNOWN_SCHEMA, INVALID_IDENTITY_NUMBER, KEY_MISMATCH."""
    reason: str
    """What is wrong, naming the field; never the personal data itself."""
    event_type: str | None = None
    event_id: str | None = None


def admit(key: bytes | None, value: bytes | None) -> Accepted | Rejected:
    """Decide whether one intake message enters the canonical log."""
    if value is None:
        return Rejected("EMPTY", "message has no value")
    try:
        check_encoded_size(value)  # before decoding: an oversize event is not worth reading, nor would it fit the log sealed
        event = codec.decode(value)
    except codec.UndecodableMessage as error:
        return Rejected(error.code, error.reason, event_type=codec.event_name(value))
    except InvalidEvent as error:
        return Rejected(error.code, str(error), event_type=codec.event_name(value))
    event_type, event_id = type(event).__name__, str(event.event_id)
    if key != event.customer_id.encode():
        return Rejected("KEY_MISMATCH", "message key must be the event's customer_id", event_type, event_id)
    try:
        validate(event)
    except InvalidEvent as error:
        return Rejected(error.code, str(error), event_type, event_id)
    return Accepted(event)


def dead_letter(
    rejected: Rejected, *, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """The DeadLetter record (schemas/DeadLetter.avsc) for a rejected message."""
    return {
        "rejected_at": datetime.now(UTC),
        "reason_code": rejected.code,
        "reason": rejected.reason,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "event_type": rejected.event_type,
        "event_id": rejected.event_id,
        "key": key,
        "value": value,
    }
