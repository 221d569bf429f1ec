"""Publishing events to the intake topic, for upstream systems.

Events are keyed by customer id, so each customer's events stay in order, and
produced with an idempotent producer that waits for every in-sync replica.

A file is streamed: read line by line, and published a chunk at a time as it
goes, so its size does not matter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber
from aiokafka.partitioner import DefaultPartitioner

from events import codec
from events.catalog import Event
from events.convert import InvalidEvent
from events.jsonlines import parse_lines, read_lines
from events.settings import Settings
from events.validation import check_encoded_size

log = structlog.get_logger(__name__)

_PARTITIONER = DefaultPartitioner()
"""The partitioner `AIOKafkaProducer.send` uses by default (murmur2 of the key, as the Java client)."""


@dataclass
class PublishReport:
    """What happened to a file: how many events were published, and every line rejected."""

    accepted: int = 0
    """Events the broker has acknowledged."""
    valid: int = 0
    """Lines that passed every check (with `check_only`: what would be published)."""
    rejected: list[tuple[int, InvalidEvent]] = field(default_factory=list)
    published_through: int = 0
    """Line number up to which every valid line has been published."""


class PublishInterrupted(Exception):
    """The broker failed part way through a file; `report` says what was published before."""

    def __init__(self, report: PublishReport, cause: KafkaError) -> None:
        self.report = report
        self.cause = cause
        done = (
            f"after {report.accepted} event(s) were published, every valid line up to line {report.published_through}"
            if report.accepted
            else "before any event was published"
        )
        super().__init__(f"Kafka failed ({type(cause).__name__}) {done}")


class _Message(NamedTuple):
    line_number: int
    key: bytes
    value: bytes


class Publisher:
    """Sends events to the intake topic. Use as `async with Publisher(settings) as p`."""

    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.intake_topic
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Publisher:
        await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def _start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
        )
        await self._producer.start()

    async def publish(self, events: Iterable[Event]) -> int:
        """Send events and wait until the broker has them all; return how many."""
        return await self.publish_encoded([(event.customer_id.encode(), codec.encode(event)) for event in events])

    async def publish_encoded(self, encoded: list[tuple[bytes, bytes]]) -> int:
        """Send (key, encoded event) pairs and wait until the broker has them all; return how many."""
        for attempt in range(3):
            try:
                return await self._send_all(encoded)
            except OutOfOrderSequenceNumber:
                if attempt == 2:
                    raise
                # aiokafka's idempotent producer halts on this until restarted (aiokafka#1017).
                # Resending is safe: a repeated event id takes effect once.
                log.warning("producer_restarted", reason="OutOfOrderSequenceNumber", attempt=attempt + 1)
                assert self._producer is not None
                await self._producer.stop()
                await self._start()
        raise AssertionError("unreachable")

    async def _send_all(self, encoded: list[tuple[bytes, bytes]]) -> int:
        """Queue every message, a record batch per partition, then wait for the broker to acknowledge them all.

        Batches are built here rather than by `send` per message (about twice as fast for large chunks): the
        partition is the one `send` would choose (the default partitioner over the key), so a customer's events
        still land on one partition in order.
        """
        producer = self._producer
        assert producer is not None, "use Publisher as an async context manager"
        if not encoded:
            return 0
        partitions = sorted(await producer.partitions_for(self.topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for message in encoded:
            by_partition.setdefault(_PARTITIONER(message[0], partitions, partitions), []).append(message)
        futures: list[asyncio.Future[object]] = []
        for partition, messages in by_partition.items():
            batch = producer.create_batch()
            for key, value in messages:
                if batch.append(key=key, value=value, timestamp=None) is not None:
                    continue
                if batch.record_count():  # full: send it and start the next with this message
                    futures.append(await producer.send_batch(batch, self.topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is not None:
                        continue
                # larger than a batch on its own: `send` takes it (or says why not)
                futures.append(await producer.send(self.topic, key=key, value=value, partition=partition))
                batch = producer.create_batch()
            if batch.record_count():
                futures.append(await producer.send_batch(batch, self.topic, partition=partition))
        await asyncio.gather(*futures)
        return len(encoded)


async def publish_file(
    path: Path,
    settings: Settings,
    *,
    all_or_nothing: bool = False,
    check_only: bool = False,
    chunk_size: int = 1000,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> PublishReport:
    """Validate every line of a JSON Lines file and publish the valid ones, a chunk at a time.

    Nothing is published from a bad line: the report lists each one with its
    reason. With `all_or_nothing`, a first pass checks the whole file and one
    bad line stops it; with `check_only`, that pass is all (no broker is
    contacted). A broker failure part way raises PublishInterrupted, saying how
    far the file got. Sending a file again is safe: events already published
    keep their ids and take effect once.
    """
    moment = datetime.now(UTC)  # one default recorded_at for every pass over the file
    total = None
    if check_only or all_or_nothing:
        checked = PublishReport()
        for _ in _messages(path, moment, checked):
            if on_progress and checked.valid % chunk_size == 0:
                on_progress(checked.valid, None)
        if on_progress:
            on_progress(checked.valid, checked.valid)
        if check_only or checked.rejected:
            return checked
        total = checked.valid
    report = PublishReport()
    async with Publisher(settings) as publisher:
        chunk: list[_Message] = []
        for message in _messages(path, moment, report):
            chunk.append(message)
            if len(chunk) == chunk_size:
                await _send(publisher, chunk, report, on_progress, total)
        await _send(publisher, chunk, report, on_progress, total)
    log.info("file_published", events=report.accepted)
    return report


def _messages(path: Path, moment: datetime, report: PublishReport) -> Iterator[_Message]:
    """The encoded event of each valid line of a file, read line by line; each rejected line goes to the report."""
    with path.open("rb") as stream:
        for parsed in parse_lines(read_lines(stream), now=moment):
            error = parsed.error
            if parsed.event is not None:
                value = codec.encode(parsed.event)
                try:
                    check_encoded_size(value, parsed.event)  # names the field that holds most of it
                except InvalidEvent as too_large:
                    error = too_large
                else:
                    report.valid += 1
                    yield _Message(parsed.line_number, parsed.event.customer_id.encode(), value)
                    continue
            assert error is not None
            report.rejected.append((parsed.line_number, error))


async def _send(
    publisher: Publisher,
    chunk: list[_Message],
    report: PublishReport,
    on_progress: Callable[[int, int | None], None] | None,
    total: int | None,
) -> None:
    """Publish one chunk of a file and empty it; PublishInterrupted if the broker fails."""
    if not chunk:
        return
    try:
        report.accepted += await publisher.publish_encoded([(m.key, m.value) for m in chunk])
    except KafkaError as error:
        raise PublishInterrupted(report, error) from error
    report.published_through = chunk[-1].line_number
    chunk.clear()
    if on_progress:
        on_progress(report.accepted, total)
