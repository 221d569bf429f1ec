"""How far the register has come: customers by status, and events not yet applied."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.topics import partitions_of
from projections.runner import stored_offsets
from projections.tables import CustomerRow, connect
from registervard.settings import Settings


@dataclass(frozen=True)
class RegisterStatus:
    """Customers per status, events in the log, and how many of those the register has still to apply."""

    customers: dict[str, int]
    events_in_log: int
    lag: int


async def register_status(settings: Settings) -> RegisterStatus:
    """Count the register's customers and compare its stored offsets with the log's end."""
    engine = connect(settings.database_url)
    try:
        with Session(engine) as session:
            customers = dict(session.execute(select(CustomerRow.status, func.count()).group_by(CustomerRow.status)).all())
        applied = stored_offsets(engine, "register", settings.events_topic)
    finally:
        engine.dispose()
    partitions = [TopicPartition(settings.events_topic, n) for n in await partitions_of(settings, settings.events_topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions) if partitions else {}
        starts = await consumer.beginning_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()
    in_log = sum(ends[tp] - starts[tp] for tp in partitions)
    lag = sum(ends[tp] - max(applied.get(tp.partition, 0), starts[tp]) for tp in partitions)
    return RegisterStatus(customers=customers, events_in_log=in_log, lag=lag)
