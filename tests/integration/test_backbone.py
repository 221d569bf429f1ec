"""The backbone through the real broker and real databases: publish, admit, project."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from events import codec
from events.catalog import CustomerKind, CustomerRegistered, PersonName, Registration
from events.jsonlines import parse_event
from events.publish import Publisher
from events.sealing import unseal, unseal_bytes
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.read import customer_record
from projections.register import RegisterProjection
from projections.runner import run_projection
from tests.builders import envelope, person
from tests.conftest import eventually
from tests.integration.kafka_helpers import produce_raw, read_topic

pytestmark = pytest.mark.kafka


def new_customer() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def running_projection(settings, database_url):
    """The register projection running against `database_url` while the block runs."""
    settings = replace(settings, database_url=database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(run_projection(settings, RegisterProjection(), keys=key_store(settings), stop=stop))
    try:
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def record_of(settings, customer_id):
    async def probe():
        return customer_record(settings, customer_id)

    return probe


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


async def test_a_published_registration_reaches_the_register(settings, worker, database_url):
    customer = new_customer()
    async with Publisher(settings) as publisher:
        await publisher.publish([parse_event(person(customer))])
    async with running_projection(settings, database_url) as project:
        record = await eventually(record_of(project, customer), what="the customer in the register")
    assert (record["surname"], record["city"], record["status"]) == ("Svensson", "Stockholm", "ACTIVE")


async def test_an_invalid_event_lands_on_the_dead_letter_topic_with_its_reason_and_the_register_is_unchanged(
    settings, worker, database_url
):
    garbage, wrong_number, sentinel = new_customer(), new_customer(), new_customer()
    invalid = CustomerRegistered(
        envelope=envelope(wrong_number),
        customer_kind=CustomerKind.PERSON,
        registration=Registration(identity_number="198112189870", name=PersonName(given_names="A", surname="B")),
    )
    await produce_raw(settings.kafka, settings.intake_topic, [(garbage.encode(), b"not avro"), (wrong_number.encode(), codec.encode(invalid))])
    async with Publisher(settings) as publisher:
        await publisher.publish([parse_event(person(sentinel))])

    ours = {garbage.encode(), wrong_number.encode()}
    letters = await read_topic(settings.kafka, settings.dead_letter_topic, until=lambda ms: ours <= {m.key for m in ms})
    reasons = {m.key.decode(): codec.decode_record(m.value)[1] for m in letters}
    assert reasons[garbage]["reason_code"] == "UNDECODABLE"
    keys = key_store(settings)
    assert reasons[garbage]["value"] != b"not avro", "undecodable bytes are sealed whole with the key's customer's data key"
    assert unseal_bytes(reasons[garbage]["value"], garbage, keys) == b"not avro"
    assert b"198112189870" not in reasons[wrong_number]["value"], "a refused event's personal fields are sealed"
    assert unseal(codec.decode(reasons[wrong_number]["value"]), keys) == invalid
    assert reasons[wrong_number]["reason_code"] == "INVALID_IDENTITY_NUMBER"
    assert reasons[wrong_number]["reason"].startswith("registration.identity_number")
    assert reasons[wrong_number]["event_id"] == str(invalid.event_id)

    async with running_projection(settings, database_url) as project:
        await eventually(record_of(project, sentinel), what="the valid event published after the invalid ones")
        assert customer_record(project, garbage) is None
        assert customer_record(project, wrong_number) is None


async def test_the_same_event_published_twice_changes_the_register_once(settings, worker, database_url):
    customer = new_customer()
    registration = parse_event(person(customer))
    async with Publisher(settings) as publisher:
        await publisher.publish([registration])
        await publisher.publish([registration])
    # A worker that crashed after appending, before committing its intake offset, could append it again:
    await produce_raw(settings.kafka, settings.events_topic, [(customer.encode(), codec.encode(registration))])

    in_log = await read_topic(settings.kafka, settings.events_topic, until=lambda ms: sum(m.key == customer.encode() for m in ms) >= 2)
    assert sum(1 for m in in_log if m.key == customer.encode()) == 2, "the worker dropped the second publish; one copy came raw"

    async with running_projection(settings, database_url) as project:
        record = await eventually(record_of(project, customer), what="the customer in the register")
        await asyncio.sleep(1)  # give a second copy every chance to be applied
        record = customer_record(project, customer)
    assert record["events_applied"] == 1
