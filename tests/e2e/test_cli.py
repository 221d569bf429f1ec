"""The command line as an upstream system's operator uses it, end to end on the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from events.topics import ensure_topics
from registervard import exit_codes
from tests.builders import line, person
from tests.conftest import service_env
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka


def registervard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "registervard", *args], env=env, capture_output=True, text=True, timeout=120)


def write_lines(path: Path, documents: list) -> Path:
    path.write_text("".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in documents), encoding="utf-8")
    return path


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


def test_a_file_with_bad_lines_publishes_the_good_ones_and_names_each_bad_line(settings, worker, tmp_path):
    anna, bertil = f"C-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    events = write_lines(
        tmp_path / "events.jsonl",
        [
            person(anna),
            line("AddressChanged", anna, effective_date="2025-02-01", address={"street": "Ny 1", "postal_code": "1234", "city": "Lund"}),
            person(bertil),
            "{broken",
            line("AddressChanged", anna, effective_date="2025-03-01", address={"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"}),
        ],
    )
    env = service_env(replace(settings, database_url=f"sqlite:///{tmp_path / 'register.db'}"))

    published = registervard("publish", str(events), env=env)
    assert published.returncode == exit_codes.SOME_REFUSED
    assert "3 event(s) published, 2 line(s) rejected" in published.stdout
    assert "line 2: address.postal_code: must be five digits" in published.stderr
    assert "line 4: not valid JSON" in published.stderr
    assert "Traceback" not in published.stderr

    registervard("project", "--until-caught-up", env=env)  # may stop before the worker is done; poll below
    for _ in range(60):
        shown = registervard("customer", "show", anna, "--json", env=env)
        if shown.returncode == 0 and json.loads(shown.stdout)["street"] == "Ågatan 2":
            break
        registervard("project", "--until-caught-up", env=env)
    record = json.loads(shown.stdout)
    assert (record["street"], record["city"], record["events_applied"]) == ("Ågatan 2", "Lund", 2)


def test_all_or_nothing_publishes_nothing_from_a_file_with_one_bad_line(settings, tmp_path):
    customer = f"C-{uuid.uuid4().hex[:8]}"
    events = write_lines(tmp_path / "events.jsonl", [person(customer), line("CustomerDeceased", customer, date_of_death="tomorrow")])
    result = registervard("publish", "--all-or-nothing", str(events), env=service_env(settings))
    assert result.returncode == exit_codes.SOME_REFUSED
    assert "0 event(s) published, 1 line(s) rejected (nothing published: --all-or-nothing)" in " ".join(result.stdout.split())
    intake = asyncio.run(read_topic(settings.kafka, settings.intake_topic, until=10**9, timeout=3))
    assert customer.encode() not in {m.key for m in intake}


def test_an_unreachable_broker_gets_advice_not_a_traceback(settings, tmp_path):
    events = write_lines(tmp_path / "events.jsonl", [person("C-1")])
    result = registervard("publish", str(events), env=service_env(replace(settings, kafka="127.0.0.1:1")))
    assert result.returncode == 1
    assert "Cannot reach Kafka at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_asking_for_an_unknown_customer_says_what_to_check(settings, tmp_path):
    env = service_env(replace(settings, database_url=f"sqlite:///{tmp_path / 'register.db'}"))
    result = registervard("customer", "show", "C-nobody", env=env)
    assert result.returncode == 1
    assert "No customer C-nobody in the register" in result.stderr
