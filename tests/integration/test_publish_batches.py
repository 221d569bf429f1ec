"""The publisher sends large chunks as record batches per partition: every message arrives once, on the partition
`send` would have chosen for its key, a customer's messages in the order given, and a message too large for a batch
still goes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace

import pytest
from aiokafka.partitioner import DefaultPartitioner

from events.publish import Publisher
from events.topics import ensure_topics, partitions_of
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka


async def test_a_large_chunk_arrives_whole_keyed_and_in_order(settings):
    mine = replace(settings, topic_prefix=f"{settings.topic_prefix}-{uuid.uuid4().hex[:6]}")
    await ensure_topics(mine)
    customers = [f"C-{n:05d}".encode() for n in range(700)]
    # Each customer's messages numbered in order, interleaved with the others', and one over the 256 KiB batch size.
    messages = [(key, f"{key.decode()}#{turn}".encode()) for turn in range(6) for key in customers]
    messages.insert(1234, (b"C-big", b"x" * 300_000))
    async with Publisher(mine) as publisher:
        assert await publisher.publish_encoded(messages) == len(messages)

    received = await read_topic(mine.kafka, mine.intake_topic, until=len(messages))
    assert sorted((m.key, m.value) for m in received) == sorted(messages)
    partitions = sorted(await partitions_of(mine, mine.intake_topic))
    assert len(partitions) > 1
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for message in sorted(received, key=lambda m: (m.partition, m.offset)):
        assert message.partition == DefaultPartitioner()(message.key, partitions, partitions)
        by_key[message.key].append(message.value)
    for key in customers:
        assert by_key[key] == [f"{key.decode()}#{turn}".encode() for turn in range(6)]
