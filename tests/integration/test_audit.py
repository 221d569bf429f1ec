"""The audit trail through the real broker, on SQLite and PostgreSQL: every log entry chained, tampering found."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from events import codec
from events.jsonlines import parse_event
from events.publish import Publisher
from events.sealing import unseal
from events.topics import ensure_topics
from projections.audit import AuditProjection, AuditRow, verify_chain
from projections.data_keys import key_store
from projections.database import connect
from projections.runner import run_projection
from registervard import exit_codes
from tests.builders import line, person
from tests.conftest import eventually, service_env
from tests.integration.kafka_helpers import produce_raw

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


def new_customer() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


def registervard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "registervard", *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def audited(settings, database_url):
    """Settings pointing at this test's database, and an engine on it with the audit table."""
    settings = replace(settings, database_url=database_url)
    engine = connect(database_url)  # the migrations create the audit table and its triggers
    yield settings, engine
    engine.dispose()


async def audit_until(settings, engine, customer: str, entries: int) -> list[AuditRow]:
    """Run the audit projection until the trail holds `entries` entries for `customer` (the worker may still be busy)."""

    async def probe():
        await run_projection(settings, AuditProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
        with Session(engine) as session:
            rows = session.scalars(select(AuditRow).where(AuditRow.customer_id == customer).order_by(AuditRow.seq)).all()
        return rows if len(rows) >= entries else None

    return await eventually(probe, what=f"{entries} audit entries for {customer}")


async def test_every_log_entry_is_chained_and_a_hand_edited_entry_is_named(settings, worker, audited):
    settings, engine = audited
    anna = new_customer()
    registered = parse_event(person(anna))
    moved = parse_event(line("AddressChanged", anna, effective_date="2025-03-01", address={"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"}))
    async with Publisher(settings) as publisher:
        await publisher.publish([registered, moved])
    await audit_until(settings, engine, anna, 2)
    # An at-least-once redelivery: the same event a second time in the log, as a crashed worker may leave it.
    await produce_raw(settings.kafka, settings.events_topic, [(anna.encode(), codec.encode(moved))])

    rows = await audit_until(settings, engine, anna, 3)
    assert [r.event_type for r in rows] == ["CustomerRegistered", "AddressChanged", "AddressChanged"]
    assert rows[2].duplicate_of_seq == rows[1].seq and rows[1].duplicate_of_seq is None
    assert rows[2].payload == codec.encode(moved), "the log's bytes, as they are"
    assert b"Lund" not in rows[1].payload, "the worker sealed the address before appending"
    assert unseal(codec.decode(rows[1].payload), key_store(settings)) == moved
    with Session(engine) as session:
        intact = verify_chain(session, chunk_size=2)
        total = session.scalar(select(AuditRow.seq).order_by(AuditRow.seq.desc()).limit(1))
    assert intact.intact and intact.entries == total

    # The service's own session cannot rewrite history: the trigger refuses.
    with Session(engine) as session:
        with pytest.raises(DatabaseError, match="append-only"):
            session.execute(update(AuditRow).where(AuditRow.seq == rows[1].seq).values(source="FORGED"))
        session.rollback()
        with pytest.raises(DatabaseError, match="append-only"):
            session.execute(text("DELETE FROM audit_trail WHERE seq = :seq"), {"seq": rows[1].seq})
        session.rollback()

    # An attacker with admin rights turns the trigger off and edits entry k.
    k = rows[1].seq
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_trail DISABLE TRIGGER audit_trail_append_only")
        else:
            connection.exec_driver_sql("DROP TRIGGER audit_trail_no_update")
        connection.execute(text("UPDATE audit_trail SET customer_id = 'C-SOMEONE-ELSE' WHERE seq = :k"), {"k": k})
    with Session(engine) as session:
        broken = verify_chain(session, chunk_size=2)
    assert (broken.intact, broken.broken_seq, broken.problem) == (False, k, "CONTENT_CHANGED")

    checked = registervard("audit", "verify", env=service_env(settings))
    assert checked.returncode == exit_codes.ANSWER_NO, checked.stdout + checked.stderr
    assert f"Audit trail broken at entry {k}" in " ".join(checked.stderr.split())
    assert "Traceback" not in checked.stderr


async def test_audit_show_prints_the_customers_history_in_order_with_what_caused_each_event(settings, worker, audited):
    settings, engine = audited
    bertil = new_customer()
    async with Publisher(settings) as publisher:
        await publisher.publish([parse_event(person(bertil))])
        await publisher.publish([parse_event(line("ProtectedIdentitySet", bertil, protection="SKYDDAD_FOLKBOKFORING"))])
    rows = await audit_until(settings, engine, bertil, 3)  # the worker derives a purge request from the protection
    assert [r.event_type for r in rows] == ["CustomerRegistered", "ProtectedIdentitySet", "PersonalDataPurgeRequested"]

    env = service_env(settings, COLUMNS="250")
    shown = registervard("audit", "show", bertil, env=env)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    positions = [out.index(name) for name in ("CustomerRegistered", "ProtectedIdentitySet", "PersonalDataPurgeRequested")]
    assert positions == sorted(positions)
    assert f"ProtectedIdentitySet (#{rows[1].seq})" in out, "the purge request names what caused it"
    assert "Svensson" in out and "SKYDDAD_FOLKBOKFORING" in out, "an auditor sees the facts"

    verified = registervard("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr
    assert "Audit trail intact:" in verified.stdout

    unknown = registervard("audit", "show", "C-nobody", env=env)
    assert unknown.returncode == 1 and "No entries for customer C-nobody" in unknown.stderr
