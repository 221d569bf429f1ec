"""Table-mode workers killed with SIGKILL under load, through the real broker: every published event in the log once."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from events import codec
from events.catalog import AddressChanged, Event, PostalAddress
from events.jsonlines import parse_event
from events.publish import Publisher
from events.refusal import Refusal
from events.settings import Settings
from events.topics import ensure_topics
from registervard.demo import demo_events
from tests.builders import envelope
from tests.conftest import running_worker, service_env, stop_process
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka

CHUNKS = 20
"""The demo stream goes out in this many chunks, one a second."""
KILL_AFTER = 8
"""Chunks published before one worker is killed."""
UNRELIABLE = {"CustomerDeceased", "CustomerEmigrated", "ProtectedIdentitySet"}
"""Demo events after which a later AddressChanged might be refused for a reason of its own."""


def _start(settings: Settings, log: Path, state: Path) -> subprocess.Popen:
    """`registervard --log-level INFO worker` in table mode with its own state dir (not yet waited for)."""
    with log.open("a") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "registervard", "--log-level", "INFO", "worker"],
            env=service_env(settings, REGISTERVARD_WORKER_STATE="table", REGISTERVARD_STATE=str(state), REGISTERVARD_EXPIRY_CHECK_SECONDS="1"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _partitions(log: Path) -> list[list[int]]:
    """The partitions the worker said it owns, each time it said so (worker_ready, worker_partitions_recovered)."""
    found = []
    for line in log.read_text().splitlines() if log.exists() else []:
        if "worker_ready" in line or "worker_partitions_recovered" in line:
            match = re.search(r"partitions\W+\[([\d, ]*)\]", line)
            assert match, line
            found.append([int(p) for p in match.group(1).replace(" ", "").split(",") if p])
    return found


def _wait(done, what: str, logs: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
            pytest.fail(f"{what}: not within {timeout} s\n{tails}")
        time.sleep(0.2)


def _demo() -> list[Event]:
    events = []
    for line in demo_events(customers=300, seed=11):
        try:
            events.append(parse_event(json.loads(line)))
        except Refusal:
            continue  # the worker would dead-letter it too; this test is about what is admitted
    return events


async def _publish(settings: Settings, events: list[Event]) -> None:
    async with Publisher(settings) as publisher:
        await publisher.publish(events)


async def _topics(settings: Settings, until) -> tuple[list, list]:
    """The log's and the dead-letter topic's records, once `until(log, dead)` holds (or a minute has passed)."""
    deadline = time.monotonic() + 60
    while True:
        dead = await read_topic(settings.kafka, settings.dead_letter_topic, until=lambda _: False, timeout=1)
        log = await read_topic(settings.kafka, settings.events_topic, until=lambda log, dead=dead: until(log, dead), timeout=5)
        if until(log, dead) or time.monotonic() > deadline:
            return log, dead


def _settled(settings: Settings, log: list, dead: list) -> tuple[list, list]:
    """The topics once the log has stopped growing for 3 s: the expiry timer (every second) has appended what it will."""
    while True:
        time.sleep(3)
        seen = len(log)
        later, dead = asyncio.run(_topics(settings, lambda later, _, seen=seen: len(later) >= seen))
        if len(later) == seen:
            return later, dead
        log = later


def _log_ids(log: list) -> list[str]:
    return [str(codec.decode(m.value).event_id) for m in log]


def _dead_ids(dead: list) -> dict[str, str]:
    """Event id of each dead letter: its refusal code."""
    return {str(record["event_id"]): record["code"] for record in (codec.decode_record(m.value)[1] for m in dead)}


def test_a_killed_worker_s_partitions_are_taken_over_with_their_state_and_nothing_published_is_lost(settings, tmp_path):
    own = replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_topics(own))
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = _start(own, logs[0], tmp_path / "first")
    second = None
    try:
        _wait(lambda: _partitions(logs[0]), "the first worker ready", logs)
        second = _start(own, logs[1], tmp_path / "second")
        # The group settles once both have said what they own after the second joined, and together they own all.
        def shared() -> bool:
            said = [_partitions(log) for log in logs]
            return len(said[0]) >= 2 and bool(said[1]) and sorted(said[0][-1] + said[1][-1]) == list(range(own.partitions))

        _wait(shared, "the two workers sharing the partitions", logs)
        killed = first if _partitions(logs[0])[-1] else second
        killed_log, survivor_log = (logs[0], logs[1]) if killed is first else (logs[1], logs[0])
        killed_partitions = set(_partitions(killed_log)[-1])
        assert killed_partitions and len(killed_partitions) < own.partitions

        events = _demo()
        chunks = [events[len(events) * i // CHUNKS : len(events) * (i + 1) // CHUNKS] for i in range(CHUNKS)]  # in order
        for chunk in chunks[: KILL_AFTER - 1]:
            asyncio.run(_publish(own, chunk))
            time.sleep(1)
        # A customer registered before the kill, in a partition the killed worker owns, whose life leaves a move admissible.
        moves_ok = {e.customer_id for e in events} - {e.customer_id for e in events if type(e).__name__ in UNRELIABLE}

        def candidates(log: list) -> list[str]:
            registered = [m for m in log if type(codec.decode(m.value)).__name__ == "CustomerRegistered"]
            return [m.key.decode() for m in registered if m.partition in killed_partitions and m.key.decode() in moves_ok]

        before_kill, _ = asyncio.run(_topics(own, lambda log, dead: bool(candidates(log))))
        assert candidates(before_kill), "no customer of the killed worker's partitions was registered before the kill"
        asyncio.run(_publish(own, chunks[KILL_AFTER - 1]))  # killed at once: most likely in the middle of this chunk
        killed.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        killed.wait(timeout=10)
        recovered_before = len(_partitions(survivor_log))

        def took_over() -> bool:
            said = _partitions(survivor_log)
            return len(said) > recovered_before and said[-1] == list(range(own.partitions))

        takeover: float | None = None  # seconds from the kill until the survivor said it owns every partition (to ~1 s)
        for chunk in chunks[KILL_AFTER:]:
            asyncio.run(_publish(own, chunk))
            time.sleep(1)
            if takeover is None and took_over():
                takeover = time.monotonic() - killed_at
        last_day = max(e.envelope.occurred_at for e in events).date() + timedelta(days=1)
        moved = AddressChanged(
            envelope=envelope(candidates(before_kill)[0], on=last_day),
            effective_date=last_day,
            address=PostalAddress(street="Ån 2", postal_code="22100", city="Lund"),
        )
        asyncio.run(_publish(own, [moved]))

        _wait(took_over, "the survivor owning every partition", logs)
        if takeover is None:
            takeover = time.monotonic() - killed_at
        published = {str(e.event_id) for e in [*events, moved]}
        log, dead = asyncio.run(_topics(own, lambda log, dead: published <= set(_log_ids(log)) | set(_dead_ids(dead))))
        log, dead = _settled(own, log, dead)
    finally:
        for process in (first, second):
            if process is not None:
                stop_process(process)

    ids = _log_ids(log)
    refused = _dead_ids(dead)
    assert published - set(ids) - set(refused) == set(), "published events neither in the log nor dead-lettered"
    assert str(moved.event_id) in ids and str(moved.event_id) not in refused, refused.get(str(moved.event_id))

    counts = Counter(ids)
    redelivered = sum("duplicate_dropped" in line for line in survivor_log.read_text().splitlines())
    print(
        f"\n{len(events)} events published, {len(ids)} log records, {len(refused)} dead letters, "
        f"{sum(n - 1 for n in counts.values())} duplicate records; "
        f"{redelivered} redelivered intake messages dropped by the survivor as known; "
        f"killed worker owned {sorted(killed_partitions)}; survivor owned every partition {takeover:.0f} s (±1 s) after the kill"
    )
    # What the killed worker appended but had not yet written to its tables, the survivor folded from the log before
    # it took the partitions over: it dropped the redelivered messages as known instead of appending them again.
    assert {event_id: n for event_id, n in counts.items() if n > 1} == {}
    assert not set(refused) & set(ids)
    _same_as_one_worker_folding_the_log(settings, tmp_path, [*events, moved], log)


def _same_as_one_worker_folding_the_log(settings: Settings, tmp_path: Path, published: list[Event], log: list) -> None:
    """The same events through one worker that folds the log (the default mode), on topics of its own, give the same
    records, derived events (lapsed consents, withdrawals, purges) included, whose ids follow from their causes."""
    ids = set(_log_ids(log))
    alone = replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_topics(alone))
    with running_worker(alone, tmp_path / "alone.log"):
        asyncio.run(_publish(alone, published))
        reference, _ = asyncio.run(_topics(alone, lambda log, dead: set(_log_ids(log)) >= ids))
    expected = set(_log_ids(reference))
    events = {str(e.event_id): e for e in (codec.decode(m.value) for m in [*reference, *log])}

    def named(event_ids: set[str]) -> list[str]:
        return sorted(f"{type(events[i]).__name__} {i} of {events[i].customer_id}" for i in event_ids)

    assert (named(expected - ids), named(ids - expected)) == ([], []), "(only with one worker, only in this run)"


def test_a_worker_killed_again_and_again_under_load_appends_every_event_once(settings, tmp_path):
    own = replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_topics(own))
    events = _demo()
    chunks = [events[len(events) * i // CHUNKS : len(events) * (i + 1) // CHUNKS] for i in range(CHUNKS)]
    worker_log = tmp_path / "worker.log"
    state = tmp_path / "state"
    worker = _start(own, worker_log, state)
    kills = 0
    try:
        _wait(lambda: _partitions(worker_log), "the worker ready", [worker_log])
        for number, chunk in enumerate(chunks, start=1):
            asyncio.run(_publish(own, chunk))
            if number % 6 == 0:  # killed while it handles the chunk just published, then started again at once
                time.sleep(0.3 * (number % 4))
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
                kills += 1
                if kills == 2:  # once without its local store: the tables come back from their changelogs alone
                    shutil.rmtree(state)
                readies = len(_partitions(worker_log))
                worker = _start(own, worker_log, state)
                _wait(lambda readies=readies: len(_partitions(worker_log)) > readies, "the restarted worker ready", [worker_log])
        published = {str(e.event_id) for e in events}
        log, dead = asyncio.run(_topics(own, lambda log, dead: published <= set(_log_ids(log)) | set(_dead_ids(dead))))
        log, dead = _settled(own, log, dead)
    finally:
        stop_process(worker)

    ids = _log_ids(log)
    refused = _dead_ids(dead)
    counts = Counter(ids)
    caught_up = sum(int(n) for n in re.findall(r"log_records_read\W+(\d+)", worker_log.read_text()))
    print(
        f"\n{kills} kills: {len(events)} events published, {len(ids)} log records, {len(refused)} dead letters, "
        f"{sum(n - 1 for n in counts.values())} duplicate records; {caught_up} log records folded at restarts"
    )
    assert published - set(ids) - set(refused) == set(), "published events neither in the log nor dead-lettered"
    assert {event_id: n for event_id, n in counts.items() if n > 1} == {}
    assert not set(refused) & set(ids)
    _same_as_one_worker_folding_the_log(settings, tmp_path, events, log)
