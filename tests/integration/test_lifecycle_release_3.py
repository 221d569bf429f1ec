"""The lifecycle facts of schema release 3 through the real broker, the worker, the register (SQLite and PostgreSQL)
and the downstream topic: opt-out then opt-in; emigration then immigration; a company with two contact persons, one of
whom leaves; a deregistration for a false identity."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy.orm import Session

from events import codec
from events.catalog import (
    Channel,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    ContactPersonLeft,
    CustomerDeregistered,
    CustomerEmigrated,
    CustomerImmigrated,
    MarketingOptOut,
    MarketingOptOutLifted,
    PostalAddress,
    WithdrawalReason,
)
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from processors.lifecycle import SOURCE
from projections.data_keys import key_store
from projections.database import connect
from projections.downstream import run_downstream_publisher
from projections.read import company_contacts
from projections.register import RegisterProjection
from projections.runner import run_projection
from projections.tables import CustomerRow
from tests.builders import envelope, person
from tests.conftest import eventually
from tests.integration.kafka_helpers import read_topic
from tests.integration.test_lifecycle_scenarios import dead_letters_of, log_of

pytestmark = pytest.mark.kafka
ACME = "Acme AB"


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


@pytest.fixture
def register(settings, database_url):
    settings = replace(settings, database_url=database_url)
    engine = connect(database_url)
    yield settings, engine
    engine.dispose()


def new_customer(who: str) -> str:
    return f"C-{who}-{uuid.uuid4().hex[:8]}"


async def publish(settings, *events) -> None:
    async with Publisher(settings) as publisher:
        await publisher.publish(events)


async def project_until(settings, engine, done) -> None:
    """Run the register projection until `done(session)` holds (the worker may still be admitting events)."""

    async def probe():
        await run_projection(settings, RegisterProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
        with Session(engine) as session:
            return done(session)

    await eventually(probe, what="the events in the register")


def row_of(session: Session, customer: str) -> CustomerRow:
    row = session.get(CustomerRow, customer)
    assert row is not None, f"{customer} is not in the register"
    return row


def applied(session: Session, customer: str) -> int:
    """How many of the customer's events the register has applied (0 before the first)."""
    row = session.get(CustomerRow, customer)
    return row.events_applied if row is not None else 0


async def test_an_opt_out_lifted_and_an_emigrant_come_back_reach_the_register_and_downstream(settings, worker, register):
    settings, engine = register
    anna, bertil = new_customer("anna"), new_customer("bertil")
    lund = PostalAddress(street="Ågatan 2", postal_code="22100", city="Lund")
    back = CustomerImmigrated(envelope=envelope(bertil, on=date(2025, 9, 1), source="SPAR"), effective_date=date(2025, 9, 1), address=lund)
    await publish(
        settings,
        parse_event(person(anna)),
        MarketingOptOut(envelope=envelope(anna, on=date(2025, 2, 1)), channel=Channel.ANY),
        MarketingOptOutLifted(envelope=envelope(anna, on=date(2025, 3, 1)), channel=Channel.EMAIL),
        parse_event(person(bertil)),
        CustomerEmigrated(envelope=envelope(bertil, on=date(2025, 3, 1), source="SPAR"), effective_date=date(2025, 3, 1), destination_country="NO"),
        back,
    )
    await project_until(settings, engine, lambda s: applied(s, anna) == 3 and applied(s, bertil) == 3)
    with Session(engine) as session:
        opted, returned = row_of(session, anna), row_of(session, bertil)
        assert opted.marketing_opt_outs == "OTHER,PHONE,POST,SMS", "the opt-out on every channel, lifted on e-mail"
        assert (returned.status, returned.emigrated_on, returned.immigrated_on, returned.city) == ("ACTIVE", date(2025, 3, 1), date(2025, 9, 1), "Lund")

    log = await log_of(settings, bertil, until=lambda es: any(isinstance(e, CustomerImmigrated) for e in es))
    [immigration] = [e for e in log if isinstance(e, CustomerImmigrated)]
    assert immigration.event_id == back.event_id and immigration.address == lund, "unsealed with Bertil's key"
    key = bertil.encode()
    stored = [m.value for m in await read_topic(settings.kafka, settings.events_topic, until=lambda ms: sum(m.key == key for m in ms) >= 3) if m.key == key]
    assert stored and not any("Ågatan".encode() in value for value in stored), "the new address is sealed in the log"

    await run_downstream_publisher(settings, engine=engine, until_empty=True)
    latest = {}
    for message in await read_topic(settings.kafka, settings.customers_topic, until=lambda ms: {anna.encode(), bertil.encode()} <= {m.key for m in ms}):
        latest[message.key] = codec.decode_record(message.value)[1]
    assert latest[anna.encode()]["marketing_opt_outs"] == ["OTHER", "PHONE", "POST", "SMS"]
    assert (latest[bertil.encode()]["status"], latest[bertil.encode()]["immigrated_on"]) == ("ACTIVE", date(2025, 9, 1))


async def test_a_company_with_two_contact_persons_one_leaves(settings, worker, register):
    settings, engine = register
    company, karin, lars = new_customer("company"), new_customer("karin"), new_customer("lars")
    company_registered = parse_event(
        {
            "type": "CustomerRegistered",
            "customer_id": company,
            "occurred_at": "2025-01-10T09:00:00Z",
            "source": "CRM",
            "customer_kind": "COMPANY",
            "registration": {"identity_number": "165560360793", "company_name": ACME},
        }
    )
    leaves = ContactPersonLeft(envelope=envelope(lars, on=date(2025, 8, 31)), company_id=company, effective_date=date(2025, 8, 31))
    await publish(
        settings,
        company_registered,
        parse_event(person(karin, contact_person_for=company)),
        parse_event(person(lars, identity_number="194107086995", contact_person_for=company)),
        leaves,
        ContactPersonLeft(envelope=envelope(karin, on=date(2025, 9, 1)), company_id=new_customer("elsewhere"), effective_date=date(2025, 9, 1)),
    )
    assert [d["reason_code"] for d in await dead_letters_of(settings, karin, 1)] == ["NOT_A_CONTACT_PERSON"]
    await project_until(settings, engine, lambda s: applied(s, lars) == 2 and applied(s, karin) == 1)
    view = company_contacts(engine, company)
    assert view is not None and view["company_name"] == ACME
    assert [p["customer_id"] for p in view["contact_persons"]] == [karin]
    assert [(p["customer_id"], p["left_on"]) for p in view["former_contact_persons"]] == [(lars, date(2025, 8, 31))]
    with Session(engine) as session:
        assert (row_of(session, lars).contact_person_for, row_of(session, karin).contact_person_for) == (None, company)


async def test_a_deregistration_for_a_false_identity_withdraws_every_consent_and_reaches_downstream(settings, worker, register):
    settings, engine = register
    cecilia = new_customer("cecilia")
    consents = [
        ConsentGiven(envelope=envelope(cecilia, on=date(2025, 1, 20)), purpose=ConsentPurpose.MARKETING, channel=Channel.EMAIL, company=ACME),
        ConsentGiven(envelope=envelope(cecilia, on=date(2025, 1, 21)), purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, company=ACME),
    ]
    false_identity = CustomerDeregistered(envelope=envelope(cecilia, on=date(2025, 6, 1), source="SPAR"), cause="FI", effective_date=date(2025, 6, 1))
    late_consent = ConsentGiven(envelope=envelope(cecilia, on=date(2025, 7, 1)), purpose=ConsentPurpose.MARKETING, channel=Channel.POST, company=ACME)
    await publish(settings, parse_event(person(cecilia)), *consents, false_identity, late_consent)

    log = await log_of(settings, cecilia, until=lambda es: sum(isinstance(e, ConsentWithdrawn) for e in es) >= 2)
    withdrawn = [e for e in log if isinstance(e, ConsentWithdrawn)]
    assert {(e.purpose, e.reason, e.envelope.source, e.envelope.causation_id) for e in withdrawn} == {
        (ConsentPurpose.MARKETING, WithdrawalReason.DEREGISTERED, SOURCE, false_identity.event_id),
        (ConsentPurpose.TELEMARKETING, WithdrawalReason.DEREGISTERED, SOURCE, false_identity.event_id),
    }
    assert [d["reason_code"] for d in await dead_letters_of(settings, cecilia, 1)] == ["AFTER_DEREGISTRATION"]

    await project_until(settings, engine, lambda s: applied(s, cecilia) == 6)
    with Session(engine) as session:
        row = row_of(session, cecilia)
        assert (row.status, row.deregistered_on, row.deregistration_cause, row.active_consents) == ("DEREGISTERED", date(2025, 6, 1), "FI", 0)
    await run_downstream_publisher(settings, engine=engine, until_empty=True)
    messages = await read_topic(settings.kafka, settings.customers_topic, until=lambda ms: any(m.key == cecilia.encode() for m in ms))
    latest = codec.decode_record(max((m for m in messages if m.key == cecilia.encode()), key=lambda m: m.offset).value)[1]
    assert (latest["status"], latest["deregistration_cause"], latest["deregistered_on"]) == ("DEREGISTERED", "FI", date(2025, 6, 1))
