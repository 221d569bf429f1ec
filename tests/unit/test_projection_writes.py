"""How the projections write: each record opened once per process, rows written in bulk exactly as SQLAlchemy binds them."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import insert, select

from events import codec, event_log
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore
from projections.audit import AuditProjection
from projections.database import connect
from projections.rebuild import Fold, _fill_copies, _served_tables_empty, downstream_differences, rebuild_copies, register_tables
from projections.register import ROW_TABLES, RegisterProjection, customer_rows
from projections.runner import OpenedRecords, apply_batch
from projections.sql import execute_rows
from projections.tables import CustomerRow, OutboxRow
from registervard.demo import demo_events


def demo_records(customers: int = 12) -> list[LogRecord]:
    events = [parse_event(json.loads(line)) for line in demo_events(customers=customers, seed=5)]
    return [LogRecord("registervard.events", 0, offset, codec.encode(event)) for offset, event in enumerate(events)]


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts each log position decoded."""
    seen: Counter = Counter()
    decode = codec.decode

    def counting(value: bytes):  # type: ignore[no-untyped-def]
        seen[value] += 1
        return decode(value)

    monkeypatch.setattr(event_log.codec, "decode", counting)
    return seen


def test_the_projections_of_a_process_decode_each_record_once_not_once_each(tmp_path, decodes, monkeypatch):
    monkeypatch.setattr("projections.runner.OPENED", OpenedRecords())
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    records, keys = demo_records(), MemoryKeyStore()
    for projection in (RegisterProjection(), AuditProjection()):
        assert apply_batch(engine, projection, records, keys) == []
    assert set(decodes.values()) == {1}, "the audit projection had the records the register projection opened"
    with engine.connect() as connection:
        assert connection.execute(select(CustomerRow.customer_id)).scalars().all()
    engine.dispose()


def test_a_record_is_opened_again_when_its_bytes_or_the_key_store_differ(decodes):
    opened = OpenedRecords()
    record, keys = demo_records(1)[0], MemoryKeyStore()
    first, _ = opened.open([record], keys)
    again, _ = opened.open([record], keys)
    assert again == first and decodes[record.value] == 1
    opened.open([record], MemoryKeyStore())
    assert decodes[record.value] == 2, "another key store may open other fields"
    garbage = LogRecord(record.topic, record.partition, record.offset, b"not an event")
    events, quarantined = opened.open([garbage], keys)
    assert events == [] and [q.code for q in quarantined] == ["UNDECODABLE"], "same position, other bytes: not the cached event"


def test_the_cache_keeps_at_most_its_capacity():
    opened = OpenedRecords(capacity=3)
    records, keys = demo_records(4), MemoryKeyStore()
    events, _ = opened.open(records, keys)
    assert len(events) == len(records) > 3
    assert len(opened._entries) == 3


def test_bulk_rows_read_back_as_sqlalchemy_writing_them_one_statement_per_row(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    records = demo_records(20)
    fold = Fold(keys=MemoryKeyStore())
    fold.apply(records)
    rows = [customer_rows(state, "key") for state in fold.states.values()]
    copies = rebuild_copies(register_tables())
    with engine.begin() as connection:
        for copy in copies.values():
            copy.create(connection)
        for table in ROW_TABLES:
            table_rows = [row for per_customer in rows for row in per_customer[table]]
            execute_rows(connection, insert(table.__table__), table_rows)
            for row in table_rows:  # SQLAlchemy's own binding, row by row
                connection.execute(insert(copies[table.__tablename__]), row)
    with engine.connect() as connection:
        for table in ROW_TABLES:
            bulk = sorted(connection.execute(select(table.__table__)).all(), key=repr)
            single = sorted(connection.execute(select(copies[table.__tablename__])).all(), key=repr)
            assert bulk == single, table.__tablename__
    engine.dispose()


def test_a_rebuild_into_an_empty_register_sends_every_customer_downstream_and_into_a_live_one_only_the_changed(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    records, keys = demo_records(15), MemoryKeyStore()
    fold = Fold(keys=keys)
    fold.apply(records)
    assert _served_tables_empty(engine)

    def rebuilt_outbox() -> set[str]:
        copies = rebuild_copies(register_tables())
        with engine.begin() as connection:
            for copy in copies.values():
                copy.drop(connection, checkfirst=True)
                copy.create(connection)
        _fill_copies(engine, copies, fold, None, 4, lambda *_: None)
        with engine.connect() as connection:
            return set(connection.execute(select(copies[OutboxRow.__tablename__].c.customer_id)).scalars())

    assert rebuilt_outbox() == set(fold.states)
    apply_batch(engine, RegisterProjection(), records, keys)  # the live register: the same rows
    assert not _served_tables_empty(engine)
    assert rebuilt_outbox() == set() == downstream_differences(engine, fold.states)
    engine.dispose()
