"""The register's tables through the real broker and both databases, and migrations that match the models."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.catalog import (
    AddressChanged,
    Channel,
    CivilStatus,
    CivilStatusChanged,
    ConsentGiven,
    ConsentPurpose,
    NameChanged,
    NameChangeReason,
    NixRegistered,
    PersonName,
    PostalAddress,
    ProtectedIdentityLifted,
    ProtectedIdentitySet,
    Protection,
)
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from projections import migrations
from projections.database import connect
from projections.read import customer_history, customer_record
from projections.tables import AddressHistoryRow, Base, CompanyContactRow, CustomerRow, NameHistoryRow
from tests.builders import envelope, person
from tests.conftest import eventually
from tests.integration.test_backbone import running_projection


def new_customer() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


# --- Migrations -----------------------------------------------------------------


def test_migrating_an_empty_database_to_head_yields_exactly_the_models_tables(database_url):
    migrations.import_models()
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.begin() as connection:
            cfg = migrations.config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            assert migrations.current_revisions(connection) == {migrations.HEAD}
            tables = set(sqlalchemy.inspect(connection).get_table_names())
        assert tables == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


def test_connect_migrates_a_new_database_once_and_then_only_looks(database_url):
    engine = connect(database_url)
    try:
        assert migrations.at_head(engine)
        with Session(engine) as session, session.begin():
            session.add(CustomerRow(customer_id="C-1", status="ACTIVE", protected=False, active_consents=0, nix_registered=False, events_applied=1))
    finally:
        engine.dispose()
    again = connect(database_url)  # at head: nothing runs, nothing is lost
    try:
        with Session(again) as session:
            assert session.get(CustomerRow, "C-1") is not None
    finally:
        again.dispose()


def test_the_migrated_audit_trail_refuses_update_and_delete(database_url):
    engine = connect(database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO audit_trail (seq, topic, partition, \"offset\", event_id, event_type, customer_id, source, occurred_at,"
                " recorded_at, payload, prev_hash, hash) VALUES (1, 't', 0, 0, 'e', 'T', 'C-1', 'TEST', '2025-01-10 09:00:00',"
                " '2025-01-10 09:00:00', '', '0', '0')"
            )
        for statement in ("UPDATE audit_trail SET hash = 'x'", "DELETE FROM audit_trail"):
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), engine.begin() as connection:
                connection.exec_driver_sql(statement)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT hash FROM audit_trail").scalar_one() == "0"
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_refused_with_advice(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sqlalchemy.create_engine(url)
    Base.metadata.create_all(old)
    old.dispose()
    with pytest.raises(migrations.UnversionedDatabase, match="rebuild"):
        connect(url)


# --- A customer's life through the broker ------------------------------------------


@pytest.fixture(scope="module")
def topics(settings):
    asyncio.run(ensure_topics(settings))


def moved(customer: str, street: str, effective: date, reported: date) -> AddressChanged:
    return AddressChanged(
        envelope=envelope(customer, on=reported, source="SPAR"),
        effective_date=effective,
        address=PostalAddress(street=street, postal_code="22100", city="Lund"),
    )


def rows(settings, table, **where):
    """Every row of `table` matching `where`, as dicts, straight from the database."""
    engine = connect(settings.database_url)
    try:
        with Session(engine) as session:
            statement = select(table).filter_by(**where)
            return [{c.key: getattr(row, c.key) for c in sqlalchemy.inspect(table).columns} for row in session.scalars(statement)]
    finally:
        engine.dispose()


def record_where(settings, customer, condition, what):
    async def probe():
        record = customer_record(settings, customer)
        return record if record and condition(record) else None

    return eventually(probe, what=what)


@pytest.mark.kafka
async def test_a_life_in_the_register_tables_and_a_protected_identity_hides_then_restores_it(settings, topics, worker, database_url):
    anna, company = new_customer(), new_customer()
    registered = parse_event(person(anna, source="CRM"))
    may = moved(anna, "Majgatan 5", effective=date(2025, 5, 1), reported=date(2025, 5, 2))
    march = moved(anna, "Marsvägen 3", effective=date(2025, 3, 1), reported=date(2025, 5, 20))  # arrives late, applies earlier
    wedding = date(2025, 6, 14)
    renamed = NameChanged(
        envelope=envelope(anna, on=wedding, source="SPAR"),
        reason=NameChangeReason.MARRIAGE,
        effective_date=wedding,
        name=PersonName(given_names="Anna", surname="Berg"),
    )
    married = CivilStatusChanged(envelope=envelope(anna, on=wedding, source="SPAR"), civil_status=CivilStatus.MARRIED, effective_date=wedding)
    given_at = datetime(2025, 7, 1, 10, 15, 30, 123000, tzinfo=UTC)
    consent = ConsentGiven(
        envelope=envelope(anna, on=given_at, source="WEBSHOP"),
        purpose=ConsentPurpose.NEWSLETTER,
        channel=Channel.EMAIL,
        company="Acme AB",
        valid_until=date(2099, 12, 31),
    )
    nix = NixRegistered(envelope=envelope(anna, on=date(2025, 8, 3), source="NIX"), phone="+46701234567", register_version_date=date(2025, 8, 1))
    company_registered = parse_event(
        {
            "type": "CustomerRegistered",
            "customer_id": company,
            "occurred_at": "2025-01-10T09:00:00Z",
            "source": "CRM",
            "customer_kind": "COMPANY",
            "registration": {"identity_number": "165560360793", "company_name": "Acme AB"},
        }
    )
    contact = new_customer()
    contact_registered = parse_event(person(contact, identity_number="198112189876", contact_person_for=company))
    async with Publisher(settings) as publisher:
        await publisher.publish([registered, may, march, renamed, married, consent, nix, company_registered, contact_registered])

    async with running_projection(settings, database_url) as project:
        record = await record_where(project, anna, lambda r: r["events_applied"] == 7, "Anna's seven events in the register")
        await record_where(project, contact, lambda r: True, "the contact person in the register")
        history = customer_history(project, anna)

        assert (record["given_names"], record["surname"], record["street"], record["address_since"]) == ("Anna", "Berg", "Majgatan 5", date(2025, 5, 1))
        assert record["civil_status"] == "MARRIED" and record["nix_registered"] and record["active_consents"] == 1
        assert [(a["seq"], a["street"], a["effective_date"], a["event_id"]) for a in history["addresses"]] == [
            (0, "Storgatan 1", date(2025, 1, 10), str(registered.event_id)),
            (1, "Marsvägen 3", date(2025, 3, 1), str(march.event_id)),
            (2, "Majgatan 5", date(2025, 5, 1), str(may.event_id)),
        ]
        assert [(n["given_names"], n["surname"], n["effective_date"], n["event_id"]) for n in history["names"]] == [
            ("Anna", "Svensson", date(2025, 1, 10), str(registered.event_id)),
            ("Anna", "Berg", wedding, str(renamed.event_id)),
        ]
        assert history["consents"] == [
            dict(
                purpose="NEWSLETTER",
                channel="EMAIL",
                company="Acme AB",
                given_at=given_at,
                overrides_nix=False,
                valid_until=date(2099, 12, 31),
                lapses_on=date(2100, 1, 1),
                event_id=str(consent.event_id),
            )
        ]
        assert history["nix"] == [dict(phone="+46701234567", registered=True, as_of=date(2025, 8, 1))]
        assert rows(project, CompanyContactRow, company_id=company) == [dict(company_id=company, contact_id=contact, left_on=None)]
        before_protection = history

        async with Publisher(settings) as publisher:
            protected = ProtectedIdentitySet(envelope=envelope(anna, on=date(2025, 9, 1), source="SPAR"), protection=Protection.SKYDDAD_FOLKBOKFORING)
            await publisher.publish([protected])
        hidden = await record_where(project, anna, lambda r: r["protected"], "the protection in the register")
        assert [hidden[c] for c in ("given_names", "surname", "street", "postal_code", "city", "address_since")] == [None] * 6
        assert rows(project, AddressHistoryRow, customer_id=anna) == [], "no address history row is written while protected"
        assert rows(project, NameHistoryRow, customer_id=anna) == [], "no name history row is written while protected"
        history = customer_history(project, anna)
        assert (history["protected"], history["addresses"], history["names"]) == (True, [], [])
        assert (history["consents"], history["nix"]) == (before_protection["consents"], before_protection["nix"])

        async with Publisher(settings) as publisher:
            await publisher.publish([ProtectedIdentityLifted(envelope=envelope(anna, on=date(2025, 10, 1), source="SPAR"))])
        lifted = await record_where(project, anna, lambda r: not r["protected"], "the protection lifted in the register")
        assert (lifted["surname"], lifted["street"]) == ("Berg", "Majgatan 5")
        assert customer_history(project, anna) == before_protection
        assert len(rows(project, AddressHistoryRow, customer_id=anna)) == 3


def test_customer_history_of_an_unknown_customer_is_none(tmp_path, settings):
    assert customer_history(replace(settings, database_url=f"sqlite:///{tmp_path / 'r.db'}"), "C-nobody") is None
