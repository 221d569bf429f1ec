"""Publishing events to the intake topic, for upstream systems.

Events are keyed by customer id, so each customer's events stay in order, and
produced with an idempotent producer that waits for every in-sync replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber

from events import codec
from events.catalog import Event
from events.convert import InvalidEvent
from events.jsonlines import parse_lines
from registervard.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class PublishReport:
    """What happened to a file: how many events were published, and every line rejected."""

    accepted: int = 0
    rejected: list[tuple[int, InvalidEvent]] = field(default_factory=list)


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
        encoded = [(event.customer_id.encode(), codec.encode(event)) for event in events]
        for attempt in range(3):
            try:
                return await self._send_all(encoded)
            except OutOfOrderSequenceNumber:
                # aiokafka's idempotent producer halts on this until restarted (aiokafka#1017).
                # Resending is safe: a repeated event id takes effect once.
                log.warning("producer_restarted", reason="OutOfOrderSequenceNumber", attempt=attempt + 1)
                assert self._producer is not None
                await self._producer.stop()
                await self._start()
        raise RuntimeError("the Kafka producer kept failing with OutOfOrderSequenceNumber")

    async def _send_all(self, encoded: list[tuple[bytes, bytes]]) -> int:
        assert self._producer is not None, "use Publisher as an async context manager"
        futures = [await self._producer.send(self.topic, key=key, value=value) for key, value in encoded]
        await asyncio.gather(*futures)
        return len(futures)


async def publish_file(
    path: Path,
    settings: Settings,
    *,
    all_or_nothing: bool = False,
    chunk_size: int = 1000,
    on_progress: Callable[[int, int], None] | None = None,
) -> PublishReport:
    """Validate every line of a JSON Lines file and publish the valid ones.

    Nothing is published from a bad line: the report lists each one with its
    reason. With `all_or_nothing`, one bad line stops the whole file. Sending a
    corrected file again is safe: events already published keep their ids and
    take effect once.
    """
    report = PublishReport()
    events: list[Event] = []
    with path.open(encoding="utf-8") as lines:
        for parsed in parse_lines(lines):
            if parsed.error is not None:
                report.rejected.append((parsed.line_number, parsed.error))
            elif parsed.event is not None:
                events.append(parsed.event)
    if report.rejected and all_or_nothing:
        return report
    async with Publisher(settings) as publisher:
        for start in range(0, len(events), chunk_size):
            report.accepted += await publisher.publish(events[start : start + chunk_size])
            if on_progress:
                on_progress(report.accepted, len(events))
    log.info("file_published", events=report.accepted)
    return report
