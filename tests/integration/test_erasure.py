"""Crypto-shredding through the real broker, on SQLite and PostgreSQL: erase a customer and nothing of theirs can be read again.

Each test runs its own worker against its own topics, with the data keys in
the test's register database (as in production: the key store is the register's).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events import codec
from events.catalog import ErasureReason, SealedPersonalData
from events.jsonlines import parse_event
from events.publish import Publisher
from events.sealing import has_plain_personal_data, is_sealed, personal_fields, unseal
from events.settings import Settings
from events.topics import ensure_topics
from projections.audit import AuditProjection, verify_chain
from projections.data_keys import DatabaseKeyStore, key_store
from projections.database import connect
from projections.downstream import run_downstream_publisher
from projections.rebuild import rebuild_register
from projections.register import RegisterProjection
from projections.runner import run_projection
from projections.tables import CustomerRow, IdentityLookupRow, NameHistoryRow
from registervard.erasure import erase
from tests.builders import VALID_PERSONNUMMER, line, person
from tests.conftest import eventually, service_env
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka

SECRETS = (b"Svensson", b"Storgatan", VALID_PERSONNUMMER.encode(), b"+46701234567", b"anna@example.se", b"Lund", b"+46709876543")


@pytest.fixture
def shredding(kafka: str, database_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Path]]:
    """Settings with topics of this test's own, the keys in its register database, and a worker running on them."""
    settings = Settings(kafka=kafka, topic_prefix=f"test-{uuid.uuid4().hex[:8]}", database_url=database_url)
    asyncio.run(ensure_topics(settings))
    connect(database_url).dispose()
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "registervard", "worker"], env=service_env(settings), stdout=output, stderr=subprocess.STDOUT
        )
    time.sleep(2)
    assert worker.poll() is None, log.read_text()[-4000:]
    yield settings, log
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def life(customer: str) -> list:
    return [
        parse_event(person(customer, company="ACME")),
        parse_event(line("AddressChanged", customer, effective_date="2025-03-01", address={"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"})),
        parse_event(line("ContactDetailsChanged", customer, contact={"phone": "+46709876543", "email": "anna@example.se"})),
        parse_event(line("NixRegistered", customer, phone="+46709876543")),
        parse_event(line("PersonalIdentityNumberAssigned", customer, identity_number=VALID_PERSONNUMMER)),
        parse_event(line("ConsentGiven", customer, purpose="NEWSLETTER", channel="EMAIL", company="ACME")),
    ]


async def log_of(settings: Settings, customer: str, until) -> list:  # type: ignore[no-untyped-def]
    key = customer.encode()
    messages = await read_topic(settings.kafka, settings.events_topic, until=lambda ms: until([m for m in ms if m.key == key]), timeout=60)
    return [m for m in messages if m.key == key]


async def project(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    await run_projection(settings, RegisterProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
    await run_projection(settings, AuditProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
    await run_downstream_publisher(settings, engine=engine, until_empty=True)


async def test_an_erased_customer_cannot_be_read_from_the_log_a_rebuild_or_downstream(shredding):
    settings, worker_log = shredding
    engine = connect(settings.database_url)
    anna = f"C-{uuid.uuid4().hex[:10]}"
    async with Publisher(settings) as publisher:
        await publisher.publish(life(anna))
    before = await log_of(settings, anna, lambda ms: len(ms) >= 6)

    # The log holds ciphertext only, from the first event; the customer's key opens it.
    keys = DatabaseKeyStore(engine)
    for message in before:
        assert not any(secret in message.value for secret in SECRETS)
        event = codec.decode(message.value)
        assert not has_plain_personal_data(event)
        assert not is_sealed(unseal(event, keys))

    async def in_register(status: str):
        await project(settings, engine)
        with Session(engine) as session:
            row = session.get(CustomerRow, anna)
            return row if row is not None and row.status == status else None

    row = await eventually(lambda: in_register("ACTIVE"), what="Anna in the register")
    assert row.surname == "Svensson" and row.identity_number == VALID_PERSONNUMMER

    erasure = await erase(settings, anna, ErasureReason.CUSTOMER_REQUEST)
    after = await log_of(settings, anna, lambda ms: any(codec.event_name(m.value) == "PersonalDataPurgeRequested" for m in ms))
    assert any(codec.decode(m.value).event_id == erasure.event_id for m in after)
    await eventually(lambda: asyncio.sleep(0, DatabaseKeyStore(engine).is_destroyed(anna)), what="the key destroyed")

    # Every event of hers in the log: no plaintext, and with the key gone nothing opens.
    fresh = DatabaseKeyStore(engine)  # no cache
    sealed_fields = 0
    for message in after:
        assert not any(secret in message.value for secret in SECRETS)
        event = unseal(codec.decode(message.value), fresh)
        for field in personal_fields(event):
            assert isinstance(getattr(event, field), SealedPersonalData)
            sealed_fields += 1
    assert sealed_fields == 5

    row = await eventually(lambda: in_register("ERASED"), what="Anna erased in the register")
    assert (row.surname, row.identity_number, row.street, row.phone) == (None, None, None, None)

    # A full rebuild from the log: erased, not her data.
    await rebuild_register(settings, keys=key_store(settings), engine=engine)
    with Session(engine) as session:
        row = session.get(CustomerRow, anna)
        assert row.status == "ERASED" and row.surname is None and row.identity_number is None and row.email is None
        assert session.scalar(select(func.count()).select_from(NameHistoryRow).where(NameHistoryRow.customer_id == anna)) == 0
        assert session.scalar(select(func.count()).select_from(IdentityLookupRow).where(IdentityLookupRow.customer_id == anna)) == 0
        # The audit trail keeps the facts and still verifies: it hashes the stored (sealed) bytes.
        assert verify_chain(session).intact

    # A replay now: erased, nothing of her data.
    from projections.replay import replay_as_of

    view = (await replay_as_of(settings, keys=key_store(settings), as_of=datetime.now(UTC), customer_id=anna)).views[anna]
    assert (view.status, view.name, view.address, view.identity_number) == ("ERASED", None, None, None)

    # An auditor sees her history's facts, not her data.
    shown = subprocess.run(
        [sys.executable, "-m", "registervard", "audit", "show", anna, "--json"], env=service_env(settings), capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    assert "CustomerErased" in shown.stdout and "erased: the customer's key was destroyed" in shown.stdout
    assert not any(secret.decode() in shown.stdout for secret in SECRETS)

    # Downstream: a tombstone for her key (Art. 19: the purge request is in the log for every recipient).
    snapshots = await read_topic(
        settings.kafka, settings.customers_topic, until=lambda ms: any(m.key == anna.encode() and m.value is None for m in ms), timeout=30
    )
    assert [m.value for m in snapshots if m.key == anna.encode()][-1] is None
    assert not any(secret in worker_log.read_bytes() for secret in SECRETS)
    engine.dispose()


async def test_an_erasure_asked_twice_records_one_and_the_worker_refuses_new_facts(shredding):
    settings, _ = shredding
    bo = f"C-{uuid.uuid4().hex[:10]}"
    async with Publisher(settings) as publisher:
        await publisher.publish(life(bo)[:1])
    first = await erase(settings, bo, ErasureReason.CUSTOMER_REQUEST)
    second = await erase(settings, bo, ErasureReason.OTHER)
    assert first.event_id == second.event_id
    async with Publisher(settings) as publisher:
        await publisher.publish(life(bo)[1:2])
    letters = await read_topic(settings.kafka, settings.dead_letter_topic, until=lambda ms: any(m.key == bo.encode() for m in ms))
    record = codec.decode_record(next(m for m in letters if m.key == bo.encode()).value)[1]
    assert record["reason_code"] == "CUSTOMER_ERASED" and record["value"] is None, "nothing of an erased customer is kept"
    messages = await log_of(settings, bo, lambda ms: any(codec.event_name(m.value) == "PersonalDataPurgeRequested" for m in ms))
    assert sum(codec.event_name(m.value) == "CustomerErased" for m in messages) == 1


async def test_registervard_erase_publishes_the_erasure_to_the_intake(shredding):
    settings, _ = shredding
    cid = f"C-{uuid.uuid4().hex[:10]}"
    engine = connect(settings.database_url)
    async with Publisher(settings) as publisher:
        await publisher.publish(life(cid)[:1])

    async def registered() -> bool:  # `erase` erases only a customer the register has
        await project(settings, engine)
        with Session(engine) as session:
            return session.get(CustomerRow, cid) is not None

    await eventually(registered, what="the customer in the register")
    engine.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "registervard", "erase", cid, "--reason", "RETENTION_EXPIRED", "--yes"],
        env=service_env(settings), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    intake = await read_topic(settings.kafka, settings.intake_topic, until=lambda ms: sum(m.key == cid.encode() for m in ms) >= 2)
    event = codec.decode([m for m in intake if m.key == cid.encode()][-1].value)  # after the registration
    assert type(event).__name__ == "CustomerErased" and event.reason is ErasureReason.RETENTION_EXPIRED
