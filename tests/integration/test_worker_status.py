"""`registervard status` shows the workers: a real table-mode worker's partitions, lag and next expiry, through the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from events.catalog import Channel, ConsentGiven, ConsentPurpose, Event
from events.customer import consent_lapses_on
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from registervard.worker_report import WorkersReport, worker_report
from tests.builders import envelope, person
from tests.conftest import eventually, running_worker, service_env
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka


async def _publish(settings: Settings, *events: Event) -> None:
    async with Publisher(settings) as publisher:
        await publisher.publish(events)


def _registrations(count: int) -> list[Event]:
    return [parse_event(person(f"C-{uuid.uuid4().hex[:10]}")) for _ in range(count)]


async def _report_when(settings: Settings, holds, what: str) -> WorkersReport:
    async def probe() -> WorkersReport | None:
        report = await worker_report(settings)
        return report if holds(report) else None

    return await eventually(probe, timeout=90, what=what)


def test_status_shows_a_ready_worker_with_its_partitions_lag_and_next_expiry_and_lag_once_it_is_gone(settings, tmp_path):
    own = replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_topics(own))
    customers = _registrations(9)
    anna = customers[0].customer_id
    # A NIX override given now lapses in some months: the worker's expiry heap holds it.
    lapsing = ConsentGiven(
        envelope=envelope(anna, on=datetime.now(UTC) - timedelta(minutes=1)),
        purpose=ConsentPurpose.TELEMARKETING,
        channel=Channel.PHONE,
        company="Acme AB",
        overrides_nix=True,
    )
    due = consent_lapses_on(lapsing)
    assert due is not None and due > datetime.now(UTC).date()
    env = {"REGISTERVARD_WORKER_STATE": "table", "REGISTERVARD_STATE": str(tmp_path / "state")}

    with running_worker(own, tmp_path / "worker.log", **env):
        asyncio.run(_publish(own, *customers, lapsing))
        asyncio.run(read_topic(own.kafka, own.events_topic, until=len(customers) + 1))
        in_log = datetime.now(UTC)

        def caught_up(report: WorkersReport) -> bool:
            reported = bool(report.workers) and datetime.fromisoformat(report.workers[0].updated_at) > in_log  # after the events
            return reported and report.workers[0].state == "ready" and all(p.lag == 0 for p in report.partitions)

        report = asyncio.run(_report_when(own, caught_up, "a ready worker with no lag"))
        (worker,) = report.workers
        assert worker.mode == "table"
        assert worker.partitions == list(range(own.partitions))
        assert [(p.partition, p.owner, p.lag) for p in report.partitions] == [(n, worker.worker, 0) for n in range(own.partitions)]
        assert worker.next_expiry_due == due.isoformat()
        assert sum(p.end_offset for p in report.partitions) == len(customers) + 1

        shown = subprocess.run(
            [sys.executable, "-m", "registervard", "status", "--json"], env=service_env(own), capture_output=True, text=True, timeout=60
        )
        assert shown.returncode == 0, shown.stderr
        as_json = json.loads(shown.stdout)
        assert "customers" in as_json  # the register's part is still there
        assert [w["worker"] for w in as_json["workers"]["workers"]] == [worker.worker]
        assert [p["lag"] for p in as_json["workers"]["partitions"]] == [0] * own.partitions
        table = subprocess.run([sys.executable, "-m", "registervard", "status"], env=service_env(own), capture_output=True, text=True, timeout=60)
        assert table.returncode == 0, table.stderr
        assert "Workers" in table.stdout and worker.worker in table.stdout
        print(table.stdout)

    later = _registrations(5)
    asyncio.run(_publish(own, *later))
    keys = {e.customer_id for e in later}
    intake = asyncio.run(read_topic(own.kafka, own.intake_topic, until=len(customers) + 1 + len(later)))
    waiting: dict[int, int] = {}
    for message in intake:
        if message.key.decode() in keys:
            waiting[message.partition] = waiting.get(message.partition, 0) + 1

    after = asyncio.run(worker_report(own))
    assert {p.partition: p.lag for p in after.partitions} == {n: waiting.get(n, 0) for n in range(own.partitions)}
    # Seen from a minute on, the stopped worker has gone quiet and owns nothing; the lag is Kafka's, so it still shows.
    gone = asyncio.run(worker_report(own, now=datetime.now(UTC) + timedelta(minutes=1)))
    assert [w.state for w in gone.workers] == ["gone"]
    assert [p.owner for p in gone.partitions] == [None] * own.partitions
    assert [p.lag for p in gone.partitions] == [p.lag for p in after.partitions]


def test_status_with_no_worker_ever_run_shows_every_partition_unowned_with_its_lag(settings):
    own = replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_topics(own))
    asyncio.run(_publish(own, *_registrations(4)))
    report = asyncio.run(worker_report(own))
    assert report.workers == []
    assert [p.owner for p in report.partitions] == [None] * own.partitions
    assert sum(p.lag for p in report.partitions) == 4
    assert all(p.committed is None for p in report.partitions)


def test_status_with_kafka_unreachable_gives_advice_not_a_traceback(settings):
    unreachable = replace(settings, kafka="127.0.0.1:1")
    shown = subprocess.run(
        [sys.executable, "-m", "registervard", "status"], env=service_env(unreachable), capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 1
    assert "Cannot reach Kafka at 127.0.0.1:1" in shown.stderr
    assert "Traceback" not in shown.stderr + shown.stdout
