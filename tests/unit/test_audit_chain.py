"""The audit trail's hash chain on an in-memory database: appends, duplicates, and every way it can break."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from events import codec
from events.catalog import AddressChanged, PostalAddress
from events.jsonlines import parse_event
from projections.audit import GENESIS_HASH, AuditProjection, AuditRow, verify_chain
from projections.runner import LoggedEvent, LogRecord
from projections.tables import Base
from tests.builders import envelope, person


def logged(event, offset: int, partition: int = 0) -> LoggedEvent:
    return LoggedEvent(LogRecord("t.events", partition, offset, codec.encode(event)), event)


def moved(customer: str, street: str) -> AddressChanged:
    from datetime import date

    return AddressChanged(
        envelope=envelope(customer), effective_date=date(2025, 2, 1), address=PostalAddress(street=street, postal_code="11122", city="Lund")
    )


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def append(session, batch):
    with session.begin():
        AuditProjection().apply(session, batch)


def test_entries_are_chained_from_64_zeros_in_log_order_across_batches(session):
    anna = parse_event(person("C-1"))
    append(session, [logged(anna, 0), logged(moved("C-1", "Ny 1"), 1)])
    append(session, [logged(moved("C-1", "Ny 2"), 2)])
    rows = session.query(AuditRow).order_by(AuditRow.seq).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert rows[0].payload == codec.encode(anna)
    assert verify_chain(session).intact
    assert verify_chain(session, chunk_size=1).entries == 3


def test_the_hash_is_the_documented_serialisation(session):
    anna = parse_event(person("C-1"))
    append(session, [logged(anna, 0)])
    row = session.query(AuditRow).one()
    header = {
        "seq": 1, "topic": "t.events", "partition": 0, "offset": 0, "event_id": str(anna.event_id),
        "event_type": "CustomerRegistered", "customer_id": "C-1", "source": "TEST",
        "occurred_at": "2025-01-10T09:00:00.000000Z", "recorded_at": anna.envelope.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "causation_id": None, "correlation_id": None, "duplicate_of_seq": None, "prev_hash": GENESIS_HASH,
    }
    data = b"registervard.audit.v1\x00" + json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\x00" + row.payload
    assert row.hash == hashlib.sha256(data).hexdigest()


def test_a_duplicate_delivery_gets_its_own_entry_naming_the_first(session):
    anna = parse_event(person("C-1"))
    append(session, [logged(anna, 0)])
    append(session, [logged(anna, 1), logged(moved("C-1", "Ny 1"), 2)])
    rows = session.query(AuditRow).order_by(AuditRow.seq).all()
    assert [r.duplicate_of_seq for r in rows] == [None, 1, None]
    assert verify_chain(session).intact


def test_update_and_delete_are_refused_by_the_triggers(session):
    append(session, [logged(parse_event(person("C-1")), 0)])
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text("UPDATE audit_trail SET source = 'X'"))
    session.rollback()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text("DELETE FROM audit_trail"))
    session.rollback()


def tampered(session, statement: str) -> None:
    session.execute(text("DROP TRIGGER audit_trail_no_update"))
    session.execute(text("DROP TRIGGER audit_trail_no_delete"))
    session.execute(text(statement))
    session.commit()


@pytest.fixture
def five(session):
    append(session, [logged(parse_event(person("C-1")), 0)] + [logged(moved("C-1", f"Gatan {n}"), n) for n in range(1, 5)])
    return session


def test_a_changed_column_names_its_entry(five):
    tampered(five, "UPDATE audit_trail SET source = 'FORGED' WHERE seq = 3")
    result = verify_chain(five, chunk_size=2)
    assert (result.intact, result.broken_seq, result.problem) == (False, 3, "CONTENT_CHANGED")


def test_changed_payload_bytes_name_their_entry(five):
    tampered(five, "UPDATE audit_trail SET payload = X'00' WHERE seq = 2")
    assert (verify_chain(five).broken_seq, verify_chain(five).problem) == (2, "CONTENT_CHANGED")


def test_a_changed_entry_with_a_recomputed_hash_breaks_the_link_of_the_next(five):
    from projections.audit import row_hash

    tampered(five, "UPDATE audit_trail SET source = 'FORGED' WHERE seq = 3")
    row = five.get(AuditRow, 3)
    five.execute(text("UPDATE audit_trail SET hash = :h WHERE seq = 3"), {"h": row_hash(row)})
    five.commit()
    result = verify_chain(five)
    assert (result.broken_seq, result.problem) == (4, "CHAIN_BROKEN")


def test_a_removed_entry_is_a_gap(five):
    tampered(five, "DELETE FROM audit_trail WHERE seq = 4")
    assert (verify_chain(five).broken_seq, verify_chain(five).problem) == (4, "GAP")


def test_removed_last_entries_are_caught_against_the_stored_offsets(five):
    five.execute(text("INSERT INTO projection_offsets VALUES ('audit', 't.events', 0, 5)"))
    five.commit()
    assert verify_chain(five).intact
    tampered(five, "DELETE FROM audit_trail WHERE seq = 5")
    result = verify_chain(five)
    assert (result.broken_seq, result.problem) == (5, "TRUNCATED")
