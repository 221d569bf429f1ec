"""Reading and writing topics directly, the way an outside system would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def produce_raw(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Send bytes as they are, with no validation: a misbehaving upstream system."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, until: int | Callable[[list], bool], timeout: float = 60) -> list:
    """Every message of `topic` from the beginning, once `until` of them (or `until(messages)`) are there."""
    done = until if callable(until) else lambda messages: len(messages) >= until
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while not done(messages) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            messages += [m for batch in batches.values() for m in batch]
        await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return messages
