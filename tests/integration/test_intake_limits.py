"""Issue 13: the input limits hold for bytes that reach the intake topic without `registervard publish`. The real
worker refuses each as a dead letter naming the field, and goes on admitting the rest."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from events import codec
from events.catalog import AddressChanged, PostalAddress
from events.jsonlines import parse_event
from events.limits import LIMITS
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from tests.builders import envelope, person
from tests.conftest import running_worker
from tests.integration.kafka_helpers import produce_raw, read_topic

pytestmark = pytest.mark.kafka


def moved(customer_id: str, *, occurred: datetime, recorded: datetime | None = None, street: str = "Ågatan 2") -> AddressChanged:
    """An AddressChanged with both times set, as an upstream system writing Avro itself would send it."""
    header = dataclasses.replace(envelope(customer_id, on=occurred), recorded_at=recorded or occurred)
    return AddressChanged(envelope=header, effective_date=occurred.date(), address=PostalAddress(street=street, postal_code="22100", city="Lund"))


async def test_facts_from_the_future_and_oversized_fields_sent_as_raw_bytes_become_dead_letters_naming_the_field(kafka, tmp_path):
    settings = Settings(kafka=kafka, topic_prefix=f"test-{uuid.uuid4().hex[:8]}", database_url=f"sqlite:///{tmp_path / 'register.db'}")
    await ensure_topics(settings)
    customer = f"C-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(microsecond=0)
    sent = {
        "in 2099": moved(customer, occurred=datetime(2099, 1, 1, tzinfo=UTC), recorded=datetime(2099, 1, 1, tzinfo=UTC)),
        "tomorrow, recorded now": moved(customer, occurred=now + timedelta(days=1), recorded=now),
        "a street over its limit": moved(customer, occurred=now - timedelta(days=1), street="x" * (LIMITS.max_chars("street") + 1)),
        "an event over the size limit": moved(customer, occurred=now - timedelta(days=1), street="x" * (LIMITS.max_event_bytes + 1)),
    }
    # A clock a minute ahead of ours: within the skew allowed, whenever the worker takes it in after this.
    within_skew = moved(customer, occurred=now + timedelta(minutes=1))

    with running_worker(settings, tmp_path / "worker.log"):
        async with Publisher(settings) as publisher:
            await publisher.publish([parse_event(person(customer))])
        await produce_raw(kafka, settings.intake_topic, [(customer.encode(), codec.encode(event)) for event in (*sent.values(), within_skew)])
        letters = [codec.decode_record(m.value)[1] for m in await read_topic(kafka, settings.dead_letter_topic, until=len(sent), timeout=90)]
        logged = await read_topic(kafka, settings.events_topic, until=2, timeout=90)

    refused = {what: (letter["reason_code"], letter["reason"].split(": ", 1)[0]) for what, letter in zip(sent, letters, strict=True)}
    assert refused == {
        "in 2099": ("IN_THE_FUTURE", "occurred_at"),
        "tomorrow, recorded now": ("IN_THE_FUTURE", "occurred_at"),
        "a street over its limit": ("FIELD_TOO_LONG", "address.street"),
        "an event over the size limit": ("EVENT_TOO_LARGE", "address.street"),
    }
    assert [codec.decode(m.value).event_id for m in logged][1:] == [within_skew.event_id]  # after the registration
