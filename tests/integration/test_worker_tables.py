"""The worker with its states in Faust tables (REGISTERVARD_WORKER_STATE=table), through the real broker."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from events import codec
from events.catalog import AddressChanged, Channel, ConsentGiven, ConsentPurpose, CustomerDeceased, Event, PostalAddress
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from tests.builders import envelope, person
from tests.conftest import running_worker, service_env, stop_process
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka


def _table_env(state_dir: Path) -> dict[str, str]:
    return {"REGISTERVARD_WORKER_STATE": "table", "REGISTERVARD_STATE": str(state_dir)}


@contextmanager
def _talkative_worker(settings: Settings, log: Path, **env: str) -> Iterator[None]:
    """`registervard --log-level INFO worker`, until it says it is ready; stopped (SIGTERM) afterwards."""
    ready_before = len(_ready_lines(log)) if log.exists() else 0
    with log.open("a") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "registervard", "--log-level", "INFO", "worker"],
            env=service_env(settings, **{"REGISTERVARD_EXPIRY_CHECK_SECONDS": "1", **env}),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        asyncio.run(_until(lambda: len(_ready_lines(log)) > ready_before or process.poll() is not None))
        assert process.poll() is None, log.read_text()[-4000:]
        yield
    finally:
        stop_process(process)


async def _until(done, timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.2)):
        if done():
            return
        await asyncio.sleep(0.2)


async def _publish(settings: Settings, *events: Event) -> None:
    async with Publisher(settings) as publisher:
        await publisher.publish(events)


async def _log(settings: Settings, until) -> list[tuple[str, str, str]]:
    """(customer id, event type, event id) of every record of the log, once `until(records)` holds."""

    def records(messages):
        return [(m.key.decode(), *_named(m.value)) for m in messages]

    messages = await read_topic(settings.kafka, settings.events_topic, until=lambda ms: until(records(ms)))
    return records(messages)


def _named(value: bytes) -> tuple[str, str]:
    event = codec.decode(value)
    return type(event).__name__, str(event.event_id)


def _has(kind: str, customer: str):
    return lambda records: any(r[0] == customer and r[1] == kind for r in records)


def _life(anna: str, ghost: str) -> tuple[list[Event], list[Event]]:
    """A small scripted life in two parts: the first lets a NIX override consent lapse (given 2025-01-01, lapsed
    2025-04-01, long before now); the second moves, repeats an event, names a customer never registered, and dies."""
    registered = parse_event(person(anna))
    lapsing = ConsentGiven(
        envelope=envelope(anna, on=date(2025, 1, 1)), purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, company="Acme AB", overrides_nix=True
    )
    kept = ConsentGiven(envelope=envelope(anna, on=date(2025, 2, 1)), purpose=ConsentPurpose.MARKETING, channel=Channel.EMAIL, company="Acme AB")
    moved = AddressChanged(
        envelope=envelope(anna, on=date(2025, 5, 1)), effective_date=date(2025, 5, 1), address=PostalAddress(street="Ny 1", postal_code="22100", city="Lund")
    )
    stranger = replace(moved, envelope=envelope(ghost, on=date(2025, 5, 1)))
    died = CustomerDeceased(envelope=envelope(anna, on=date(2025, 6, 1)), date_of_death=date(2025, 6, 1))
    return [registered, lapsing, kept], [moved, registered, stranger, died]


async def _run_life(settings: Settings, anna: str, life: tuple[list[Event], list[Event]]) -> list[tuple[str, str, str]]:
    first, second = life
    await _publish(settings, *first)
    await _log(settings, _has("ConsentExpired", anna))  # the timer's work is in before the rest comes
    await _publish(settings, *second)
    return await _log(settings, _has("ConsentWithdrawn", anna))


def _settings_of_own(settings: Settings) -> Settings:
    own = replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_topics(own))
    return own


def test_a_worker_with_tables_admits_refuses_and_expires_exactly_as_one_that_folds_the_log(settings, tmp_path):
    """The same life through both modes, each on topics of its own: the same log, record for record."""
    anna, ghost = f"C-{uuid.uuid4().hex[:10]}", f"C-{uuid.uuid4().hex[:10]}"
    life = _life(anna, ghost)  # the same events, ids and all, for both
    logs = {}
    for mode in ("log", "table"):
        own = _settings_of_own(settings)
        env = {"REGISTERVARD_WORKER_STATE": mode, "REGISTERVARD_STATE": str(tmp_path / mode)}
        with running_worker(own, tmp_path / f"{mode}.log", **env):
            logs[mode] = asyncio.run(_run_life(own, anna, life))
        dead = asyncio.run(read_topic(own.kafka, own.dead_letter_topic, until=1))
        assert [m.key.decode() for m in dead] == [ghost], mode
    assert [r[1] for r in logs["log"]] == [
        "CustomerRegistered", "ConsentGiven", "ConsentGiven", "ConsentExpired", "AddressChanged", "CustomerDeceased", "ConsentWithdrawn",
    ]
    assert logs["table"] == logs["log"]


def _ready_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "worker_ready" in line]


def test_a_worker_restarted_with_its_store_reads_nothing_of_the_log_appends_nothing_and_knows_every_customer(settings, tmp_path):
    own = _settings_of_own(settings)
    anna, ghost, bertil = (f"C-{uuid.uuid4().hex[:10]}" for _ in range(3))
    env = _table_env(tmp_path / "state")
    log = tmp_path / "worker.log"
    life = _life(anna, ghost)
    with _talkative_worker(own, log, **env):
        before = asyncio.run(_run_life(own, anna, life))
    assert any(Path(tmp_path / "state" / "faust").rglob("*.sst")) or any(Path(tmp_path / "state" / "faust").rglob("CURRENT"))  # rocksdb

    with _talkative_worker(own, log, **env):
        # Known only from the stored state: a repeated registration is dropped, a move is admitted (not "unknown customer").
        first, _ = life
        address = PostalAddress(street="Ån 2", postal_code="22100", city="Lund")
        moved = AddressChanged(envelope=envelope(anna, on=date(2025, 5, 2)), effective_date=date(2025, 5, 2), address=address)
        newcomer = parse_event(person(bertil))
        asyncio.run(_publish(own, first[0], moved, newcomer))
        after = asyncio.run(_log(own, lambda rs: _has("CustomerRegistered", bertil)(rs) and len(rs) >= len(before) + 2))

    restarted = _ready_lines(log)[-1]
    assert re.search(r"log_records_read\W+0\b", restarted), restarted
    assert re.search(r"state\W+table", restarted), restarted
    # Records of different partitions come in no set order: compare them as a collection.
    assert sorted(after) == sorted([*before, (anna, "AddressChanged", str(moved.event_id)), (bertil, "CustomerRegistered", str(newcomer.event_id))])
    dead = asyncio.run(read_topic(own.kafka, own.dead_letter_topic, until=1))
    assert [m.key.decode() for m in dead] == [ghost]  # nothing new refused
