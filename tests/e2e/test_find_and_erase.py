"""An operator finds customers and erases one from the command line, through the real broker, worker and projection.

`customer find` by identity number (any written form), name, phone and e-mail;
`customer show` given an identity number points to it; `erase` refuses a
customer the register does not have, and asks before an erasure that cannot be undone.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from dataclasses import replace

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from events import codec
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics, partitions_of
from tests.conftest import service_env
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_search import ANNA_NUMBER, BERTIL_NUMBER, REGISTER

pytestmark = pytest.mark.kafka


def registervard(*args: str, env: dict[str, str], stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """The command line with no terminal on standard input (unless `stdin` is given), 80 columns wide, as in a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "registervard", *args], env={**env, "COLUMNS": "80"}, stdin=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def env(settings, worker, tmp_path_factory):
    """The environment of a register holding tests/unit/test_search.py's customers, published and projected for real."""
    asyncio.run(ensure_topics(settings))
    env = service_env(replace(settings, database_url=f"sqlite:///{tmp_path_factory.mktemp('find') / 'register.db'}"))

    async def publish() -> None:
        async with Publisher(settings) as publisher:
            await publisher.publish([parse_event(document) for document in REGISTER])

    asyncio.run(publish())
    for _ in range(60):
        registervard("project", "--until-caught-up", env=env)
        if all(registervard("customer", "show", c, env=env).returncode == 0 for c in ("C-company", "C-bertil", "C-cecilia")):
            break
    else:
        pytest.fail("the register never got the published customers")
    return env


def intake_size(settings) -> int:
    """How many messages the intake topic has ever received."""

    async def size() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka)
        await consumer.start()
        try:
            parts = [TopicPartition(settings.intake_topic, p) for p in await partitions_of(settings, settings.intake_topic)]
            return sum((await consumer.end_offsets(parts)).values())
        finally:
            await consumer.stop()

    return asyncio.run(size())


def test_customer_find_by_a_partial_name_prints_id_kind_status_name_and_city(env):
    found = registervard("customer", "find", "anna svens", env=env)
    assert found.returncode == 0, found.stderr
    rows = [line.split() for line in found.stdout.splitlines() if line.strip().startswith("C-")]
    assert rows == [
        ["C-anna", "person", "active", "Anna", "Svensson", "Stockholm", "name"],
        ["C-twin", "person", "active", "Anna", "Svensson", "Malmö", "name"],
    ]
    assert all(len(line) <= 80 for line in found.stdout.splitlines())
    assert "2 customer(s) found, searching by name" in " ".join(found.stderr.split())


def test_customer_find_by_identity_number_in_any_form_phone_and_e_mail_answers_json(env):
    def ids(text: str) -> list[str]:
        answer = registervard("customer", "find", text, "--json", env=env)
        assert answer.returncode == 0, answer.stderr
        return [c["customer_id"] for c in json.loads(answer.stdout)["customers"]]

    assert ids(f"{ANNA_NUMBER[2:8]}-{ANNA_NUMBER[8:]}") == ids(ANNA_NUMBER) == ["C-anna", "C-twin"]
    assert ids("070-123 45 67") == ["C-anna"]
    assert ids("ZOE.renee@example.se") == ["C-zoe"]
    assert ids("åkeriet nord") == ["C-company"]
    assert ids("C-dora") == ["C-dora"]
    dora = json.loads(registervard("customer", "find", "dora", "--json", env=env).stdout)["customers"][0]
    assert (dora["badge"], dora["name"], dora["city"], dora["matched_on"]) == ("deceased", "Dora Svensson", "Lund", ["name"])


def test_a_protected_identity_is_found_by_number_only_and_shown_without_name_or_city(env):
    by_name = registervard("customer", "find", "bertil", "--json", env=env)
    assert json.loads(by_name.stdout) == {"customers": [], "more": False}
    by_number = registervard("customer", "find", BERTIL_NUMBER, env=env)
    assert by_number.returncode == 0
    [row] = [line.split() for line in by_number.stdout.splitlines() if line.strip().startswith("C-")]
    assert row[:3] == ["C-bertil", "person", "protected"]
    assert not any(secret in by_number.stdout for secret in ("Bertil", "Östberg", "Lund"))


def test_a_query_that_is_no_identity_number_phone_or_name_gets_the_reason_and_exit_1(env):
    wrong = f"{ANNA_NUMBER[2:8]} {ANNA_NUMBER[8:11]}{(int(ANNA_NUMBER[11]) + 1) % 10}"
    refused = registervard("customer", "find", wrong, env=env)
    assert refused.returncode == 1
    assert "neither an identity number nor a phone number" in " ".join(refused.stderr.split()) and "check digit" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_customer_show_of_an_identity_number_points_to_customer_find_without_repeating_the_number(env):
    shown = registervard("customer", "show", ANNA_NUMBER, env=env)
    assert shown.returncode == 1
    message = " ".join(shown.stderr.split())
    assert "is an identity number, not a customer id" in message and "registervard customer find" in message
    assert ANNA_NUMBER not in shown.stderr and ANNA_NUMBER[2:] not in shown.stderr


def test_erase_refuses_a_customer_the_register_does_not_have_and_an_identity_number_and_publishes_nothing(settings, env):
    before = intake_size(settings)
    unknown = registervard("erase", "C-99999", "--reason", "OTHER", env=env)  # refused before any question
    assert unknown.returncode == 1
    message = " ".join(unknown.stderr.split())
    assert "No customer C-99999 in the register, so nothing was erased" in message and "registervard customer find" in message
    assert "requested" not in unknown.stdout
    number = registervard("erase", ANNA_NUMBER, "--reason", "OTHER", env=env)
    assert number.returncode == 1 and "is an identity number, not a customer id" in " ".join(number.stderr.split())
    assert ANNA_NUMBER not in number.stderr
    assert intake_size(settings) == before, "nothing was published"


def test_erase_asks_before_erasing_refuses_without_a_terminal_and_erases_when_confirmed(settings, env):
    before = intake_size(settings)
    piped = registervard("erase", "C-dora", "--reason", "CUSTOMER_REQUEST", env=env)
    assert piped.returncode == 1
    assert "Pass --yes to erase from a script" in " ".join(piped.stderr.split())

    def on_a_terminal(answer: bytes) -> subprocess.CompletedProcess:
        controller, terminal = pty.openpty()
        try:
            os.write(controller, answer)
            return registervard("erase", "C-dora", "--reason", "CUSTOMER_REQUEST", env=env, stdin=terminal)
        finally:
            os.close(terminal)
            os.close(controller)

    declined = on_a_terminal(b"n\n")
    assert declined.returncode == 1
    assert "Erase C-dora (person, deceased, Dora Svensson, Lund)?" in " ".join(declined.stderr.split()) and "Nothing erased" in declined.stderr
    assert intake_size(settings) == before, "nothing was published"

    confirmed = on_a_terminal(b"y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "Erasure of C-dora requested" in confirmed.stdout
    def erasure(messages) -> list[str]:
        return [codec.event_name(m.value) for m in messages if m.key == b"C-dora" and codec.event_name(m.value) == "CustomerErased"]

    assert erasure(asyncio.run(read_topic(settings.kafka, settings.intake_topic, until=erasure))) == ["CustomerErased"]
    assert intake_size(settings) == before + 1
