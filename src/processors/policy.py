"""The worker's policy: what to do with an intake message, with lapsed consents, and with the log at startup.

Plain functions over plain data, so that every decision can be tested without
Kafka or Faust; the Faust app (`processors.worker_app`) carries them out: it
sends the records, waits for the broker, destroys keys, retries, counts and logs.

* `decide(message, lifecycle, sealer)`: an intake message becomes an `Append`
  (the event and the events that follow from it, sealed, for the log; for
  CustomerErased also the customer whose key goes once the log has them; the
  events that follow for other customers, for the intake), a `DeadLetter` (the
  refusal, and the record that keeps the message), or a `Drop` (an event the log
  already holds, with the events for other customers derived from it again).
* `expire(lifecycle, now, sealer)`: the consents lapsed by `now`, as an `Append`.
* `rebuild(log)`: the lifecycle folded from the log, the consequences the log
  lacks (a crash between an event and its consequences), and the erased
  customers whose keys must be gone (a crash between CustomerErased and
  destroying the key).

`decide` and `expire` fold what they decide into `lifecycle` (as
`Lifecycle.admit` and `Lifecycle.due` do): call them once per message, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events import codec
from events.catalog import CustomerErased, Event
from events.customer import Status
from events.refusal import Refusal
from events.sealing import KeyStore, has_plain_personal_data, seal, seal_bytes
from events.validation import is_opaque_customer_id
from processors import intake
from processors.lifecycle import Admitted, Duplicate, Lifecycle, for_others


@dataclass(frozen=True)
class IntakeMessage:
    """One message of the intake topic, and where it lies."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Record:
    """One message for the event log: keyed by customer id, the event's bytes with its personal fields sealed."""

    key: bytes
    value: bytes


@dataclass(frozen=True)
class Append:
    """Send `records` to the log, in this order; once the broker has them all, destroy the data key of `destroy_key`."""

    records: tuple[Record, ...]
    admitted: Event | None
    """The intake event among the records (after the expiries of consents that had lapsed by its time, before its
    consequences); None when the worker derived every one (expiry, rebuild)."""
    derived: tuple[Event, ...]
    """The events the worker derived, in the order of their records."""
    destroy_key: str | None = None
    """The customer an admitted CustomerErased erases: their key goes only after the log has the erasure."""
    to_intake: tuple[Record, ...] = ()
    """Events that follow for other customers (`lifecycle.for_others`), for the intake topic, keyed by them: their
    own workers admit them. Plain, as the intake holds what it is sent; their workers seal them for the log."""


@dataclass(frozen=True)
class DeadLetter:
    """Send the message to the dead-letter topic, with why it was refused."""

    refusal: Refusal
    record: dict[str, Any]
    """The DeadLetter record (schemas/DeadLetter.avsc); its value is the message, sealed as `Sealer.refused` says."""

    @property
    def key(self) -> bytes | None:
        """The dead letter's message key: the intake message's."""
        return self.record["key"]

    def encoded(self) -> bytes:
        """The dead letter's message value."""
        return codec.encode_record("DeadLetter", self.record)


@dataclass(frozen=True)
class Drop:
    """The event is in the log already (a message delivered again): nothing to send."""

    duplicate: Event
    to_intake: tuple[Record, ...] = ()
    """The events for other customers derived from it, sent again: the first time may not have reached the intake."""


Decision = Append | DeadLetter | Drop
"""What to do with one intake message."""


@dataclass(frozen=True)
class Rebuilt:
    """The worker's knowledge after folding the log (all of it, or what its tables lack), and what the log still lacks."""

    lifecycle: Lifecycle
    missing: tuple[Event, ...]
    """Consequences the log should hold but does not, in order: to append."""
    erased: tuple[str, ...]
    """Every erased customer of the folded log: each one's data key must be destroyed, if it is not already."""


def keyable(customer_id: str) -> bool:
    """Whether a customer id may name a data key: a valid opaque id, not an identity number (never a key of anything)."""
    return is_opaque_customer_id(customer_id)


def key_holders(message_keys: Iterable[bytes | None]) -> list[str]:
    """The customers a batch of intake messages names who may hold a data key (for creating their keys in one go)."""
    customers = [key.decode("utf-8", "replace") for key in message_keys if key]
    return [c for c in customers if keyable(c)]


@dataclass(frozen=True)
class Sealer:
    """How the worker seals what it writes: personal fields with each customer's data key in `keys`,
    or nothing sealed when `keys` is None (encryption off)."""

    keys: KeyStore | None

    def event(self, event: Event, read_from: bytes | None = None) -> bytes | None:
        """The event's bytes for the log or a dead letter: personal fields sealed; None if the customer's key is gone.

        `read_from`: the message value `event` was decoded from. When sealing changes nothing (encryption off, or an
        event without personal data) and it was written with the current schema, it is the event's bytes as it is:
        encoding the same event again would cost as much as decoding it did."""
        if self.keys is None or not keyable(event.customer_id):  # not keyable: refused anyway; a key must not be named by an identity number
            return _as_read(event, read_from)
        key = self.keys.key_for(event.customer_id, create=True)
        if key is None:
            return None
        return _as_read(event, read_from) if not has_plain_personal_data(event) else codec.encode(seal(event, key))

    def refused(self, key: bytes | None, value: bytes | None) -> bytes | None:
        """What a dead letter keeps of a refused message: the event with its personal fields sealed (None once the
        customer's key is gone), or bytes that are no event sealed whole with the key of the customer the message
        key names, if that customer has one (kept as they are otherwise)."""
        if self.keys is None or value is None:
            return value
        try:
            event = codec.decode(value)
        except Refusal:
            customer_id = key.decode("utf-8", "replace") if key else None
            data_key = self.keys.key_for(customer_id, create=False) if customer_id and keyable(customer_id) else None
            return seal_bytes(value, customer_id, data_key) if customer_id and data_key is not None else value
        return self.event(event)


def _as_read(event: Event, read_from: bytes | None) -> bytes:
    """The bytes `event` was read from, if it can be logged as they are; its encoding otherwise."""
    return read_from if read_from is not None and codec.written_with_current_schema(read_from) else codec.encode(event)


def to_log(events: Sequence[Event], sealer: Sealer, read: tuple[Event, bytes] | None = None) -> tuple[Record, ...]:
    """The log records of `events`, sealed; RuntimeError if a customer's key is gone (nothing may then be appended).
    `read`: an event among them and the message value it was decoded from (see `Sealer.event`)."""
    records = []
    for event in events:
        value = sealer.event(event, read[1] if read is not None and read[0] is event else None)
        if value is None:
            raise RuntimeError(f"no data key for customer {event.customer_id}: cannot append {type(event).__name__}")
        records.append(Record(event.customer_id.encode(), value))
    return tuple(records)


def decide(message: IntakeMessage, lifecycle: Lifecycle, sealer: Sealer, *, now: datetime | None = None) -> Decision:
    """What to do with one intake message; an admitted event and its consequences are folded into `lifecycle`.
    `now` stamps a dead letter (the current time by default)."""
    event = intake.read(message.value)
    if isinstance(event, Refusal):
        return _dead_letter(message, event, None, sealer, now)
    refusal = intake.check(message.key, event)
    if refusal is None:
        outcome = lifecycle.admit(event)
        if isinstance(outcome, Admitted):
            return Append(
                to_log(outcome.in_log_order, sealer, read=(event, message.value) if outcome.event is event and message.value else None),
                admitted=outcome.event,
                derived=(*outcome.lapsed, *outcome.derived),
                destroy_key=outcome.event.customer_id if isinstance(outcome.event, CustomerErased) else None,
                to_intake=to_intake(lifecycle, outcome.event),
            )
        if isinstance(outcome, Duplicate):
            return Drop(outcome.event, to_intake(lifecycle, outcome.event))
        refusal = outcome
    return _dead_letter(message, refusal, event, sealer, now)


def to_intake(lifecycle: Lifecycle, event: Event) -> tuple[Record, ...]:
    """The intake records of the events that follow from `event` for other customers, given the state after it."""
    return tuple(Record(e.customer_id.encode(), codec.encode(e)) for e in for_others(lifecycle.states.get(event.customer_id), event))


def expire(lifecycle: Lifecycle, now: datetime, sealer: Sealer) -> Append:
    """The consents lapsed by `now`, as ConsentExpired events for the log (folded into `lifecycle`).
    Each event follows from the consent alone: its id and times do not depend on `now`."""
    expired = tuple(lifecycle.due(now))
    return Append(to_log(expired, sealer), admitted=None, derived=expired)


def rebuild(log: Iterable[Event], lifecycle: Lifecycle | None = None) -> Rebuilt:
    """Fold the log into `lifecycle` (a fresh one: the whole log; the worker's tables: the log after their position);
    what the log lacks, and the customers of `log` whose keys must be gone."""
    lifecycle = lifecycle if lifecycle is not None else Lifecycle()
    customers: dict[str, None] = {}  # in order of appearance

    def noting_customers(events: Iterable[Event]) -> Iterator[Event]:
        for event in events:
            customers[event.customer_id] = None
            yield event

    missing = tuple(lifecycle.replay(noting_customers(log)))
    erased = tuple(c for c in customers if lifecycle.states[c].status is Status.ERASED)
    return Rebuilt(lifecycle, missing, erased)


def _dead_letter(message: IntakeMessage, refusal: Refusal, event: Event | None, sealer: Sealer, now: datetime | None) -> DeadLetter:
    event_type: str | None = None
    event_id: str | None = None
    if event is not None:
        event_type, event_id = type(event).__name__, str(event.event_id)
    elif message.value is not None:  # no event to name: the type its schema fingerprint names, if any
        event_type = codec.event_name(message.value)
    record = intake.dead_letter(
        refusal,
        event_type=event_type,
        event_id=event_id,
        key=message.key,
        value=sealer.refused(message.key, message.value),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        at=now,
    )
    return DeadLetter(refusal, record)
