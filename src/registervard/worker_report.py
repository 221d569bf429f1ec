"""The workers as `registervard status` shows them: who owns which intake partition, how far behind each is.

Two sources: the snapshots the workers publish (`processors.worker_status`),
read from the status topic's beginning to its end, the latest per worker; and
Kafka itself for lag, the intake topic's end offsets minus the offsets the
workers' consumer group has committed, so that lag shows when no worker runs.
A worker whose last snapshot is older than `STALE_INTERVALS` of its own
interval is "not seen since" then, and owns nothing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from events.settings import Settings
from events.topics import worker_status_topic
from processors.worker_status import STATUS_SECONDS

STALE_INTERVALS = 3
"""A worker that has not published for this many of its intervals is taken as gone."""
TIMEOUT_SECONDS = 5.0
"""How long the whole report may take: a broker that does not answer is reported, not waited for."""


@dataclass(frozen=True)
class PartitionRow:
    """One intake partition: who owns it, and how many messages wait for the workers."""

    partition: int
    owner: str | None
    """The worker that says it owns the partition; None: no live worker does."""
    lag: int
    end_offset: int
    committed: int | None
    """The consumer group's committed offset; None: never committed (the workers will start at the beginning)."""


@dataclass(frozen=True)
class WorkerRow:
    """One worker, as its last snapshot described it."""

    worker: str
    mode: str
    state: str
    """"ready", "recovering", or "gone" when it has not reported for a few intervals (see `updated_at`)."""
    recovery_progress: float | None
    recovery_remaining: int | None
    partitions: list[int]
    standby_partitions: list[int]
    next_expiry_due: str | None
    updated_at: str
    seconds_since_report: float

    def describe(self) -> str:
        """The state in words: ready, recovering N% (M records left), or not seen since when."""
        if self.state == "gone":
            return f"not seen since {self.updated_at}"
        if self.state != "recovering":
            return self.state
        if self.mode == "log":
            return "recovering (folding the event log)"
        if self.recovery_progress == 1 and not self.recovery_remaining:  # Faust has read the changelogs; the rest is quick work
            return "recovering (tables read, finishing)"
        done = f" {self.recovery_progress:.0%}" if self.recovery_progress is not None else ""
        left = f" ({self.recovery_remaining} records left)" if self.recovery_remaining else ""
        return f"recovering{done}{left}"


@dataclass(frozen=True)
class WorkersReport:
    """Every intake partition with its owner and lag, and every worker that has reported."""

    intake_topic: str
    group: str
    partitions: list[PartitionRow]
    workers: list[WorkerRow]

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)


def assemble(
    snapshots: dict[str, dict[str, Any]],
    ends: dict[int, int],
    starts: dict[int, int],
    committed: dict[int, int],
    *,
    now: datetime,
    intake_topic: str,
    group: str,
) -> WorkersReport:
    """Join the workers' latest snapshots with the intake topic's offsets (`ends`, `starts`) and the group's `committed` ones."""
    workers = []
    for wid, snap in sorted(snapshots.items()):
        updated = datetime.fromisoformat(snap["updated_at"])
        interval = float(snap.get("interval_seconds") or STATUS_SECONDS)
        gone = now - updated > timedelta(seconds=STALE_INTERVALS * interval)
        workers.append(
            WorkerRow(
                worker=wid,
                mode=str(snap.get("mode", "?")),
                state="gone" if gone else str(snap.get("state", "?")),
                recovery_progress=snap.get("recovery_progress"),
                recovery_remaining=snap.get("recovery_remaining"),
                partitions=list(snap.get("partitions", [])),
                standby_partitions=list(snap.get("standby_partitions", [])),
                next_expiry_due=snap.get("next_expiry_due"),
                updated_at=updated.astimezone(UTC).isoformat(timespec="seconds"),
                seconds_since_report=round(max(0.0, (now - updated).total_seconds()), 1),
            )
        )
    owners: dict[int, WorkerRow] = {}
    for row in workers:
        if row.state == "gone":
            continue
        for partition in row.partitions:  # during a rebalance two may claim one: the latest report wins
            if partition not in owners or owners[partition].updated_at < row.updated_at:
                owners[partition] = row
    partitions = []
    for partition in sorted(ends):
        done = committed.get(partition)
        # Without a committed offset the group starts at the earliest retained message (auto_offset_reset earliest).
        lag = max(0, ends[partition] - (done if done is not None else starts.get(partition, 0)))
        owner = owners.get(partition)
        partitions.append(PartitionRow(partition, owner.worker if owner else None, lag, ends[partition], done))
    return WorkersReport(intake_topic=intake_topic, group=group, partitions=partitions, workers=workers)


def latest_snapshots(records: list[tuple[bytes | None, bytes | None]]) -> dict[str, dict[str, Any]]:
    """The last snapshot of each worker from the status topic's (key, value) records, in order; a tombstone forgets one,
    and a record that is not a snapshot is passed over."""
    latest: dict[str, dict[str, Any]] = {}
    for key, value in records:
        if key is None:
            continue
        wid = key.decode("utf-8", "replace")
        if value is None:
            latest.pop(wid, None)
            continue
        try:
            snap = json.loads(value)
            datetime.fromisoformat(snap["updated_at"])
        except (ValueError, KeyError, TypeError):
            continue
        latest[wid] = snap
    return latest


async def worker_report(settings: Settings, *, now: datetime | None = None, timeout: float = TIMEOUT_SECONDS) -> WorkersReport:
    """Read the workers' snapshots and the intake topic's lag from Kafka; KafkaConnectionError if it does not answer in `timeout` s."""
    try:
        return await asyncio.wait_for(_read(settings, now, timeout), timeout=timeout)
    except TimeoutError:
        raise KafkaConnectionError(f"no answer from {settings.kafka} within {timeout:g} s") from None


async def _read(settings: Settings, now: datetime | None, timeout: float) -> WorkersReport:
    group = f"{settings.topic_prefix}.processors"  # the Faust app's id, which is its consumer group
    status_topic = worker_status_topic(settings)
    ms = int(timeout * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=ms)
    await admin.start()
    try:
        described = await admin.describe_topics([settings.intake_topic, status_topic])
        numbers = {
            d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described if not d["error_code"]
        }
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == settings.intake_topic and meta.offset >= 0}
    intake = [TopicPartition(settings.intake_topic, n) for n in numbers.get(settings.intake_topic, [])]
    status = [TopicPartition(status_topic, n) for n in numbers.get(status_topic, [])]
    ends: dict[TopicPartition, int] = {}
    starts: dict[TopicPartition, int] = {}
    records: list[tuple[bytes | None, bytes | None]] = []
    if intake or status:  # no topics yet (no worker ever started): nothing to read, and aiokafka fails a consumer stopped unused
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, group_id=None, enable_auto_commit=False, request_timeout_ms=ms)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(intake) if intake else {}
            starts = await consumer.beginning_offsets(intake) if intake else {}
            records = await _read_to_end(consumer, status)
        finally:
            await consumer.stop()
    return assemble(
        latest_snapshots(records),
        {tp.partition: n for tp, n in ends.items()},
        {tp.partition: n for tp, n in starts.items()},
        committed,
        now=now or datetime.now(UTC),
        intake_topic=settings.intake_topic,
        group=group,
    )


async def _read_to_end(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of `partitions` from the beginning to the end they have now, in order per partition."""
    if not partitions:
        return []
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    # An explicit seek, not seek_to_beginning: that one resets lazily and may lose to the reset the assignment began.
    for tp, offset in (await consumer.beginning_offsets(partitions)).items():
        consumer.seek(tp, offset)
    records: list[tuple[bytes | None, bytes | None]] = []
    # Bounded by the caller's timeout (`worker_report`): a broker that stops answering ends it there.
    while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
        batches = await consumer.getmany(*partitions, timeout_ms=200)
        records += [(m.key, m.value) for tp in partitions for m in batches.get(tp, [])]
    return records
