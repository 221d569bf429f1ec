"""The downstream compacted topic through the real broker, on SQLite and PostgreSQL.

The register's changes reach `<prefix>.customers` as CustomerSnapshots keyed by
customer id; a protected identity never in clear, an erased customer as a tombstone.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from sqlalchemy import select
from sqlalchemy.orm import Session

from events import codec
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.database import connect
from projections.downstream import acknowledge, read_pending, run_downstream_publisher
from projections.register import RegisterProjection
from projections.runner import run_projection
from projections.tables import CustomerRow, OutboxRow
from tests.builders import line, person
from tests.conftest import eventually
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


@pytest.fixture
def register(settings, database_url):
    settings = replace(settings, database_url=database_url)
    engine = connect(database_url)
    yield settings, engine
    engine.dispose()


def new_customer() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


async def project_until(settings, engine, customer: str, events_applied: int) -> None:
    """Run the register projection until the customer's row has taken `events_applied` events (the worker may still be busy)."""

    async def probe():
        await run_projection(settings, RegisterProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
        with Session(engine) as session:
            row = session.get(CustomerRow, customer)
            return row is not None and row.events_applied >= events_applied

    await eventually(probe, what=f"{customer} in the register with {events_applied} event(s)")


async def snapshots_of(settings, customer: str, count: int) -> list:
    """The messages for `customer` on the customers topic, in offset order, once there are `count` of them."""
    key = customer.encode()
    messages = await read_topic(settings.kafka, settings.customers_topic, until=lambda ms: sum(m.key == key for m in ms) >= count, timeout=30)
    ours = sorted((m for m in messages if m.key == key), key=lambda m: m.offset)
    assert len(ours) >= count, f"{len(ours)} message(s) for {customer}, expected {count}"
    return ours


def outbox(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxRow.customer_id)))


async def test_a_protected_identity_reaches_downstream_without_name_or_address_and_supersedes_the_earlier_snapshot(settings, worker, register):
    settings, engine = register
    anna = new_customer()
    async with Publisher(settings) as publisher:
        await publisher.publish([parse_event(person(anna))])
    await project_until(settings, engine, anna, 1)
    assert await run_downstream_publisher(settings, engine=engine, until_empty=True) >= 1
    assert outbox(engine) == [], "acknowledged customers leave the outbox"
    (first,) = await snapshots_of(settings, anna, 1)
    name, clear = codec.decode_record(first.value)
    assert name == "CustomerSnapshot"
    assert (clear["name"]["surname"], clear["address"]["city"], clear["protected"], clear["version"]) == ("Svensson", "Stockholm", False, 1)

    async with Publisher(settings) as publisher:
        await publisher.publish([parse_event(line("ProtectedIdentitySet", anna, protection="SKYDDAD_FOLKBOKFORING"))])
    await project_until(settings, engine, anna, 2)
    await run_downstream_publisher(settings, engine=engine, until_empty=True)

    messages = await snapshots_of(settings, anna, 2)
    earlier, latest = messages[0], messages[-1]
    assert earlier.offset < latest.offset, "same key, later offset: compaction keeps only the latest"
    _, protected = codec.decode_record(latest.value)
    assert protected["protected"] is True
    assert (protected["name"], protected["address"], protected["address_since"]) == (None, None, None)
    assert protected["version"] >= 2
    assert b"Svensson" not in latest.value and b"Storgatan" not in latest.value, "not even in the bytes"
    assert outbox(engine) == []


async def test_an_erased_customer_becomes_a_tombstone(settings, worker, register):
    settings, engine = register
    bertil = new_customer()
    async with Publisher(settings) as publisher:
        await publisher.publish([parse_event(person(bertil))])
        await publisher.publish([parse_event(line("CustomerErased", bertil, reason="CUSTOMER_REQUEST"))])
    await project_until(settings, engine, bertil, 2)
    with Session(engine) as session:
        assert session.get(CustomerRow, bertil).status == "ERASED"
    await run_downstream_publisher(settings, engine=engine, until_empty=True)

    latest = (await snapshots_of(settings, bertil, 1))[-1]
    assert latest.value is None, "a tombstone: compaction removes every snapshot of the key"
    assert outbox(engine) == []


async def test_the_publisher_runs_until_stopped_and_publishes_changes_as_they_come(settings, worker, register):
    settings, engine = register
    cecilia = new_customer()
    stop = asyncio.Event()
    publishing = asyncio.create_task(run_downstream_publisher(settings, engine=engine, stop=stop, poll_seconds=0.1))
    try:
        async with Publisher(settings) as publisher:
            await publisher.publish([parse_event(person(cecilia))])
        await project_until(settings, engine, cecilia, 1)
        (snapshot,) = await snapshots_of(settings, cecilia, 1)
        assert codec.decode_record(snapshot.value)[1]["customer_id"] == cecilia
    finally:
        stop.set()
        sent = await asyncio.wait_for(publishing, timeout=30)
    assert sent >= 1


def test_an_outbox_row_stays_when_the_customer_changed_after_the_snapshot_was_read(register):
    _, engine = register
    with Session(engine) as session, session.begin():
        session.add(CustomerRow(customer_id="C-race", kind="PERSON", status="ACTIVE", protected=False, events_applied=1))
        session.add(OutboxRow(customer_id="C-race"))
    (read,) = read_pending(engine, 10)
    assert read.version == 1 and read.value is not None
    with Session(engine) as session, session.begin():  # the projection applies another event meanwhile
        session.get(CustomerRow, "C-race").events_applied = 2
    assert acknowledge(engine, [read]) == 0
    assert outbox(engine) == ["C-race"], "the newer record is still to be sent"
    (again,) = read_pending(engine, 10)
    assert again.version == 2
    assert acknowledge(engine, [again]) == 1
    assert outbox(engine) == []


async def test_the_customers_topic_is_compacted(settings):
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.customers_topic)])
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for resource in response.resources for entry in resource[4]}
    assert configs["cleanup.policy"] == "compact"
