"""Runs projections: reads the event log and applies it batch by batch, exactly once in effect.

Each projection takes every partition of the log itself (no consumer group)
and starts each one at the offset stored in its own database, because that
offset was committed in the same transaction as the rows it produced. Kafka's
committed offsets are never used, so a crash at any point neither loses nor
doubles an event.

Nothing stops a projection for good:

* a record that cannot be opened (`events.event_log.open_records`) or written (the
  database refuses its rows) is quarantined: a `quarantine` row, in the same
  transaction as the batch, a warning and a metric; the projection goes on;
* a database or broker that is down is retried with backoff
  (`events.retry`); after `settings.retry_seconds` the process exits
  non-zero for its supervisor to restart it;
* every few seconds the projection writes a heartbeat with its lag
  (`projection_health`), which `/ready` reads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from events.event_log import LoggedEvent, LogRecord, Quarantined, log_consumer, open_records
from events.retry import in_thread_with_retry, is_transient, with_retry
from events.sealing import KeyStore
from events.settings import Settings
from events.topics import partitions_of
from projections import projection_metrics as metrics
from projections.data_keys import key_store_for_engine
from projections.database import connect
from projections.sql import upsert
from projections.tables import OffsetRow, ProjectionHealthRow, QuarantineRow

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 5.0
"""How often an idle or busy projection reports that it is alive."""

__all__ = ["LoggedEvent", "Projection", "apply_batch", "apply_with_retry", "run_projection", "stored_offsets"]


class Projection(Protocol):
    """A read model built from the event log."""

    name: str
    """Stable name; its offsets are stored under it."""

    def apply(self, session: Session, batch: Sequence[LoggedEvent]) -> None:
        """Apply events in log order, inside the caller's transaction."""


def stored_offsets(db: Engine | Connection | Session, projection: str, topic: str) -> dict[int, int]:
    """The next offset to read for each partition of `topic`, as `projection` last committed.

    Given a Connection or Session, it reads inside that transaction (the rebuild's
    swap reads them under its write lock); given an Engine, in one of its own.
    """
    query = select(OffsetRow.partition, OffsetRow.next_offset).where(OffsetRow.projection == projection, OffsetRow.topic == topic)
    if isinstance(db, Engine):
        with db.connect() as connection:
            return {partition: next_offset for partition, next_offset in connection.execute(query)}
    return {partition: next_offset for partition, next_offset in db.execute(query)}


def apply_batch(engine: Engine, projection: Projection, records: Sequence[LogRecord], keys: KeyStore | None = None) -> list[Quarantined]:
    """Apply log records and remember the offsets after them, in one transaction; return what was quarantined.

    Events reach the projection unsealed (`keys`, default: the key store in the
    projection's own database); `record.value` stays the stored bytes, sealed.
    If the database refuses the batch's rows for a reason other than being
    unreachable or busy, the records are applied one at a time and those it
    refuses are quarantined as UNWRITABLE.
    """
    keys = keys if keys is not None else key_store_for_engine(engine)
    opened, quarantined = OPENED.open(records, keys)
    try:
        _write(engine, projection, records, opened, quarantined)
        return quarantined
    except SQLAlchemyError as error:
        if is_transient(error):
            raise
        if len(records) == 1:
            reason = f"the register database refused its rows ({type(getattr(error, 'orig', None) or error).__name__})"
            unwritable = [Quarantined(records[0], "UNWRITABLE", reason)]
            _write(engine, projection, records, [], unwritable)
            return unwritable
    refused: list[Quarantined] = []
    for record in records:  # find the record the database refuses; the others go in as usual
        refused += apply_batch(engine, projection, [record], keys)
    return refused


class OpenedRecords:
    """The records the projections of this process opened lately, so that each record is decoded once, not once per projection.

    Every projection reads the same log, at about the same place, and decoding
    (`open_records`) was the largest single cost of a batch after the register's
    writes. An entry is used only for the same position, the same bytes and the
    same key store; the oldest go first once `capacity` are kept. Thread-safe:
    the projections apply their batches in threads of their own.
    """

    def __init__(self, capacity: int = 8000) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, int, int], tuple[bytes, KeyStore | None, LoggedEvent | Quarantined]] = OrderedDict()

    def open(self, records: Sequence[LogRecord], keys: KeyStore | None) -> tuple[list[LoggedEvent], list[Quarantined]]:
        """As `events.event_log.open_records`: the events opened in log order, and those that cannot be opened."""
        known: dict[int, LoggedEvent | Quarantined] = {}
        with self._lock:
            for index, record in enumerate(records):
                entry = self._entries.get((record.topic, record.partition, record.offset))
                if entry is not None and entry[1] is keys and entry[0] == record.value:
                    known[index] = entry[2]
        missing = [record for index, record in enumerate(records) if index not in known]
        fresh_opened, fresh_quarantined = open_records(missing, keys) if missing else ([], [])
        outcome: dict[tuple[str, int, int], LoggedEvent | Quarantined] = {}
        fresh: list[LoggedEvent | Quarantined] = [*fresh_opened, *fresh_quarantined]
        for item in fresh:
            outcome[(item.record.topic, item.record.partition, item.record.offset)] = item
        with self._lock:
            for position, item in outcome.items():
                self._entries[position] = (item.record.value, keys, item)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        opened: list[LoggedEvent] = []
        quarantined: list[Quarantined] = []
        for index, record in enumerate(records):
            item = known.get(index) or outcome[(record.topic, record.partition, record.offset)]
            if isinstance(item, LoggedEvent):
                opened.append(item)
            else:
                quarantined.append(item)
        return opened, quarantined


OPENED = OpenedRecords()
"""Shared by every projection of the process."""


def _write(
    engine: Engine, projection: Projection, records: Sequence[LogRecord], opened: list[LoggedEvent], quarantined: list[Quarantined]
) -> None:
    next_offsets: dict[tuple[str, int], int] = {}
    for record in records:
        next_offsets[(record.topic, record.partition)] = record.offset + 1
    with Session(engine) as session, session.begin():
        if opened:
            projection.apply(session, opened)
        now = datetime.now(UTC)
        upsert(
            session,
            QuarantineRow,
            [
                {"projection": projection.name, "topic": q.record.topic, "partition": q.record.partition,
                 "offset": q.record.offset, "code": q.code, "reason": q.reason[:500], "quarantined_at": now}
                for q in quarantined
            ],
        )
        upsert(
            session,
            OffsetRow,
            [{"projection": projection.name, "topic": t, "partition": p, "next_offset": o} for (t, p), o in next_offsets.items()],
        )


TRANSIENT_ERRORS = {"DeadlockDetected", "SerializationFailure", "LockNotAvailable"}


def apply_with_retry(
    engine: Engine, projection: Projection, records: Sequence[LogRecord], attempts: int = 5, keys: KeyStore | None = None
) -> list[Quarantined]:
    """apply_batch, tried again at once after a deadlock or a busy database (an unreachable one is the caller's to wait for)."""
    for attempt in range(1, attempts + 1):
        try:
            return apply_batch(engine, projection, records, keys)
        except OperationalError as error:
            busy = type(error.orig).__name__ in TRANSIENT_ERRORS or "database is locked" in str(error.orig)
            if not busy or attempt == attempts:
                raise
            log.warning("batch_retried", projection=projection.name, reason=type(error.orig).__name__, attempt=attempt)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def report_quarantined(projection: str, quarantined: Sequence[Quarantined]) -> None:
    """Log and count records a projection skipped (where they lie and why; never their contents)."""
    for bad in quarantined:
        metrics.QUARANTINED.labels(projection=projection, code=bad.code).inc()
        log.warning(
            "record_quarantined", projection=projection, partition=bad.record.partition, offset=bad.record.offset, code=bad.code
        )


def beat(engine: Engine, projection: str, lag: int) -> None:
    """Record that `projection` is alive and `lag` events behind the log."""
    with Session(engine) as session, session.begin():
        upsert(session, ProjectionHealthRow, [{"projection": projection, "beat_at": datetime.now(UTC), "lag": lag}])


async def run_projection(
    settings: Settings,
    projection: Projection,
    *,
    keys: KeyStore,
    engine: Engine | None = None,
    stop: asyncio.Event | None = None,
    until_caught_up: bool = False,
    max_batch: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Apply the log to `projection` until `stop` is set (or, with until_caught_up, until the end). Returns events read.

    Events reach the projection unsealed with the customers' data keys in `keys`."""
    budget = settings.retry_seconds
    if engine is None:
        engine = await in_thread_with_retry(connect, settings.database_url, what="connect to the register database", budget=budget)
    stop = stop or asyncio.Event()
    consumer = log_consumer(settings)
    await with_retry(consumer.start, what="connect to Kafka", budget=budget)
    total = 0
    last_beat = float("-inf")
    try:
        partitions = await with_retry(
            lambda: _assign_from_stored_offsets(consumer, engine, projection.name, settings), what="find the log", budget=budget
        )
        while not stop.is_set():
            batches = await consumer.getmany(*partitions, timeout_ms=200, max_records=max_batch)
            records = [
                LogRecord(topic=m.topic, partition=m.partition, offset=m.offset, value=m.value)
                for messages in batches.values()
                for m in messages
            ]
            if records:
                with metrics.BATCH_SECONDS.labels(projection.name).time():
                    quarantined = await _apply_durably(engine, projection, records, keys, budget)
                report_quarantined(projection.name, quarantined)
                metrics.EVENTS_APPLIED.labels(projection.name).inc(len(records))
                total += len(records)
                log.info("batch_applied", projection=projection.name, events=len(records))
                if on_batch:
                    on_batch(total)
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                lag = await _lag(consumer, partitions, projection.name)
                await in_thread_with_retry(beat, engine, projection.name, lag, what="record the heartbeat", budget=budget)
                last_beat = time.monotonic()
            caught_up = lambda: _caught_up(consumer, partitions)  # noqa: E731
            if not records and until_caught_up and await with_retry(caught_up, what="read the log's end", budget=budget):
                break
    finally:
        await consumer.stop()
    return total


async def _apply_durably(
    engine: Engine, projection: Projection, records: Sequence[LogRecord], keys: KeyStore, budget: float
) -> list[Quarantined]:
    """Apply a batch, waiting out a database that is down; a retry skips what an unacknowledged commit did apply."""
    attempts = 0

    def attempt() -> list[Quarantined]:
        nonlocal attempts
        attempts += 1
        pending = records if attempts == 1 else _not_yet_applied(engine, projection.name, records)
        if attempts > 1:
            metrics.RETRIES.labels(projection.name).inc()
        return apply_with_retry(engine, projection, pending, 5, keys) if pending else []

    return await in_thread_with_retry(attempt, what=f"apply a batch to the {projection.name} projection", budget=budget)


def _not_yet_applied(engine: Engine, projection: str, records: Sequence[LogRecord]) -> list[LogRecord]:
    """The records past the offsets the projection has stored (a commit whose answer was lost did apply the others)."""
    stored = stored_offsets(engine, projection, records[0].topic)
    return [r for r in records if r.offset >= stored.get(r.partition, 0)]


async def _lag(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], projection: str) -> int:
    """Records behind the log's end as last seen by the consumer (no request to the broker)."""
    total = 0
    for tp in partitions:
        highwater = consumer.highwater(tp)
        behind = max(0, highwater - await consumer.position(tp)) if highwater is not None else 0
        metrics.LAG.labels(projection=projection, partition=str(tp.partition)).set(behind)
        total += behind
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
