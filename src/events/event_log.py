"""Reading the canonical event log: from the beginning (or given offsets) up to its end when reading began.

Every reader opens log records the same way, with `open_records`: decode, then
unseal with the customers' keys. A record that cannot be opened (bytes that are
not an event, a sealed field that does not verify) is quarantined: kept in the
log, reported to the caller with where it lies and why, and skipped, so that no
single record can stop a reader. Every reader skips the same records, so they
all agree on what the log says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from events import codec
from events.catalog import Event
from events.refusal import Refusal
from events.sealing import KeyStore, TamperedData, unseal_each
from events.settings import Settings
from events.topics import partitions_of

Progress = Callable[[int, int], None]
"""Called with (records read, records to read)."""


@dataclass(frozen=True)
class LogRecord:
    """One message of the canonical event log."""

    topic: str
    partition: int
    offset: int
    value: bytes
    """The message's bytes as stored in the log."""


@dataclass(frozen=True)
class LoggedEvent:
    """An event, opened, and where in the log it stands."""

    record: LogRecord
    event: Event


@dataclass(frozen=True)
class Quarantined:
    """A log record no reader can open: kept in the log, skipped by every reader, and reported."""

    record: LogRecord
    code: str
    """UNDECODABLE, UNKNOWN_SCHEMA, INVALID_EVENT or TAMPERED (another code: see `events.codec`)."""
    reason: str
    """What is wrong, never the data itself."""


def open_records(records: Sequence[LogRecord], keys: KeyStore | None) -> tuple[list[LoggedEvent], list[Quarantined]]:
    """Decode and unseal log records (with `keys`; None leaves them sealed), in order; what cannot be opened is quarantined."""
    decoded: list[tuple[LogRecord, Event]] = []
    quarantined: list[Quarantined] = []
    for record in records:
        try:
            decoded.append((record, codec.decode(record.value)))
        except Refusal as error:  # of the bytes (the codec's code), or of the event they hold (INVALID_EVENT)
            quarantined.append(Quarantined(record, error.code if error.code in codec.UNREADABLE else "INVALID_EVENT", str(error)))
    if keys is None:
        return [LoggedEvent(record, event) for record, event in decoded], quarantined
    opened: list[LoggedEvent] = []
    for (record, _), event in zip(decoded, unseal_each((event for _, event in decoded), keys), strict=False):
        if isinstance(event, TamperedData):
            quarantined.append(Quarantined(record, "TAMPERED", str(event)))
        else:
            opened.append(LoggedEvent(record, event))
    return opened, quarantined


OnQuarantine = Callable[[Quarantined], None]
"""Told about each record a reader skipped."""


async def read_log(
    settings: Settings,
    *,
    on_progress: Progress | None = None,
    keys: KeyStore,
    on_quarantine: OnQuarantine | None = None,
) -> AsyncIterator[Event]:
    """Every event in the log up to its end when reading began, in order within each partition, unsealed.

    Personal fields are opened with the customers' keys (`keys`); those of a
    customer whose key was destroyed stay sealed.
    A record that cannot be opened is skipped and handed to `on_quarantine`.
    """
    async for batch in read_log_records(settings, on_progress=on_progress):
        opened, quarantined = open_records(batch, keys)
        for bad in quarantined:
            if on_quarantine is not None:
                on_quarantine(bad)
        for logged in opened:
            yield logged.event


def log_consumer(settings: Settings) -> AIOKafkaConsumer:
    """A consumer for a reader of the log (not started): no group and no committed offsets, since every reader keeps
    its own place; committed records only; from the beginning unless told where."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )


async def log_partitions(settings: Settings) -> list[int]:
    """The events topic's partition numbers; an error if the topic does not exist."""
    numbers = await partitions_of(settings, settings.events_topic)
    if not numbers:
        raise RuntimeError(f"topic {settings.events_topic} does not exist; run `registervard topics create` or start the worker")
    return numbers


async def log_end_offsets(settings: Settings, partitions: Sequence[int] | None = None) -> dict[int, int]:
    """The events topic's end offset (next offset to be written) per partition, now."""
    numbers = list(partitions) if partitions is not None else await log_partitions(settings)
    return await end_offsets(settings, settings.events_topic, numbers)


async def end_offsets(settings: Settings, topic: str, partitions: Sequence[int] | None = None) -> dict[int, int]:
    """Any topic's end offset (next offset to be written; committed records only) per partition, now; all its
    partitions unless named, and none if it does not exist."""
    numbers = list(partitions) if partitions is not None else await partitions_of(settings, topic)
    if not numbers:
        return {}
    consumer = log_consumer(settings)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, n) for n in numbers])
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


async def read_log_records(
    settings: Settings,
    *,
    start: Mapping[int, int] | None = None,
    end: Mapping[int, int] | None = None,
    partitions: Sequence[int] | None = None,
    key: bytes | None = None,
    on_progress: Progress | None = None,
    max_batch: int = 5000,
) -> AsyncIterator[list[LogRecord]]:
    """Batches of log records, in order within each partition, from `start` (default: the beginning) up to `end`.

    `end` defaults to the end offsets when reading starts, so a log that keeps
    growing still gives a finite read. With `key`, only that key's records are
    yielded (the others are read and skipped).
    """
    topic = settings.events_topic
    if partitions is not None:
        numbers = list(partitions)
    elif end is not None:
        numbers = sorted(end)
    else:
        numbers = await log_partitions(settings)
    tps = [TopicPartition(topic, n) for n in numbers]
    consumer = log_consumer(settings)
    await consumer.start()
    try:
        consumer.assign(tps)
        beginnings = await consumer.beginning_offsets(tps)
        ends = {tp: end[tp.partition] for tp in tps} if end is not None else await consumer.end_offsets(tps)
        starts = {tp: max(beginnings[tp], (start or {}).get(tp.partition, 0)) for tp in tps}
        for tp in tps:
            consumer.seek(tp, starts[tp])
        total = sum(max(0, ends[tp] - starts[tp]) for tp in tps)
        remaining = {tp for tp in tps if starts[tp] < ends[tp]}
        done = 0
        if on_progress:
            on_progress(0, total)
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=max_batch)
            batch: list[LogRecord] = []
            for tp, messages in fetched.items():
                for m in messages:
                    if m.offset >= ends[tp]:
                        break
                    done += 1
                    if key is None or m.key == key:
                        batch.append(LogRecord(topic=m.topic, partition=m.partition, offset=m.offset, value=m.value))
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
            if batch:
                yield batch
            if on_progress:
                on_progress(min(done, total), total)
    finally:
        await consumer.stop()


