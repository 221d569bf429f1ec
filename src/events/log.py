"""Reading the canonical event log from the beginning, as the processors and replays do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from events import codec
from events.catalog import Event
from events.topics import partitions_of
from registervard.settings import Settings


async def read_log(
    settings: Settings,
    *,
    partitions: list[int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[Event]:
    """Every event in the log up to its end when reading began, in order within each partition."""
    topic = settings.events_topic
    numbers = partitions if partitions is not None else await partitions_of(settings, topic)
    assigned = [TopicPartition(topic, n) for n in numbers]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        starts = await consumer.beginning_offsets(assigned)
        total = sum(ends[tp] - starts[tp] for tp in assigned)
        remaining = {tp for tp in assigned if ends[tp] > starts[tp]}
        await consumer.seek_to_beginning(*assigned)
        done = 0
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        break
                    yield codec.decode(message.value)
                    done += 1
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
            if on_progress:
                on_progress(done, total)
    finally:
        await consumer.stop()
