"""An operator corrects refused events from the command line and sends them again."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import pytest

from events import codec
from events.catalog import AddressChanged, Channel, ConsentGiven, ConsentPurpose, CustomerDeceased, PostalAddress
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from tests.builders import envelope, person
from tests.conftest import service_env
from tests.e2e.test_cli import registervard
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


def publish(settings, *events) -> None:
    async def send():
        async with Publisher(settings) as publisher:
            await publisher.publish(events)

    asyncio.run(send())


def in_log(settings, event_id) -> bool:
    messages = asyncio.run(
        read_topic(settings.kafka, settings.events_topic, until=lambda ms: any(codec.decode(m.value).event_id == event_id for m in ms), timeout=30)
    )
    return any(codec.decode(m.value).event_id == event_id for m in messages)


def dead_letter_refs(settings, customer: str, code: str) -> list[str]:
    """The refs of this customer's dead letters with `code`, once there, as `deadletters list` shows them."""

    def mine(messages):
        return [f"{m.partition}:{m.offset}" for m in messages if m.key == customer.encode() and codec.decode_record(m.value)[1]["reason_code"] == code]

    refs = mine(asyncio.run(read_topic(settings.kafka, settings.dead_letter_topic, until=mine, timeout=60)))
    assert refs, f"no {code} dead letter for {customer}"
    listed = registervard("deadletters", "list", "--code", code, env=service_env(settings))
    assert all(ref in listed.stdout for ref in refs)
    return refs


def test_an_event_that_came_before_its_customer_is_sent_again_once_the_customer_exists(settings, worker):
    customer = f"C-{uuid.uuid4().hex[:8]}"
    early = ConsentGiven(envelope=envelope(customer), purpose=ConsentPurpose.MARKETING, channel=Channel.EMAIL, company="Acme AB")
    publish(settings, early)
    refs = dead_letter_refs(settings, customer, "UNKNOWN_CUSTOMER")
    publish(settings, parse_event(person(customer)))

    result = registervard("deadletters", "retry", *refs, env=service_env(settings))
    assert result.returncode == 0 and "Sent 1 event(s)" in result.stdout
    assert in_log(settings, early.event_id)


def test_a_refused_event_is_exported_corrected_and_published_with_its_own_event_id(settings, worker, tmp_path):
    customer = f"C-{uuid.uuid4().hex[:8]}"
    wrong = AddressChanged(
        envelope=envelope(customer, on=date(2025, 3, 2)),
        effective_date=date(2025, 9, 1),  # a typo: after the death
        address=PostalAddress(street="Ny 1", postal_code="22100", city="Lund"),
    )
    death = CustomerDeceased(envelope=envelope(customer, on=date(2025, 5, 1)), date_of_death=date(2025, 5, 1))
    publish(settings, parse_event(person(customer)), death, wrong)
    [ref] = dead_letter_refs(settings, customer, "AFTER_DEATH")

    exported = tmp_path / "fix.jsonl"
    result = registervard("deadletters", "export", ref, "--output", str(exported), env=service_env(settings))
    assert result.returncode == 0
    document = json.loads(exported.read_text())
    assert document["event_id"] == str(wrong.event_id)
    document["effective_date"] = "2025-03-01"
    exported.write_text(json.dumps(document) + "\n")

    assert registervard("publish", str(exported), env=service_env(settings)).returncode == 0
    assert in_log(settings, wrong.event_id)
