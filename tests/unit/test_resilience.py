"""Riding out faults without a broker: retries with a budget, quarantined records, and logs that do not flood."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from events import codec
from events.event_log import LogRecord, open_records
from events.jsonlines import parse_event
from events.retry import GaveUp, with_retry
from events.sealing import MemoryKeyStore, seal
from projections.database import connect
from projections.register import RegisterProjection
from projections.runner import apply_batch, stored_offsets
from projections.tables import CustomerRow, QuarantineRow
from registervard.logging_setup import RepeatLimiter
from tests.builders import person

TOPIC = "registervard.events"


def record(offset: int, value: bytes, partition: int = 0) -> LogRecord:
    return LogRecord(topic=TOPIC, partition=partition, offset=offset, value=value)


# --- Retrying ---------------------------------------------------------------------------------


def unreachable() -> OperationalError:
    return OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


async def test_a_database_that_comes_back_within_the_budget_is_waited_for():
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise unreachable()
        return "done"

    with capture_logs() as logs:
        assert await with_retry(flaky, what="test", budget=10) == "done"
    assert calls == 3
    assert [entry["event"] for entry in logs] == ["retrying", "retrying"]


async def test_a_database_that_stays_down_is_given_up_on_after_the_budget():
    async def down() -> None:
        raise unreachable()

    with capture_logs(), pytest.raises(GaveUp, match="still failing"):
        await with_retry(down, what="reach the register database", budget=1)


async def test_an_error_in_the_data_is_not_retried():
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await with_retry(broken, what="test", budget=60)
    assert calls == 1


# --- Opening log records ------------------------------------------------------------------------


def test_records_that_cannot_be_opened_are_quarantined_and_the_rest_come_through_in_order():
    keys = MemoryKeyStore()
    anna = parse_event(person("C-1"))
    sealed = seal(anna, keys.key_for("C-1", create=True))
    tampered = bytearray(codec.encode(sealed))
    tampered[-3] ^= 0xFF  # a bit of the ciphertext's tag
    bob = parse_event(person("C-2", identity_number="194107086995"))
    opened, quarantined = open_records(
        [record(0, codec.encode(sealed)), record(1, bytes(tampered)), record(2, b"junk"), record(3, codec.encode(bob))], keys
    )
    assert [o.record.offset for o in opened] == [0, 3]
    assert opened[0].event.registration == anna.registration  # unsealed
    assert {(q.record.offset, q.code) for q in quarantined} == {(1, "TAMPERED"), (2, "UNDECODABLE")}
    assert all("Svensson" not in q.reason for q in quarantined)


# --- A projection that meets a bad record -------------------------------------------------------


def test_a_batch_with_a_record_that_cannot_be_opened_is_applied_without_it_and_the_record_is_quarantined(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    keys = MemoryKeyStore()
    batch = [record(0, b"\xc3\x01 not really"), record(1, codec.encode(parse_event(person("C-2"))))]
    apply_batch(engine, RegisterProjection(), batch, keys)
    with Session(engine) as session:
        assert session.get(CustomerRow, "C-2") is not None
        assert [(q.offset, q.code) for q in session.scalars(select(QuarantineRow))] == [(0, "UNKNOWN_SCHEMA")]
    assert stored_offsets(engine, "register", TOPIC) == {0: 2}


class RefusesOneCustomer(RegisterProjection):
    """A register whose database refuses one customer's rows, as PostgreSQL refuses a NUL in text."""

    def apply(self, session, batch):  # type: ignore[no-untyped-def]
        if any(logged.event.customer_id == "C-bad" for logged in batch):
            raise DBAPIError("INSERT", {}, ValueError("invalid byte sequence"))  # refused: not an outage
        super().apply(session, batch)


def test_a_record_the_database_refuses_is_found_and_quarantined_and_its_neighbours_are_applied(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    events = [parse_event(person(c, identity_number="194107086995")) for c in ("C-1", "C-bad", "C-3")]
    batch = [record(n, codec.encode(event)) for n, event in enumerate(events)]
    quarantined = apply_batch(engine, RefusesOneCustomer(), batch, MemoryKeyStore())
    assert [(q.record.offset, q.code) for q in quarantined] == [(1, "UNWRITABLE")]
    with Session(engine) as session:
        assert {c.customer_id for c in session.scalars(select(CustomerRow))} == {"C-1", "C-3"}
    assert stored_offsets(engine, "register", TOPIC) == {0: 3}


# --- Logs during an outage ----------------------------------------------------------------------


def test_a_reconnect_message_repeated_thousands_of_times_is_logged_once_per_window():
    limiter = RepeatLimiter(window=60)
    passed = [
        limiter.filter(logging.LogRecord("aiokafka", logging.ERROR, "conn.py", 1, "Unable connect to node with id %s", (1,), None))
        for _ in range(2000)
    ]
    assert passed.count(True) == 1
    other = logging.LogRecord("aiokafka", logging.ERROR, "conn.py", 1, "Another problem", (), None)
    assert limiter.filter(other)
