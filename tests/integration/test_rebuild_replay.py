"""Replay "as of" and the register rebuild, through the real broker and both databases."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy

from events.catalog import AddressChanged, PostalAddress
from events.event_log import log_end_offsets
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.database import connect
from projections.rebuild import rebuild_register
from projections.register import RegisterProjection
from projections.replay import parse_as_of, partition_for, replay_as_of
from projections.runner import run_projection, stored_offsets
from registervard.demo import demo_events
from tests.builders import envelope, person
from tests.conftest import service_env
from tests.register_snapshot import snapshot

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


def demo(customers: int, seed: int) -> list:
    """A demo register's events under customer ids of this test's own; no consent that lapses by itself."""
    prefix = f"T{uuid.uuid4().hex[:6]}-"
    events = []
    for text in demo_events(customers=customers, seed=seed):
        line = json.loads(text.replace('"C-', f'"{prefix}C-'))
        if line["type"] == "ConsentGiven" and (line.get("valid_until") or line.get("overrides_nix")):
            continue
        events.append(parse_event(line))
    return events


async def settled_log_end(settings, at_least: int, timeout: float = 90) -> dict[int, int]:
    """The log's end offsets once they hold `at_least` records and stopped growing."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        ends = await log_end_offsets(settings)
        if sum(ends.values()) >= at_least and ends == previous:
            return ends
        previous = ends
        await asyncio.sleep(1.5)
    raise AssertionError(f"the log did not reach {at_least} records and settle")


async def published(settings, events) -> dict[int, int]:
    before = sum((await log_end_offsets(settings)).values())
    async with Publisher(settings) as publisher:
        await publisher.publish(events)
    return await settled_log_end(settings, before + len(events))


def caught_up(database_url: str, settings, ends: dict[int, int]) -> bool:
    engine = connect(database_url)
    try:
        stored = stored_offsets(engine, "register", settings.events_topic)
    finally:
        engine.dispose()
    return all(stored.get(p, 0) >= end for p, end in ends.items() if end)


async def wait_caught_up(database_url, settings, ends, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not caught_up(database_url, settings, ends):
        if time.monotonic() > deadline:
            raise AssertionError("the live projection did not catch up")
        await asyncio.sleep(0.3)


# --- Replay as of --------------------------------------------------------------------


def moved(customer: str, street: str, effective: date, recorded: date) -> AddressChanged:
    return AddressChanged(
        envelope=envelope(customer, on=recorded), effective_date=effective, address=PostalAddress(street=street, postal_code="22100", city="Lund")
    )


async def test_replay_as_of_gives_the_address_the_customer_had_on_that_date(settings, worker):
    customer = f"C-{uuid.uuid4().hex[:10]}"
    life = [
        parse_event(person(customer, occurred_at="2025-01-10T09:00:00Z", recorded_at="2025-01-10T09:00:00Z")),  # Storgatan 1
        moved(customer, "Marsvägen 3", effective=date(2025, 3, 1), recorded=date(2025, 3, 2)),
        moved(customer, "Junigatan 9", effective=date(2025, 7, 1), recorded=date(2025, 5, 15)),  # announced ahead
        moved(customer, "Majgatan 5", effective=date(2025, 5, 1), recorded=date(2025, 8, 1)),  # reported late
    ]
    await published(settings, life)

    async def street(as_of: str, **kwargs) -> str:
        result = await replay_as_of(settings, keys=key_store(settings), as_of=parse_as_of(as_of), **kwargs)
        return result.views[customer].address.street

    assert await street("2025-06-01", customer_id=customer) == "Marsvägen 3", "the May move was not yet known, July's not yet in force"
    assert await street("2025-07-15", customer_id=customer) == "Junigatan 9"
    assert await street("2025-02-01", customer_id=customer) == "Storgatan 1"
    assert await street("2025-06-01") == "Marsvägen 3", "the whole register gives the same answer"
    assert customer not in (await replay_as_of(settings, keys=key_store(settings), as_of=parse_as_of("2025-01-01"))).views

    output = subprocess.run(
        [sys.executable, "-m", "registervard", "replay", "--as-of", "2025-06-01", "--customer", customer, "--json"],
        env=service_env(settings, COLUMNS="400"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert output.returncode == 0, output.stderr
    (view,) = json.loads(output.stdout)["customers"]
    assert (view["customer_id"], view["address"]["street"], view["address_since"]) == (customer, "Marsvägen 3", "2025-03-01")


async def test_a_customer_is_read_from_the_partition_its_key_maps_to(settings, worker):
    customers = [f"C-{uuid.uuid4().hex[:10]}" for _ in range(12)]
    await published(settings, [parse_event(person(c)) for c in customers])
    ends = await log_end_offsets(settings)
    from events.event_log import read_log_records

    found: dict[str, set[int]] = {c: set() for c in customers}
    async for batch in read_log_records(settings):
        for record in batch:
            from events import codec

            event = codec.decode(record.value)
            if event.customer_id in found:
                found[event.customer_id].add(record.partition)
    assert len({p for ps in found.values() for p in ps}) > 1, "the customers spread over the partitions"
    for customer, partitions in found.items():
        assert partitions == {partition_for(customer, len(ends))}


# --- Rebuild ---------------------------------------------------------------------------


async def test_a_rebuilt_register_is_identical_to_the_one_built_live(settings, worker, database_url):
    ends = await published(settings, demo(customers=60, seed=11))
    live = replace(settings, database_url=database_url)
    await run_projection(live, RegisterProjection(), keys=key_store(live), until_caught_up=True)
    built_live = snapshot(database_url)
    assert len(built_live["customers"]) >= 60

    report = await rebuild_register(live, keys=key_store(live))
    assert report.events >= sum(ends.values()) and report.customers == len(built_live["customers"])
    assert snapshot(database_url) == built_live
    await rebuild_register(live, keys=key_store(live))  # a second rebuild finds the names it needs free again
    assert snapshot(database_url) == built_live
    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as connection:
        leftovers = [n for n in sqlalchemy.inspect(connection).get_table_names() if "__" in n]
        if engine.dialect.name == "postgresql":
            leftovers += list(connection.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%\\_\\_%%'").scalars())
    engine.dispose()
    assert leftovers == []


async def test_a_rebuild_while_the_live_projection_runs_and_events_flow_loses_nothing(settings, worker, database_url):
    first, second = demo(customers=40, seed=21), demo(customers=40, seed=22)
    await published(settings, first)
    live = replace(settings, database_url=database_url)
    stop = asyncio.Event()
    projection = asyncio.create_task(run_projection(live, RegisterProjection(), keys=key_store(live), stop=stop, max_batch=50))

    async def keep_publishing() -> None:
        async with Publisher(settings) as publisher:
            for start in range(0, len(second), 40):
                await publisher.publish(second[start : start + 40])
                await asyncio.sleep(0.05)

    publishing = asyncio.create_task(keep_publishing())
    await asyncio.sleep(0.3)
    await rebuild_register(live, keys=key_store(live))
    await publishing
    ends = await settled_log_end(settings, 0)
    await wait_caught_up(database_url, settings, ends)
    stop.set()
    await asyncio.wait_for(projection, timeout=30)
    after = snapshot(database_url)

    await rebuild_register(live, keys=key_store(live))  # a clean rebuild, nothing running
    assert snapshot(database_url) == after


async def test_a_projection_killed_mid_flow_and_restarted_equals_a_clean_rebuild(settings, worker, database_url):
    events = demo(customers=80, seed=31)
    live = replace(settings, database_url=database_url)
    connect(database_url).dispose()

    def start_projection() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "registervard", "project", "--only", "register"],
            env=service_env(live),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    process = start_projection()
    async with Publisher(settings) as publisher:
        for start in range(0, len(events), 50):
            await publisher.publish(events[start : start + 50])
            await asyncio.sleep(0.1)
            if start == 250:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                process = start_projection()
    try:
        ends = await settled_log_end(settings, 0)
        await wait_caught_up(database_url, settings, ends)
    finally:
        process.terminate()
        process.wait(timeout=30)
    after = snapshot(database_url)
    assert after["customers"]

    await rebuild_register(live, keys=key_store(live))
    assert snapshot(database_url) == after
