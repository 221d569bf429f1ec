"""An operator merges a duplicate customer from the command line, through the real broker, worker and projections
(SQLite): the kept customer's history and contactability, the dropped id's redirect, and the tombstone with its pointer
on the downstream topic."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from events import codec
from events.catalog import Channel, ConsentGiven, ConsentPurpose, Event, NixRegistered
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from projections.database import connect
from projections.downstream import MERGED_INTO_HEADER
from projections.tables import CustomerRow
from tests.builders import envelope, person
from tests.conftest import eventually, service_env, stop_process
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka
ACME = "Acme AB"
TAG = uuid.uuid4().hex[:6]
KEEP, DROP = f"C-emma-{TAG}", f"C-e-{TAG}"


def registervard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "registervard", *args]
    return subprocess.run(command, env={**env, "COLUMNS": "100"}, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)


def lives(now: datetime) -> list[Event]:
    """Emma twice: the kept record from the CRM, the dropped one from the web shop, with a consent to be called by Acme
    despite NIX and a NIX wash of her number, both recent, that the kept record lacks."""
    days_ago = lambda days: now - timedelta(days=days)  # noqa: E731
    def emma(customer_id: str, on: str, given_names: str, street: str) -> Event:
        registration = {
            "identity_number": "198112189876",
            "name": {"given_names": given_names, "surname": "Andersson"},
            "address": {"street": street, "postal_code": "11122", "city": "Stockholm"},
            "contact": {"phone": "+46701234567"},
        }
        return parse_event({**person(customer_id, occurred_at=on), "registration": registration})

    kept = emma(KEEP, "2024-01-10T09:00:00Z", "Emma", "Storgatan 73")
    dropped = emma(DROP, "2024-06-01T09:00:00Z", "E.", "Storgatan 73 A")
    consent = ConsentGiven(
        envelope=envelope(DROP, on=days_ago(10), source="WEBSHOP"),
        purpose=ConsentPurpose.TELEMARKETING,
        channel=Channel.PHONE,
        company=ACME,
        overrides_nix=True,
    )
    nix = NixRegistered(envelope=envelope(DROP, on=days_ago(5), source="NIX"), phone="+46701234567", register_version_date=days_ago(5).date())
    return [kept, dropped, consent, nix]


@pytest.fixture(scope="module")
def env(settings, worker, tmp_path_factory):
    """A register with Emma twice, the worker and `registervard project` (projections and downstream) running."""
    asyncio.run(ensure_topics(settings))
    settings = replace(settings, database_url=f"sqlite:///{tmp_path_factory.mktemp('merge') / 'register.db'}")
    env = service_env(settings)

    async def publish() -> None:
        async with Publisher(settings) as publisher:
            await publisher.publish(lives(datetime.now(UTC)))

    asyncio.run(publish())
    log = tmp_path_factory.mktemp("project") / "project.log"
    with log.open("w") as output:
        project = subprocess.Popen([sys.executable, "-m", "registervard", "project"], env=env, stdout=output, stderr=subprocess.STDOUT)
    engine = connect(settings.database_url)

    async def both_registered() -> bool:
        with engine.connect() as connection:
            applied = dict(connection.execute(CustomerRow.__table__.select().with_only_columns(CustomerRow.customer_id, CustomerRow.events_applied)).all())
        return applied.get(KEEP) == 1 and applied.get(DROP) == 3

    try:
        asyncio.run(eventually(both_registered, timeout=120, what="both customers in the register"))
        yield settings, env
    finally:
        engine.dispose()
        stop_process(project)


def test_merging_a_duplicate_gives_the_kept_customer_its_history_and_consent_and_leaves_a_pointer(env):
    settings, env = env
    call = ("contact", "check", KEEP, "--channel", "phone", "--purpose", "telemarketing", "--company", ACME)
    assert registervard(*call, env=env).returncode == 3, "before the merge the kept record has no NIX wash and no consent"

    itself = registervard("duplicates", "merge", KEEP, KEEP, "--yes", env=env)
    assert itself.returncode == 1 and "SAME_CUSTOMER" in itself.stderr and "Traceback" not in itself.stderr
    asked = registervard("duplicates", "merge", KEEP, DROP, env=env)  # no terminal to ask on, and no --yes
    assert asked.returncode == 1 and "--yes" in asked.stderr

    merged = registervard("duplicates", "merge", KEEP, DROP, "--yes", "--wait", "--wait-timeout", "120", env=env)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert f"{DROP} is merged into {KEEP}" in merged.stdout

    allowed = registervard(*call, env=env)
    assert allowed.returncode == 0 and "NIX_OVERRIDE_CONSENT" in allowed.stdout, allowed.stdout  # the consent only the dropped record had

    shown = registervard("customer", "show", DROP, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["customer_id"], record["redirected_from"], record["given_names"], record["street"]) == (KEEP, DROP, "Emma", "Storgatan 73 A")
    assert f"{DROP} was merged into {KEEP}" in " ".join(shown.stderr.split())

    extract = registervard("extract", KEEP, "--format", "json", "--no-record", env=env)
    assert extract.returncode == 0, extract.stderr
    document = json.loads(extract.stdout)
    assert document["merged_customer_ids"] == [DROP]
    history = [(entry["customer_id"], entry["event"]) for entry in document["history"]]
    assert (DROP, "ConsentGiven") in history and (DROP, "CustomersMerged") in history and (KEEP, "CustomersMerged") in history
    assert [a["street"] for a in document["data"]["addresses"]] == ["Storgatan 73", "Storgatan 73 A"]

    def published(messages: list) -> bool:
        latest = {m.key.decode(): m for m in messages}
        kept = latest.get(KEEP)
        return DROP in latest and latest[DROP].value is None and kept is not None and kept.value is not None and bool(
            codec.decode_record(kept.value)[1]["merged_customer_ids"]
        )

    messages = asyncio.run(read_topic(settings.kafka, settings.customers_topic, until=published, timeout=90))
    assert published(messages), "the downstream topic never got the tombstone and the kept customer's new snapshot"
    tombstone = [m for m in messages if m.key.decode() == DROP][-1]
    assert dict(tombstone.headers)[MERGED_INTO_HEADER] == KEEP.encode()
    kept_snapshot = codec.decode_record([m for m in messages if m.key.decode() == KEEP][-1].value)[1]
    assert kept_snapshot["merged_customer_ids"] == [DROP] and kept_snapshot["nix_registered"] is True
    assert date.fromisoformat(str(kept_snapshot["address_since"])) == date(2024, 6, 1)
