"""Customer life stories through the real broker: the worker's rules, consequences and timers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest

from events import codec
from events.catalog import (
    AddressChanged,
    Channel,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    CustomerDeceased,
    CustomerErased,
    ErasureReason,
    PersonalDataPurgeRequested,
    PostalAddress,
    ProtectedIdentitySet,
    Protection,
    WithdrawalReason,
)
from events.jsonlines import parse_event
from events.publish import Publisher
from events.sealing import unseal
from events.topics import ensure_topics
from processors.lifecycle import SOURCE, Admitted, Lifecycle
from projections.data_keys import key_store
from tests.builders import envelope, person
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka
ACME = "Acme AB"


def new_customer() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


async def publish(settings, *events) -> None:
    async with Publisher(settings) as publisher:
        await publisher.publish(events)


async def log_of(settings, customer: str, until) -> list:
    """The customer's events in the log, in order, once `until(events)` holds."""
    key = customer.encode()

    def mine(messages):
        return [unseal(codec.decode(m.value), key_store(settings)) for m in messages if m.key == key]  # the log holds sealed data

    messages = await read_topic(settings.kafka, settings.events_topic, until=lambda ms: until(mine(ms)))
    return mine(messages)


async def dead_letters_of(settings, customer: str, count: int) -> list[dict]:
    key = customer.encode()
    messages = await read_topic(settings.kafka, settings.dead_letter_topic, until=lambda ms: sum(m.key == key for m in ms) >= count)
    return [codec.decode_record(m.value)[1] for m in messages if m.key == key]


def consent(customer: str, on: date, **fields) -> ConsentGiven:
    fields.setdefault("purpose", ConsentPurpose.TELEMARKETING)
    return ConsentGiven(envelope=envelope(customer, on=on), channel=Channel.PHONE, company=ACME, **fields)


async def test_a_consent_given_on_1_january_with_a_nix_override_has_expired_on_1_april_with_no_further_event(settings, worker):
    anna = new_customer()
    given = consent(anna, date(2025, 1, 1), overrides_nix=True)
    await publish(settings, parse_event(person(anna)), given)
    events = await log_of(settings, anna, until=lambda es: any(isinstance(e, ConsentExpired) for e in es))
    [expired] = [e for e in events if isinstance(e, ConsentExpired)]
    assert expired.expired_on == date(2025, 4, 1)
    assert expired.envelope.occurred_at == datetime(2025, 4, 1, tzinfo=UTC)
    assert expired.envelope.causation_id == given.event_id and expired.envelope.source == SOURCE


async def test_a_death_cascades_to_every_consent(settings, worker):
    bertil = new_customer()
    consents = [consent(bertil, date(2025, 1, 5), purpose=ConsentPurpose.MARKETING), consent(bertil, date(2025, 1, 6), purpose=ConsentPurpose.PROFILING)]
    death = CustomerDeceased(envelope=envelope(bertil, on=date(2025, 2, 1)), date_of_death=date(2025, 2, 1))
    await publish(settings, parse_event(person(bertil)), *consents, death)
    events = await log_of(settings, bertil, until=lambda es: sum(isinstance(e, ConsentWithdrawn) for e in es) >= 2)
    withdrawn = [e for e in events if isinstance(e, ConsentWithdrawn)]
    assert {e.purpose for e in withdrawn} == {ConsentPurpose.MARKETING, ConsentPurpose.PROFILING}
    assert all(e.reason is WithdrawalReason.DECEASED and e.envelope.causation_id == death.event_id for e in withdrawn)
    assert events.index(death) < min(events.index(e) for e in withdrawn), "the withdrawals follow the death in the log"


async def test_a_protected_identity_sends_recipients_a_purge_request(settings, worker):
    cecilia = new_customer()
    protection = ProtectedIdentitySet(envelope=envelope(cecilia), protection=Protection.SKYDDAD_FOLKBOKFORING)
    await publish(settings, parse_event(person(cecilia)), protection)
    events = await log_of(settings, cecilia, until=lambda es: any(isinstance(e, PersonalDataPurgeRequested) for e in es))
    [purge] = [e for e in events if isinstance(e, PersonalDataPurgeRequested)]
    assert purge.envelope.causation_id == protection.event_id


async def test_events_that_contradict_what_we_know_go_to_dead_letters_with_their_reason(settings, worker):
    stranger, doris, erik = new_customer(), new_customer(), new_customer()
    late_move = AddressChanged(
        envelope=envelope(doris, on=date(2025, 7, 1)),
        effective_date=date(2025, 7, 1),
        address=PostalAddress(street="Ny 1", postal_code="22100", city="Lund"),
    )
    await publish(
        settings,
        consent(stranger, date(2025, 1, 1)),
        parse_event(person(doris)),
        CustomerDeceased(envelope=envelope(doris, on=date(2025, 5, 1)), date_of_death=date(2025, 5, 1)),
        late_move,
        parse_event(person(doris, source="CRM2")),
        parse_event(person(erik)),
        CustomerErased(envelope=envelope(erik), reason=ErasureReason.CUSTOMER_REQUEST),
        consent(erik, date(2025, 3, 1)),
    )
    assert [d["reason_code"] for d in await dead_letters_of(settings, stranger, 1)] == ["UNKNOWN_CUSTOMER"]
    assert [d["reason_code"] for d in await dead_letters_of(settings, doris, 2)] == ["AFTER_DEATH", "ALREADY_REGISTERED"]
    assert [d["reason_code"] for d in await dead_letters_of(settings, erik, 1)] == ["CUSTOMER_ERASED"]
    assert late_move.event_id not in {e.event_id for e in await log_of(settings, doris, until=lambda es: len(es) >= 2)}


async def test_replaying_the_whole_log_from_the_start_twice_yields_identical_emitted_events(settings, worker):
    frida = new_customer()
    upstream = [
        parse_event(person(frida)),
        consent(frida, date(2025, 1, 1), overrides_nix=True),
        consent(frida, date(2025, 2, 1), purpose=ConsentPurpose.MARKETING),
        CustomerDeceased(envelope=envelope(frida, on=date(2025, 2, 10)), date_of_death=date(2025, 2, 10)),
    ]
    await publish(settings, *upstream)
    log = await log_of(settings, frida, until=lambda es: sum(e.envelope.source == SOURCE for e in es) >= 2)

    def replay() -> list:
        lifecycle, derived = Lifecycle(), []
        for event in (e for e in log if e.envelope.source != SOURCE):
            outcome = lifecycle.admit(event)
            assert isinstance(outcome, Admitted)
            derived += outcome.derived
        return derived + lifecycle.due(datetime.now(UTC))

    first, second = replay(), replay()
    assert first == second
    assert first == [e for e in log if e.envelope.source == SOURCE], "the worker emitted exactly what a replay emits"
    assert Lifecycle().replay(log) == [], "nothing the log should hold is missing"
