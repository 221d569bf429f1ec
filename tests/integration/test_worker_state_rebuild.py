"""`registervard worker-state rebuild`: a table-mode worker's stored state made again from the log, through the real broker."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from events import codec
from events.catalog import AddressChanged, Channel, ConsentGiven, ConsentPurpose, CustomerDeceased, PostalAddress
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from processors.state_rebuild import group_members, worker_group
from tests.builders import envelope, person
from tests.conftest import running_worker, service_env, stop_process
from tests.integration.kafka_helpers import produce_raw, read_topic

pytestmark = pytest.mark.kafka


def _own(settings: Settings) -> Settings:
    own = replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_topics(own))
    return own


def _env(state_dir: Path) -> dict[str, str]:
    return {"REGISTERVARD_WORKER_STATE": "table", "REGISTERVARD_STATE": str(state_dir)}


@contextmanager
def _worker(settings: Settings, log: Path, **env: str) -> Iterator[subprocess.Popen]:
    """`registervard --log-level INFO worker`, until it says it is ready (or has ended); stopped (SIGTERM) afterwards."""
    ready_before = _ready_lines(log)
    with log.open("a") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "registervard", "--log-level", "INFO", "worker"],
            env=service_env(settings, **env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        asyncio.run(_until(lambda: len(_ready_lines(log)) > len(ready_before) or process.poll() is not None))
        assert process.poll() is None, log.read_text()[-4000:]
        yield process
    finally:
        stop_process(process)


def _ready_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "worker_ready" in line] if log.exists() else []


async def _until(done, timeout: float = 90) -> None:
    for _ in range(int(timeout / 0.2)):
        if done():
            return
        await asyncio.sleep(0.2)


async def _no_worker_in_group(settings: Settings) -> None:
    """Until the worker's consumer group is empty (a crashed member stays for its session timeout)."""
    for _ in range(300):
        if not await group_members(settings):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"consumer group {worker_group(settings)} still has members")


def _rebuild(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registervard", "worker-state", "rebuild", *args],
        env=service_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _publish(settings: Settings, *events) -> None:
    async with Publisher(settings) as publisher:
        await publisher.publish(events)


def _changelog(settings: Settings) -> str:
    return f"{worker_group(settings)}-customer-states-changelog"  # Faust's name: "{app id}-{table}-changelog"


async def _partition_in_changelog(settings: Settings, customer: str) -> int:
    key = customer.encode()
    messages = await read_topic(settings.kafka, _changelog(settings), until=lambda ms: any(m.key == key for m in ms))
    return next(m.partition for m in messages if m.key == key)


async def _write_changelog(settings: Settings, partition: int, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(_changelog(settings), key=key, value=value, partition=partition)
    finally:
        await producer.stop()


async def _dead_letters(settings: Settings, customer: str) -> list[str]:
    key = customer.encode()
    messages = await read_topic(settings.kafka, settings.dead_letter_topic, until=lambda ms: any(m.key == key for m in ms))
    return [codec.decode_record(m.value)[1]["reason_code"] for m in messages if m.key == key]


def _log_has(settings: Settings, customer: str, kind: str) -> bool:
    key = customer.encode()
    messages = asyncio.run(
        read_topic(settings.kafka, settings.events_topic, until=lambda ms: any(m.key == key and type(codec.decode(m.value)).__name__ == kind for m in ms))
    )
    return any(m.key == key and type(codec.decode(m.value)).__name__ == kind for m in messages)


def test_a_worker_meeting_state_of_an_unknown_version_stops_with_advice_and_after_the_rebuild_knows_every_customer(settings, tmp_path):
    own = _own(settings)
    env = _env(tmp_path / "state")
    log = tmp_path / "worker.log"
    anna, bertil, cecilia, stray = (f"C-{uuid.uuid4().hex[:10]}" for _ in range(4))

    with _worker(own, log, **env):
        asyncio.run(_publish(own, parse_event(person(anna)), parse_event(person(bertil))))
        partition = asyncio.run(_partition_in_changelog(own, anna))
        asyncio.run(_partition_in_changelog(own, bertil))

    # A state written by a later version of CustomerState, and a key the log knows nothing of; the local store gone.
    newer = bytes([99]) + b'{"shape":"of a later CustomerState"}'
    asyncio.run(_write_changelog(own, partition, [(anna.encode(), newer), (stray.encode(), newer)]))
    shutil.rmtree(tmp_path / "state" / "faust")

    again = parse_event(person(anna, event_id=str(uuid.uuid4())))  # a second registration: refused once the worker knows anna
    with _worker(own, log, **env) as stopped:
        asyncio.run(_publish(own, again))
        asyncio.run(_until(lambda: stopped.poll() is not None))
        assert stopped.returncode == 70, log.read_text()[-4000:]
    output = log.read_text()
    assert "UnknownStateVersion" in output
    assert "version 99" in output
    assert "run `registervard worker-state rebuild`" in output

    # A crash between an event and its consequence, as a log-mode worker would have left it: a death, no withdrawal.
    consent = ConsentGiven(envelope=envelope(cecilia, on=date(2025, 2, 1)), purpose=ConsentPurpose.MARKETING, channel=Channel.EMAIL, company="Acme AB")
    died = CustomerDeceased(envelope=envelope(cecilia, on=date(2025, 6, 1)), date_of_death=date(2025, 6, 1))
    asyncio.run(produce_raw(own.kafka, own.events_topic, [(cecilia.encode(), codec.encode(e)) for e in (parse_event(person(cecilia)), consent, died)]))

    asyncio.run(_no_worker_in_group(own))
    rebuilt = _rebuild(own, "--yes", **env)
    said = " ".join(rebuilt.stdout.split())  # the console wraps long lines
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "3 customer(s) written" in said, said
    assert "1 tombstone(s)" in said, said  # the stray key
    assert "1 missing consequence(s) appended" in said, said
    assert _log_has(own, cecilia, "ConsentWithdrawn")

    with _worker(own, log, **env):
        moved = AddressChanged(
            envelope=envelope(bertil, on=date(2025, 5, 2)),
            effective_date=date(2025, 5, 2),
            address=PostalAddress(street="Ån 2", postal_code="22100", city="Lund"),
        )
        asyncio.run(_publish(own, moved))
        assert _log_has(own, bertil, "AddressChanged")  # bertil is known: not refused as an unknown customer
        # The registration the failed worker never committed comes again, and anna is known again.
        # (Set, not list: the restarted worker has been seen to refuse the redelivered message twice, which at-least-once allows.)
        assert set(asyncio.run(_dead_letters(own, anna))) == {"ALREADY_REGISTERED"}

    ready = _ready_lines(log)[-1]
    assert re.search(r"log_records_read\W+0\b", ready), ready
    assert re.search(r"state\W+table", ready), ready


def test_the_rebuild_refuses_while_a_worker_runs(settings, tmp_path):
    own = _own(settings)
    env = _env(tmp_path / "state")
    with running_worker(own, tmp_path / "worker.log", **env) as process:
        asyncio.run(_until_member(own))
        refused = _rebuild(own, "--yes", **env)
        assert process.poll() is None
    said = " ".join(refused.stderr.split())  # the console wraps long lines
    assert refused.returncode == 1, said
    assert f"consumer group {worker_group(own)}" in said, said
    assert "stop every `registervard worker`" in said, said
    assert "rebuilt" not in refused.stdout


async def _until_member(settings: Settings) -> None:
    for _ in range(300):
        if await group_members(settings):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the worker never joined its consumer group")
