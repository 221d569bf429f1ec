"""The register projection: fold a batch of log records into the tables, in one transaction.

The batch's events, their effect on the customers' rows, the event ids applied
and the offsets to resume from are committed together, so a crash at any point
neither loses nor doubles an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events import codec
from events.convert import from_plain, to_plain
from events.customer import CustomerState, evolve
from projections.tables import AppliedEventRow, Base, CustomerRow, CustomerStateRow, OffsetRow

log = structlog.get_logger(__name__)

PROJECTION = "register"


@dataclass(frozen=True)
class LogRecord:
    """One message of the canonical event log, as the projection reads it."""

    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class BatchResult:
    """How many events of a batch changed the register, and how many were repeats."""

    applied: int
    duplicates: int


def stored_offsets(engine: Engine, topic: str) -> dict[int, int]:
    """The next offset to read for each partition of `topic`, as last committed."""
    with Session(engine) as session:
        rows = session.scalars(select(OffsetRow).where(OffsetRow.projection == PROJECTION, OffsetRow.topic == topic))
        return {row.partition: row.next_offset for row in rows}


def apply_batch(engine: Engine, records: Sequence[LogRecord]) -> BatchResult:
    """Apply log records to the register and remember their offsets, all in one transaction."""
    events = [codec.decode(record.value) for record in records]  # the log holds only admitted events
    with Session(engine) as session, session.begin():
        event_ids = [str(e.event_id) for e in events]
        seen = set(session.scalars(select(AppliedEventRow.event_id).where(AppliedEventRow.event_id.in_(event_ids))))
        customer_ids = sorted({e.customer_id for e in events})
        states = {
            row.customer_id: from_plain(CustomerState, row.state)
            for row in session.scalars(select(CustomerStateRow).where(CustomerStateRow.customer_id.in_(customer_ids)))
        }
        changed: set[str] = set()
        duplicates = 0
        applied_now: list[dict[str, str]] = []
        for event, event_id in zip(events, event_ids):
            if event_id in seen:
                duplicates += 1
                continue
            seen.add(event_id)
            states[event.customer_id] = evolve(states.get(event.customer_id), event)
            changed.add(event.customer_id)
            applied_now.append({"event_id": event_id, "customer_id": event.customer_id})
        if applied_now:
            session.execute(insert(AppliedEventRow), applied_now)
        upsert(session, CustomerStateRow, [{"customer_id": c, "state": to_plain(states[c], for_json=True)} for c in changed])
        upsert(session, CustomerRow, [register_row(states[c]) for c in changed])
        _remember_offsets(session, records)
    return BatchResult(applied=len(events) - duplicates, duplicates=duplicates)


def register_row(state: CustomerState) -> dict[str, Any]:
    """The register's row for a customer: what downstream may see."""
    name = None if state.protected else state.name
    address = None if state.protected else state.address
    address_since = None if state.protected or not state.addresses else state.addresses[-1].effective_date
    return dict(
        customer_id=state.customer_id,
        kind=state.kind.value if state.kind else None,
        status=state.status.value,
        protected=state.protected,
        identity_number=state.identity_number,
        given_names=name.given_names if name else None,
        surname=name.surname if name else None,
        company_name=state.company_name,
        care_of=address.care_of if address else None,
        street=address.street if address else None,
        postal_code=address.postal_code if address else None,
        city=address.city if address else None,
        country=address.country if address else None,
        address_since=address_since,
        phone=state.contact.phone if state.contact else None,
        email=state.contact.email if state.contact else None,
        civil_status=state.civil_status.value if state.civil_status else None,
        deceased_on=state.deceased_on,
        emigrated_on=state.emigrated_on,
        active_consents=len(state.consents),
        nix_registered=bool(state.nix_numbers),
        events_applied=state.events_applied,
        updated_at=datetime.now(UTC),
    )


def _remember_offsets(session: Session, records: Sequence[LogRecord]) -> None:
    next_offsets: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        next_offsets[key] = max(next_offsets.get(key, 0), record.offset + 1)
    upsert(
        session,
        OffsetRow,
        [{"projection": PROJECTION, "topic": t, "partition": p, "next_offset": o} for (t, p), o in next_offsets.items()],
    )


def upsert(session: Session, table: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert rows, replacing those with the same primary key (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}[dialect]
    statement = insert(table)
    keys = [column.name for column in table.__table__.primary_key]
    replaced = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=replaced), rows)
