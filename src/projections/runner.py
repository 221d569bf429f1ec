"""Runs projections: reads the event log and applies it batch by batch, exactly once in effect.

Each projection takes every partition of the log itself (no consumer group)
and starts each one at the offset stored in its own database, because that
offset was committed in the same transaction as the rows it produced. Kafka's
committed offsets are never used, so a crash at any point neither loses nor
doubles an event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from events import codec
from events.catalog import Event
from events.log import LogRecord
from events.sealing import KeyStore, unseal_all
from events.topics import partitions_of
from projections.sql import upsert
from projections.keys import key_store, key_store_for_engine
from projections.tables import OffsetRow, connect
from registervard.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LoggedEvent:
    """An event and where in the log it stands."""

    record: LogRecord
    event: Event


class Projection(Protocol):
    """A read model built from the event log."""

    name: str
    """Stable name; its offsets are stored under it."""

    def apply(self, session: Session, batch: Sequence[LoggedEvent]) -> None:
        """Apply events in log order, inside the caller's transaction."""


def stored_offsets(engine: Engine, projection: str, topic: str) -> dict[int, int]:
    """The next offset to read for each partition of `topic`, as `projection` last committed."""
    with Session(engine) as session:
        rows = session.scalars(select(OffsetRow).where(OffsetRow.projection == projection, OffsetRow.topic == topic))
        return {row.partition: row.next_offset for row in rows}


def apply_batch(engine: Engine, projection: Projection, records: Sequence[LogRecord], keys: KeyStore | None = None) -> None:
    """Apply log records and remember the offsets after them, in one transaction.

    Events reach the projection unsealed (`keys`, default: the key store in the
    projection's own database); `record.value` stays the stored bytes, sealed.
    """
    keys = keys if keys is not None else key_store_for_engine(engine)
    events = unseal_all((codec.decode(record.value) for record in records), keys)  # the log holds only admitted events
    batch = [LoggedEvent(record, event) for record, event in zip(records, events)]
    next_offsets: dict[tuple[str, int], int] = {}
    for record in records:
        next_offsets[(record.topic, record.partition)] = record.offset + 1
    with Session(engine) as session, session.begin():
        projection.apply(session, batch)
        upsert(
            session,
            OffsetRow,
            [{"projection": projection.name, "topic": t, "partition": p, "next_offset": o} for (t, p), o in next_offsets.items()],
        )


TRANSIENT_ERRORS = {"DeadlockDetected", "SerializationFailure", "LockNotAvailable"}


def apply_with_retry(
    engine: Engine, projection: Projection, records: Sequence[LogRecord], attempts: int = 5, keys: KeyStore | None = None
) -> None:
    """apply_batch, tried again after a deadlock or a busy database: the failed transaction left nothing behind."""
    for attempt in range(1, attempts + 1):
        try:
            return apply_batch(engine, projection, records, keys)
        except OperationalError as error:
            transient = type(error.orig).__name__ in TRANSIENT_ERRORS or "database is locked" in str(error.orig)
            if not transient or attempt == attempts:
                raise
            log.warning("batch_retried", projection=projection.name, reason=type(error.orig).__name__, attempt=attempt)
            time.sleep(0.05 * 2**attempt)


async def run_projection(
    settings: Settings,
    projection: Projection,
    *,
    engine: Engine | None = None,
    stop: asyncio.Event | None = None,
    until_caught_up: bool = False,
    max_batch: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Apply the log to `projection` until `stop` is set (or, with until_caught_up, until the end). Returns events read."""
    engine = engine or connect(settings.database_url)
    keys = key_store(settings)
    stop = stop or asyncio.Event()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    total = 0
    try:
        partitions = await _assign_from_stored_offsets(consumer, engine, projection.name, settings)
        while not stop.is_set():
            batches = await consumer.getmany(*partitions, timeout_ms=200, max_records=max_batch)
            records = [
                LogRecord(topic=m.topic, partition=m.partition, offset=m.offset, value=m.value)
                for messages in batches.values()
                for m in messages
            ]
            if records:
                await asyncio.to_thread(apply_with_retry, engine, projection, records, 5, keys)
                total += len(records)
                log.info("batch_applied", projection=projection.name, events=len(records))
                if on_batch:
                    on_batch(total)
            elif until_caught_up and await _caught_up(consumer, partitions):
                break
    finally:
        await consumer.stop()
    return total


async def _assign_from_stored_offsets(
    consumer: AIOKafkaConsumer, engine: Engine, projection: str, settings: Settings
) -> list[TopicPartition]:
    topic = settings.events_topic
    numbers = await partitions_of(settings, topic)
    if not numbers:
        raise RuntimeError(f"topic {topic} does not exist; run `registervard topics create` or start the worker")
    partitions = [TopicPartition(topic, n) for n in numbers]
    consumer.assign(partitions)
    offsets = stored_offsets(engine, projection, topic)
    for tp in partitions:
        if tp.partition in offsets:
            consumer.seek(tp, offsets[tp.partition])
        else:
            await consumer.seek_to_beginning(tp)
    log.info("projection_started", projection=projection, topic=topic, partitions=len(partitions), resumed=len(offsets))
    return partitions


async def _caught_up(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> bool:
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        if await consumer.position(tp) < ends[tp]:
            return False
    return True
