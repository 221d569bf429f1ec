"""Nothing lost, nothing stuck: bad records and faults through the real broker, worker and databases.

Each story is a defect that once lost data or stopped a reader for good:
a forged sealed field or junk bytes in the log, a value the database refuses,
an event too large for the log, sealed data sent by upstream, and a database
that stays down while the worker has intake to handle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy import select
from sqlalchemy.orm import Session

from events import codec
from events.catalog import SealedPersonalData
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.audit import AuditProjection, verify_chain
from projections.data_keys import key_store
from projections.database import connect
from projections.register import RegisterProjection
from projections.replay import replay_as_of
from projections.runner import run_projection
from projections.tables import CustomerRow, QuarantineRow
from tests.builders import line, person
from tests.conftest import running_worker, service_env
from tests.integration.kafka_helpers import produce_raw, read_topic

pytestmark = pytest.mark.kafka


async def own_topics(kafka: str, database_url: str) -> Settings:
    """Settings with topics of the test's own and the data keys in its register database, topics created."""
    settings = Settings(kafka=kafka, topic_prefix=f"test-{uuid.uuid4().hex[:8]}", database_url=database_url)
    await ensure_topics(settings)
    connect(database_url).dispose()
    return settings


def moved(customer: str, street: str = "Ågatan 2") -> dict:
    return line("AddressChanged", customer, effective_date="2025-03-01", address={"street": street, "postal_code": "22100", "city": "Lund"})


async def publish(settings: Settings, *documents: dict) -> list[str]:
    events = [parse_event(document) for document in documents]
    async with Publisher(settings) as publisher:
        await publisher.publish(events)
    return [str(event.event_id) for event in events]


async def log_ids(settings: Settings, until: int) -> list[str]:
    """The event ids in the log, once at least `until` records are there."""
    messages = await read_topic(settings.kafka, settings.events_topic, until=until, timeout=90)
    return [str(codec.decode(m.value).event_id) for m in messages if m.value.startswith(codec.MAGIC)]


async def dead_letters(settings: Settings, until: int) -> list[dict]:
    messages = await read_topic(settings.kafka, settings.dead_letter_topic, until=until, timeout=90)
    return [codec.decode_record(m.value)[1] for m in messages]


def forged_move(customer: str, key_id: str) -> bytes:
    """An AddressChanged whose address claims to be sealed with the customer's key: random bytes, as an attacker would send."""
    event = parse_event(moved(customer))
    forged = SealedPersonalData(key_id=key_id, algorithm="AES-256-GCM", nonce=os.urandom(12), ciphertext=os.urandom(64))
    return codec.encode(dataclasses.replace(event, address=forged))


def quarantined(database_url: str) -> list[tuple[str, str]]:
    engine = connect(database_url)
    with Session(engine) as session:
        rows = [(r.projection, r.code) for r in session.scalars(select(QuarantineRow).order_by(QuarantineRow.offset))]
    engine.dispose()
    return rows


async def test_a_forged_record_in_the_log_is_quarantined_and_every_reader_goes_on(kafka, database_url, tmp_path):
    settings = await own_topics(kafka, database_url)
    worker_log = tmp_path / "worker.log"
    with running_worker(settings, worker_log):
        await publish(settings, person("C-1"), person("C-2"))
        registration = next(m for m in await read_topic(kafka, settings.events_topic, until=2) if m.key == b"C-1")
        key_id = codec.decode(registration.value).registration.key_id  # readable by anyone who reads the log
        # Records that got into the log before intake refused them: a forged sealed field and bytes that are no event.
        await produce_raw(kafka, settings.events_topic, [(b"C-1", forged_move("C-1", key_id)), (b"C-1", b"not an event at all")])
        await publish(settings, moved("C-2"))
        await log_ids(settings, until=5)

    engine = connect(database_url)
    await run_projection(settings, RegisterProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
    await run_projection(settings, AuditProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
    with Session(engine) as session:
        assert session.get(CustomerRow, "C-2").city == "Lund"  # applied after the bad records
        assert session.get(CustomerRow, "C-1").city == "Stockholm"  # the forged move did not take effect
        assert verify_chain(session).intact
    engine.dispose()
    assert sorted(quarantined(database_url)) == sorted(
        [("register", "TAMPERED"), ("register", "UNDECODABLE"), ("audit", "TAMPERED"), ("audit", "UNDECODABLE")]
    )

    replay = await replay_as_of(settings, keys=key_store(settings), as_of=registration_time_later())
    assert replay.quarantined == 2 and replay.views["C-2"].address is not None

    # A restarted worker folds the log past the bad records and goes on admitting.
    with running_worker(settings, worker_log):
        [new_move] = await publish(settings, moved("C-1", street="Nygatan 3"))
        assert new_move in await log_ids(settings, until=6)
    assert "record_quarantined" in worker_log.read_text()

    status = subprocess.run(
        [sys.executable, "-m", "registervard", "status", "--json"], env=service_env(settings), capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["quarantined"] == {"audit": 2, "register": 2}


def registration_time_later():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2030, 1, 1, tzinfo=UTC)


async def test_a_record_postgresql_refuses_is_quarantined_and_the_register_goes_on(kafka, postgres, tmp_path):
    database_url = fresh_database(postgres)
    settings = await own_topics(kafka, database_url)
    # A NUL in a street, which PostgreSQL's text columns cannot hold, put in the log before intake refused it.
    nul = parse_event(person("C-9"))
    address = dataclasses.replace(nul.registration.address, street="Storgatan\x001")
    nul = dataclasses.replace(nul, registration=dataclasses.replace(nul.registration, address=address))
    fine = parse_event(person("C-10", identity_number="194107086995"))
    await produce_raw(kafka, settings.events_topic, [(b"C-9", codec.encode(nul)), (b"C-10", codec.encode(fine))])

    engine = connect(database_url)
    await run_projection(settings, RegisterProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
    with Session(engine) as session:
        assert session.get(CustomerRow, "C-10") is not None
        assert session.get(CustomerRow, "C-9") is None
    engine.dispose()
    assert quarantined(database_url) == [("register", "UNWRITABLE")]


async def test_an_event_too_large_for_the_log_becomes_a_dead_letter_with_all_its_bytes(kafka, tmp_path):
    settings = await own_topics(kafka, f"sqlite:///{tmp_path / 'register.db'}")
    huge = parse_event(person("C-big"))
    address = dataclasses.replace(huge.registration.address, street="x" * 1_040_000)  # over Faust's 1,000,000, under the broker's 1 MiB
    value = codec.encode(dataclasses.replace(huge, registration=dataclasses.replace(huge.registration, address=address)))
    with running_worker(settings, tmp_path / "worker.log"):
        await produce_raw(kafka, settings.intake_topic, [(b"C-big", value)])
        await publish(settings, moved("C-big"), person("C-small"))
        letters = await dead_letters(settings, until=2)
        await log_ids(settings, until=1)
    assert [letter["reason_code"] for letter in letters] == ["EVENT_TOO_LARGE", "UNKNOWN_CUSTOMER"]
    assert len(letters[0]["value"]) >= len(value)  # kept whole (sealed), so it can be corrected and sent again
    in_log = [codec.decode(m.value).customer_id for m in await read_topic(kafka, settings.events_topic, until=1)]
    assert in_log == ["C-small"]


async def test_upstream_cannot_send_sealed_fields_even_past_publish(kafka, tmp_path):
    settings = await own_topics(kafka, f"sqlite:///{tmp_path / 'register.db'}")
    forged = forged_move("C-1", key_id="0" * 32)
    with running_worker(settings, tmp_path / "worker.log"):
        await publish(settings, person("C-1"))
        await produce_raw(kafka, settings.intake_topic, [(b"C-1", forged)])
        letters = await dead_letters(settings, until=1)
    assert letters[0]["reason_code"] == "SEALED_INPUT" and "address" in letters[0]["reason"]


# --- A database that goes away while the worker has intake to handle -------------------------------


def fresh_database(postgres: str) -> str:
    server = sqlalchemy.make_url(postgres)
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def set_reachable(database_url: str, reachable: bool) -> None:
    """Open or close a PostgreSQL database to new connections and end the open ones: an outage of that database alone."""
    url = sqlalchemy.make_url(database_url)
    admin = sqlalchemy.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS {"true" if reachable else "false"}')
        if not reachable:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{url.database}'")
    admin.dispose()


@pytest.fixture
def outage_database(postgres: str) -> Iterator[str]:
    url = fresh_database(postgres)
    yield url
    set_reachable(url, True)


def new_customers(first: int, count: int) -> list[dict]:
    return [person(f"C-{n}", identity_number="194107086995", source="CRM") for n in range(first, first + count)]


async def test_a_short_database_outage_is_waited_out_and_nothing_is_lost(kafka, outage_database, tmp_path):
    settings = await own_topics(kafka, outage_database)
    with running_worker(settings, tmp_path / "worker.log", REGISTERVARD_RETRY_SECONDS="120") as worker:
        before = await publish(settings, *new_customers(0, 20))
        await log_ids(settings, until=20)
        set_reachable(outage_database, False)
        during = await publish(settings, *new_customers(20, 200))  # new customers need new data keys: the database
        await asyncio.sleep(6)
        set_reachable(outage_database, True)
        logged = await log_ids(settings, until=220)
        assert worker.poll() is None, "the worker should have waited for its database"
    assert sorted(logged) == sorted(before + during)


async def test_a_long_database_outage_stops_the_worker_before_it_commits_and_a_restart_loses_nothing(kafka, outage_database, tmp_path):
    settings = await own_topics(kafka, outage_database)
    worker_log = tmp_path / "worker.log"
    with running_worker(settings, worker_log, REGISTERVARD_RETRY_SECONDS="3") as worker:
        before = await publish(settings, *new_customers(0, 20))
        await log_ids(settings, until=20)
        set_reachable(outage_database, False)
        during = await publish(settings, *new_customers(20, 300))
        deadline = time.monotonic() + 90
        while worker.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert worker.returncode == 70, f"the worker should exit 70 once its retries are spent:\n{worker_log.read_text()[-3000:]}"
    assert "worker_failed" in worker_log.read_text()
    set_reachable(outage_database, True)
    with running_worker(settings, worker_log):
        logged = await log_ids(settings, until=320)
    assert sorted(logged) == sorted(before + during), "every published event is in the log once"
