"""The downstream publisher: each changed customer's current record to the compacted topic `<prefix>.customers`.

The register projection writes, in its own transaction, one `downstream_outbox`
row per customer whose register row changed. This loop takes a chunk of those
customers, reads each one's register row, and produces a `CustomerSnapshot`
(Avro single-object encoding, `schemas/CustomerSnapshot.avsc`) keyed by
customer id, or a tombstone for an erased customer, and for a customer merged
into another as a duplicate: that tombstone carries the header
`registervard-merged-into` (the kept customer's id, UTF-8), and the kept
customer's snapshot lists the ids merged into it (`merged_customer_ids`), a
pointer that outlives the tombstone in the compacted topic. Once Kafka has
acknowledged them all it deletes those outbox rows, each only if the register
row is still the one that was sent (same `events_applied`); a customer who
changed meanwhile keeps the row and is sent again in the next round.

Delivery is at least once: a crash after the acknowledgement and before the
delete sends the same snapshot again, which is harmless because a snapshot is
the whole record and the topic is compacted. What downstream may see is the
register row, which already leaves out a protected identity's name and
address: this module never reads the fold's full state.

Run one publisher per register database: snapshots of one customer then reach
the topic in the order the register changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber
from sqlalchemy import and_, case, delete, exists, false, or_, select
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import Session

from events import codec
from events.retry import in_thread_with_retry, with_retry
from events.settings import Settings
from projections.database import connect
from projections.merges import merged_customers, merged_into
from projections.tables import CustomerRow, OutboxRow

log = structlog.get_logger(__name__)

ERASED = "ERASED"

MERGED_INTO_HEADER = "registervard-merged-into"
"""The header of a merged customer's tombstone: the id of the customer they were merged into."""


@dataclass(frozen=True)
class Pending:
    """One customer to publish: the message, and the register row's version it was made from."""

    customer_id: str
    version: int | None
    """The row's events_applied when read; None when the customer has no register row."""
    value: bytes | None
    """The encoded snapshot, or None for a tombstone."""
    merged_into: str | None = None
    """For a tombstone of a customer merged into another: that customer (the `MERGED_INTO_HEADER`)."""

    @property
    def headers(self) -> list[tuple[str, bytes]] | None:
        """The message's headers: the pointer of a merged customer's tombstone; None for every other message."""
        return [(MERGED_INTO_HEADER, self.merged_into.encode())] if self.merged_into is not None and self.value is None else None


def snapshot(row: CustomerRow, merged: Sequence[str] = ()) -> dict[str, Any]:
    """The CustomerSnapshot datum of a register row (which already omits a protected identity's name and address), and
    the ids of the customers `merged` into it."""
    name = {"given_names": row.given_names, "surname": row.surname} if row.given_names is not None and row.surname is not None else None
    address = (
        {"care_of": row.care_of, "street": row.street, "postal_code": row.postal_code, "city": row.city, "country": row.country or "SE"}
        if row.street is not None and row.postal_code is not None and row.city is not None
        else None
    )
    contact = {"phone": row.phone, "email": row.email} if row.phone or row.email else None
    return {
        "customer_id": row.customer_id,
        "kind": row.kind,
        "status": row.status,
        "protected": bool(row.protected),
        "identity_number": row.identity_number,
        "name": None if row.protected else name,
        "company_name": row.company_name,
        "address": None if row.protected else address,
        "address_since": None if row.protected or address is None else row.address_since,
        "contact": contact,
        "civil_status": row.civil_status,
        "deceased_on": row.deceased_on,
        "emigrated_on": row.emigrated_on,
        "active_consents": row.active_consents or 0,
        "nix_registered": bool(row.nix_registered),
        "version": row.events_applied or 0,
        "updated_at": row.updated_at,
        "immigrated_on": row.immigrated_on,
        "deregistered_on": row.deregistered_on,
        "deregistration_cause": row.deregistration_cause,
        "contact_person_for": row.contact_person_for,
        "marketing_opt_outs": row.marketing_opt_outs.split(",") if row.marketing_opt_outs else [],
        "merged_customer_ids": list(merged),
    }


def read_pending(engine: Engine, limit: int) -> list[Pending]:
    """Up to `limit` customers from the outbox, each with the message their register row makes now."""
    with Session(engine) as session:
        ids = list(session.scalars(select(OutboxRow.customer_id).order_by(OutboxRow.customer_id).limit(limit)))
        rows = {row.customer_id: row for row in session.scalars(select(CustomerRow).where(CustomerRow.customer_id.in_(ids)))} if ids else {}
        # Merges are rare: two indexed look-ups per chunk, and one per customer without a row (erased or merged).
        merged = merged_customers(session, [c for c, row in rows.items() if row.status != ERASED])
        pointers = {c: merged_into(session, c) for c in ids if c not in rows}
    pending = []
    for customer_id in ids:
        row = rows.get(customer_id)
        if row is None or row.status == ERASED:
            pending.append(Pending(customer_id, row.events_applied if row else None, None, pointers.get(customer_id)))
        else:
            datum = snapshot(row, merged.get(customer_id, ()))
            pending.append(Pending(customer_id, row.events_applied, codec.encode_record("CustomerSnapshot", datum)))
    return pending


def acknowledge(engine: Engine, sent: Sequence[Pending]) -> int:
    """Delete the outbox rows of customers whose register row is still the one sent; return how many were deleted.

    On PostgreSQL the register rows are locked first (FOR UPDATE), so a
    projection transaction that changed one and has not committed yet is
    waited for and then seen; on SQLite the one DELETE below is atomic
    against the one writer at a time.
    """
    if not sent:
        return 0
    ids = [p.customer_id for p in sent]
    versions = {p.customer_id: p.version for p in sent if p.version is not None}
    gone = [p.customer_id for p in sent if p.version is None]
    # One DELETE for the whole chunk (a statement per customer took a fifth of the projection process's time): a row
    # goes when its customer's register row still has the version sent, or, for a customer sent as gone, has none.
    register_row = CustomerRow.customer_id == OutboxRow.customer_id
    still_sent = exists().where(register_row, CustomerRow.events_applied == case(versions, value=OutboxRow.customer_id)) if versions else false()
    still_gone = and_(OutboxRow.customer_id.in_(gone), ~exists().where(register_row)) if gone else false()
    with Session(engine) as session, session.begin():
        locking = select(CustomerRow.customer_id).where(CustomerRow.customer_id.in_(ids)).order_by(CustomerRow.customer_id)
        session.execute(locking.with_for_update()).all()  # in customer order, as the projection writes: no deadlock
        # A DELETE's result is a CursorResult (with rowcount); Session.execute is typed to return the base Result.
        result = cast(CursorResult[Any], session.execute(delete(OutboxRow).where(OutboxRow.customer_id.in_(ids), or_(still_sent, still_gone))))
        deleted = result.rowcount or 0
    return deleted


async def run_downstream_publisher(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    until_empty: bool = False,
    engine: Engine | None = None,
    chunk_size: int = 500,
    poll_seconds: float = 0.5,
) -> int:
    """Publish changed customers until `stop` is set (or, with until_empty, until the outbox is empty). Returns messages sent."""
    budget = settings.retry_seconds  # a database or broker that is down is waited for, then the process exits
    if engine is None:
        engine = await in_thread_with_retry(connect, settings.database_url, what="connect to the register database", budget=budget)
    stop = stop or asyncio.Event()
    topic = settings.customers_topic
    producer = await with_retry(lambda: _start_producer(settings), what="connect to Kafka", budget=budget)
    total = 0
    try:
        while not stop.is_set():
            pending = await in_thread_with_retry(read_pending, engine, chunk_size, what="read the outbox", budget=budget)
            if not pending:
                if until_empty:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
                continue
            try:
                send = partial(_send_all, producer, topic, pending)
                await with_retry(send, what="publish snapshots downstream", budget=budget)  # the rows stay until sent
            except OutOfOrderSequenceNumber:
                # aiokafka's idempotent producer halts on this until restarted (aiokafka#1017); the outbox
                # rows are still there, so the next round sends them again.
                log.warning("producer_restarted", reason="OutOfOrderSequenceNumber")
                await producer.stop()
                producer = await _start_producer(settings)
                continue
            deleted = await in_thread_with_retry(acknowledge, engine, pending, what="empty the outbox", budget=budget)
            total += len(pending)
            log.info(
                "snapshots_published",
                topic=topic,
                snapshots=sum(1 for p in pending if p.value is not None),
                tombstones=sum(1 for p in pending if p.value is None),
                changed_meanwhile=len(pending) - deleted,
            )
    finally:
        await producer.stop()
    return total


async def _send_all(producer: AIOKafkaProducer, topic: str, pending: Sequence[Pending]) -> None:
    """Send snapshots and wait until the broker has them all."""
    futures = [await producer.send(topic, key=p.customer_id.encode(), value=p.value, headers=p.headers) for p in pending]
    await asyncio.gather(*futures)


async def _start_producer(settings: Settings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, enable_idempotence=True, acks="all", linger_ms=5)
    await producer.start()
    return producer
