"""No personal data in the logs of the worker and the projections, on every path: valid, invalid, and crashing.

Events full of personal data go through the real worker (admitted; refused to the
dead letters; one that makes the worker's processor crash) and a projection
process that crashes on one of them; the captured output of both processes must
hold none of it. The crashes raise exceptions whose messages quote the event,
as a third-party library's might.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from events import codec
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.data_keys import DatabaseKeyStore
from projections.database import connect
from tests.builders import line
from tests.conftest import service_env
from tests.integration.kafka_helpers import produce_raw, read_topic

pytestmark = pytest.mark.kafka

PERSONNUMMER = "197004124470"
SECRETS = ("Zebulon", "Qwertyson", "Hemligvägen", "Hemligv", PERSONNUMMER, "701112233", "zq@hemlig.se", "70041244")

CRASHING_WORKER = """
import sys
from processors import lifecycle
admit = lifecycle.Lifecycle.admit
def crashing(self, event):
    if event.customer_id.startswith("C-crash"):
        raise ValueError(f"cannot admit {event!r}")  # a message quoting the payload, as fastavro's do
    return admit(self, event)
lifecycle.Lifecycle.admit = crashing
from registervard.cli import app
sys.argv = ["registervard", "--log-level", "INFO", "worker"]
app()
"""

CRASHING_PROJECTION = """
import sys
from projections import register
row = register.register_row
def crashing(state):
    if state.customer_id.startswith("C-crash"):
        raise ValueError(f"cannot store {state!r}")
    return row(state)
register.register_row = crashing
from registervard.cli import app
sys.argv = ["registervard", "--log-level", "INFO", "project", "--only", "register", "--until-caught-up"]
app()
"""


def person(customer: str, identity_number: str = PERSONNUMMER) -> dict:
    registration = {
        "identity_number": identity_number,
        "name": {"given_names": "Zebulon", "surname": "Qwertyson"},
        "address": {"street": "Hemligvägen 7", "postal_code": "11122", "city": "Stockholm"},
        "contact": {"phone": "+46701112233", "email": "zq@hemlig.se"},
    }
    return line("CustomerRegistered", customer, customer_kind="PERSON", registration=registration)


def assert_clean(output: str, what: str) -> None:
    leaked = [secret for secret in SECRETS if secret in output]
    assert not leaked, f"{what} printed personal data {leaked}:\n{output[-3000:]}"


async def test_personal_data_never_reaches_the_logs_valid_invalid_or_crashing(kafka, database_url, tmp_path: Path):
    settings = Settings(kafka=kafka, topic_prefix=f"test-{uuid.uuid4().hex[:8]}", database_url=database_url)
    await ensure_topics(settings)
    env = service_env(settings, REGISTERVARD_EXPIRY_CHECK_SECONDS="1")
    worker_log = tmp_path / "worker.log"
    with worker_log.open("w") as output:
        worker = subprocess.Popen([sys.executable, "-c", CRASHING_WORKER], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        time.sleep(2)
        valid, invalid, late = (f"C-{uuid.uuid4().hex[:8]}" for _ in range(3))
        async with Publisher(settings) as publisher:
            await publisher.publish([parse_event(person(valid))])
            # refused by the rules (no registration yet): a dead letter, with the data sealed
            await publisher.publish(
                [
                    parse_event(
                        line(
                            "AddressChanged",
                            late,
                            effective_date="2025-03-01",
                            address={"street": "Hemligvägen 7", "postal_code": "11122", "city": "Stockholm"},
                        )
                    )
                ]
            )
        # invalid: a wrong check digit, produced raw past the publisher's validation
        right = parse_event(person(invalid))
        wrong = replace(right, registration=replace(right.registration, identity_number="197004124478"))
        await produce_raw(kafka, settings.intake_topic, [(invalid.encode(), codec.encode(wrong))])
        keyed = parse_event(person("C-keyed"))
        keyed = replace(keyed, envelope=replace(keyed.envelope, customer_id=PERSONNUMMER))  # past the publisher's validation
        await produce_raw(kafka, settings.intake_topic, [(PERSONNUMMER.encode(), codec.encode(keyed))])
        letters = await read_topic(kafka, settings.dead_letter_topic, until=3, timeout=60)
        assert len(letters) == 3
        assert DatabaseKeyStore(connect(database_url)).key_for(PERSONNUMMER) is None, "no data key is named by an identity number"
        letters = [m for m in letters if m.key != PERSONNUMMER.encode()]  # that one carries it in its key, as sent
        assert not any(s.encode() in m.value for m in letters for s in SECRETS), "dead letters keep personal data sealed"
        await read_topic(kafka, settings.events_topic, until=1, timeout=60)
        async with Publisher(settings) as publisher:
            await publisher.publish([parse_event(person(f"C-crash{uuid.uuid4().hex[:6]}"))])  # the worker's processor crashes
        await asyncio.sleep(3)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    worker_output = worker_log.read_text(errors="replace")
    assert "withheld" in worker_output, f"the worker's processor crashed and said so:\n{worker_output[-3000:]}"
    assert_clean(worker_output, "the worker")

    # A projection that crashes on a customer's state, with the events of a crashing customer in the log.
    crash = f"C-crash{uuid.uuid4().hex[:6]}"
    await produce_raw(kafka, settings.events_topic, [(crash.encode(), codec.encode(parse_event(person(crash))))])
    projection = subprocess.run([sys.executable, "-c", CRASHING_PROJECTION], env=env, capture_output=True, text=True, timeout=120)
    assert projection.returncode != 0
    output = projection.stdout + projection.stderr
    assert "ValueError" in output and "withheld" in output, output[-3000:]
    assert_clean(output, "the projection")
