"""A customer as they stood at a moment, on both time axes, from their events in the audit trail.

"Valid at" is the moment in the world asked about (effective dates), "known at" the moment of the register's
knowledge (`recorded_at`); `events.timeline` says which events the fold sees for the pair. The events come from the
audit trail (`projections.audit`, table `audit_trail`), which holds every message of the canonical log with its bytes,
per customer in log order: one customer's history is read with one indexed query, without reading Kafka. Payloads are
decoded and unsealed like every log record (`events.event_log.open_records`); a record that cannot be opened is
skipped, as every reader skips it. An erased customer's personal fields stay sealed (their key is destroyed), so the
fold sees nothing of their data, and the erasure, once known, applies at every moment (`events.timeline`).

The register's stored state answers for now: when neither moment is given, `state_at_moment` reads it (one row)
instead of folding the history, and gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from events.catalog import Event, ProtectedIdentitySet
from events.customer import CustomerState
from events.event_log import LogRecord, open_records
from events.sealing import KeyStore
from events.timeline import state_at
from projections.audit import AuditRow
from projections.read import customer_state
from projections.register import register_row


@dataclass(frozen=True)
class CustomerLog:
    """One customer's events in log order, opened; duplicates (the same event id again) left out."""

    customer_id: str
    events: tuple[Event, ...]
    unreadable: int = 0
    """Entries that could not be opened (a sealed field that does not verify, bytes no schema reads): skipped."""

    @property
    def protected_ever(self) -> bool:
        """Whether the customer has had a protected identity at any time the log knows of: then no view of them, at any
        moment, shows name or address (a replay must not reveal where someone now protected used to live)."""
        return any(isinstance(event, ProtectedIdentitySet) for event in self.events)

    def state_at(self, *, valid_at: datetime, known_at: datetime) -> CustomerState | None:
        """The customer's state at `valid_at` as known at `known_at` (`events.timeline.state_at`)."""
        return state_at(self.events, valid_at=valid_at, known_at=known_at)


def read_customer_log(db: Session | Connection, customer_id: str, keys: KeyStore | None) -> CustomerLog:
    """The customer's events from the audit trail, in log order, unsealed with `keys` (None leaves them sealed)."""
    rows = db.execute(
        select(AuditRow.topic, AuditRow.partition, AuditRow.offset, AuditRow.payload)
        .where(AuditRow.customer_id == customer_id, AuditRow.duplicate_of_seq.is_(None))
        .order_by(AuditRow.seq)
    )
    records = [LogRecord(topic=topic, partition=partition, offset=offset, value=payload) for topic, partition, offset, payload in rows]
    opened, unreadable = open_records(records, keys)
    return CustomerLog(customer_id, tuple(logged.event for logged in opened), len(unreadable))


@dataclass(frozen=True)
class StateAt:
    """A customer's state at the moments asked about, and what the register knows of them at all."""

    state: CustomerState | None
    """As it stood; None when nothing of the customer held then (not yet registered, or not yet known)."""
    valid_at: datetime
    known_at: datetime
    known: bool
    """Whether the register knows the customer at all (now): False is "no such customer", not "not yet then"."""
    protected_ever: bool
    """Whether name and address are to be left out of any view (a protected identity at any time)."""
    trail_events: int | None = None
    """The customer's events found in the audit trail; None when the register's stored state answered (for now)."""


def state_at_moment(
    db: Session | Connection,
    customer_id: str,
    *,
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
    keys: KeyStore | None = None,
    now: datetime | None = None,
) -> StateAt:
    """The customer at `valid_at` as known at `known_at` (each None: now, to the second).

    With neither given, the register's stored state (today's fold of the whole log) answers; else the customer's
    events in the audit trail are folded for the two moments, unsealed with `keys`.
    """
    now = now or datetime.now(UTC).replace(microsecond=0)
    if valid_at is None and known_at is None:
        state = customer_state(db, customer_id)
        return StateAt(state, now, now, known=state is not None, protected_ever=bool(state and state.protected))
    valid, known = valid_at or now, known_at or now
    log = read_customer_log(db, customer_id, keys)
    present = bool(log.events) or customer_state(db, customer_id) is not None
    state = log.state_at(valid_at=valid, known_at=known)
    return StateAt(state, valid, known, known=present, protected_ever=log.protected_ever, trail_events=len(log.events))


def record_at(found: StateAt) -> dict[str, Any] | None:
    """The customer's register row as it stood (the same fields as `projections.read.customer_record`), with `valid_at`
    and `known_at`; None if the customer was not registered then. Name and address are left out when the customer has
    had a protected identity at any time, as replay leaves them out."""
    state = found.state
    if state is None or not state.registered:
        return None
    row = register_row(state)
    if found.protected_ever:
        for name in ("given_names", "surname", "care_of", "street", "postal_code", "city", "country", "address_since"):
            row[name] = None
    row["updated_at"] = None  # the row was not written: it is worked out for the moments asked about
    return {**row, "valid_at": found.valid_at, "known_at": found.known_at}
