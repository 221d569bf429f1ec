"""Keeps the register current: reads the event log and applies it batch by batch.

The projection takes every partition of the log itself (no consumer group) and
starts each one at the offset stored in its own database, because that offset
was committed with the rows it produced. Kafka's committed offsets are never used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.engine import Engine

from events.topics import partitions_of
from projections.register import LogRecord, apply_batch, stored_offsets
from projections.tables import connect
from registervard.settings import Settings

log = structlog.get_logger(__name__)


async def run_projection(
    settings: Settings,
    *,
    engine: Engine | None = None,
    stop: asyncio.Event | None = None,
    until_caught_up: bool = False,
    max_batch: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Apply the log to the register until `stop` is set (or, with until_caught_up, until the end). Returns events read."""
    engine = engine or connect(settings.database_url)
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
        partitions = await _assign_from_stored_offsets(consumer, engine, settings)
        while not stop.is_set():
            batches = await consumer.getmany(*partitions, timeout_ms=200, max_records=max_batch)
            records = [
                LogRecord(topic=m.topic, partition=m.partition, offset=m.offset, value=m.value)
                for messages in batches.values()
                for m in messages
            ]
            if records:
                result = await asyncio.to_thread(apply_batch, engine, records)
                total += len(records)
                log.info("batch_applied", events=result.applied, duplicates=result.duplicates)
                if on_batch:
                    on_batch(total)
            elif until_caught_up and await _caught_up(consumer, partitions):
                break
    finally:
        await consumer.stop()
    return total


async def _assign_from_stored_offsets(consumer: AIOKafkaConsumer, engine: Engine, settings: Settings) -> list[TopicPartition]:
    topic = settings.events_topic
    numbers = await partitions_of(settings, topic)
    if not numbers:
        raise RuntimeError(f"topic {topic} does not exist; run `registervard topics create` or start the worker")
    partitions = [TopicPartition(topic, n) for n in numbers]
    consumer.assign(partitions)
    offsets = stored_offsets(engine, topic)
    for tp in partitions:
        if tp.partition in offsets:
            consumer.seek(tp, offsets[tp.partition])
        else:
            await consumer.seek_to_beginning(tp)
    log.info("projection_started", topic=topic, partitions=len(partitions), resumed=len(offsets))
    return partitions


async def _caught_up(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> bool:
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        if await consumer.position(tp) < ends[tp]:
            return False
    return True
