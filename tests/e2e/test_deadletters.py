"""An operator corrects refused events from the command line and sends them again."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
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


# --- Resolved dead letters ----------------------------------------------------------------


def listed(env, *args: str) -> dict[str, dict]:
    """`deadletters list --json` (with `args`), by ref."""
    result = registervard("deadletters", "list", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return {letter["ref"]: letter for letter in json.loads(result.stdout)}


def own_register(settings, tmp_path) -> dict[str, str]:
    """The environment of these settings with a register database in a file, so that resolutions outlive each command."""
    return service_env(replace(settings, database_url=f"sqlite:///{tmp_path / 'register.db'}"))


def test_a_retried_dead_letter_is_resolved_so_the_list_no_longer_shows_it_and_all_shows_its_state(settings, worker, tmp_path):
    env = own_register(settings, tmp_path)
    customer = f"C-{uuid.uuid4().hex[:8]}"
    early = ConsentGiven(envelope=envelope(customer), purpose=ConsentPurpose.MARKETING, channel=Channel.EMAIL, company="Acme AB")
    publish(settings, early)
    [ref] = dead_letter_refs(settings, customer, "UNKNOWN_CUSTOMER")
    assert listed(env)[ref]["state"] == "open"
    publish(settings, parse_event(person(customer)))

    retried = registervard("deadletters", "retry", ref, env=env)
    assert retried.returncode == 0, retried.stderr
    assert f"Marked resolved (retried): {ref}" in " ".join(retried.stdout.split())
    assert in_log(settings, early.event_id)

    assert ref not in listed(env), "a retried dead letter is no longer open"
    letter = listed(env, "--all")[ref]
    assert (letter["state"], letter["resolution"]["how"], letter["event_id"]) == ("resolved", "RETRIED", str(early.event_id))
    assert letter["reason_code"] == "UNKNOWN_CUSTOMER" and letter["resolution"]["resolved_by"]
    table = registervard("deadletters", "list", "--all", "--code", "UNKNOWN_CUSTOMER", env=env)
    assert "retried" in table.stdout and str(early.event_id) in table.stdout


def test_a_dead_letter_fixed_elsewhere_is_marked_resolved_with_a_note_and_stays_on_record(settings, worker, tmp_path):
    env = own_register(settings, tmp_path)
    customer = f"C-{uuid.uuid4().hex[:8]}"
    death = CustomerDeceased(envelope=envelope(customer, on=date(2025, 5, 1)), date_of_death=date(2025, 5, 1))
    late = AddressChanged(
        envelope=envelope(customer, on=date(2025, 9, 2)),
        effective_date=date(2025, 9, 1),
        address=PostalAddress(street="Ny 1", postal_code="22100", city="Lund"),
    )
    publish(settings, parse_event(person(customer)), death, late)
    [ref] = dead_letter_refs(settings, customer, "AFTER_DEATH")

    resolved = registervard("deadletters", "resolve", ref, "--note", "the estate's new address; sent to the estate's contact instead", env=env)
    assert resolved.returncode == 0, resolved.stderr
    assert f"Marked resolved: {ref}" in resolved.stdout
    again = registervard("deadletters", "resolve", ref, "--note", "once more", env=env)
    assert again.returncode == 0 and f"{ref} was resolved already" in " ".join(again.stderr.split())

    assert ref not in listed(env) and ref not in listed(env, "--code", "AFTER_DEATH")
    letter = listed(env, "--all")[ref]
    assert letter["state"] == "resolved"
    assert (letter["resolution"]["how"], letter["resolution"]["note"]) == ("MARKED", "the estate's new address; sent to the estate's contact instead")
    retried = registervard("deadletters", "retry", "--code", "AFTER_DEATH", env=env)
    assert retried.returncode == 0 and ref not in retried.stdout, "retry without refs sends only open dead letters"


def test_resolving_needs_a_known_ref_and_a_note(settings, tmp_path):
    env = own_register(settings, tmp_path)
    unknown = registervard("deadletters", "resolve", "9:999999", "--note", "fixed", env=env)
    assert unknown.returncode == 1 and "no dead letter 9:999999" in unknown.stderr
    empty = registervard("deadletters", "resolve", "0:0", "--note", " ", env=env)
    assert empty.returncode == 1 and "--note is empty" in empty.stderr


def test_at_80_columns_the_list_cuts_no_ref_code_or_event_id(settings, worker, tmp_path):
    env = {**own_register(settings, tmp_path), "COLUMNS": "80"}
    customer = f"C-{uuid.uuid4().hex[:8]}"
    early = ConsentGiven(envelope=envelope(customer), purpose=ConsentPurpose.NEWSLETTER, channel=Channel.EMAIL, company="Acme AB")
    publish(settings, early)
    [ref] = dead_letter_refs(settings, customer, "UNKNOWN_CUSTOMER")
    for args in ((), ("--all",)):
        table = registervard("deadletters", "list", *args, env=env)
        assert table.returncode == 0, table.stderr
        assert "…" not in table.stdout and all(len(line) <= 80 for line in table.stdout.splitlines())
        words = table.stdout.split()
        assert ref in words and "UNKNOWN_CUSTOMER" in words and str(early.event_id) in words
