"""Rebuilding the worker's table state from the canonical log (`registervard worker-state rebuild`).

A worker with its states in Faust tables (REGISTERVARD_WORKER_STATE=table)
never reads the log at start; when the stored state cannot be read (a change to
`CustomerState` that raised `events.state_codec.VERSION`, or a damaged store),
the state of the chosen partitions is made again from the log, while no worker runs:

1. the log's records of those partitions are folded, as a log-mode worker does
   at start (`policy.rebuild`); the consequences the log lacks are appended
   first, sealed and sent the same way, and the data keys of erased customers
   are destroyed if they are not already, so that the state written is the fold
   of what the log holds (a table-mode worker never looks for missing consequences);
2. the changelog topics of the states and the lapse index get, in the same
   partition, each rebuilt customer's new value and a tombstone for every key
   they hold that the rebuild has not (compaction keeps the latest value of a
   key, so this replaces the partition); then, once the broker has those, the
   positions table gets the log offset the fold reaches, so that the worker
   reads nothing of the log at start;
3. this machine's local stores of those partitions are deleted, so that the
   next worker recovers them from the changelogs. A store on another machine
   reads the changelog from where it stopped, which ends in these writes.

The log topic is co-partitioned with the intake topic (same key, same partition
count, the same default partitioner), so a customer's records in log partition
`p` are the customer's state in table partition `p`.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faust.types import TableT

from events.catalog import Event
from events.event_log import LoggedEvent, OnQuarantine, log_end_offsets, open_records, read_log_records
from events.retry import in_thread_with_retry
from events.sealing import BatchKeyStore
from events.settings import Settings
from events.state_codec import encode_state
from events.topics import partitions_of
from processors import policy
from processors.state_table import lapse_entry, position_key, position_value
from processors.worker_app import MAX_REQUEST_BYTES, create_app

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total); the stages are the keys of `STAGES`."""

STAGES = {
    "log": "Folding the log (records)",
    "changelogs": "Reading the changelogs (records)",
    "write": "Writing the changelogs (customers and tombstones)",
}
"""Each stage of a rebuild, as a progress bar would name it."""

STATES, LAPSES, POSITIONS = "customer-states", "consent-lapses", "log-positions"
"""The worker's tables (`processors.state_table.StateTables.create`)."""


class RebuildRefused(RuntimeError):
    """The rebuild cannot start; the message says what to do."""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did."""

    partitions: tuple[int, ...]
    log_records: int
    """Records of the log read (quarantined ones included)."""
    customers: int
    """Customers whose state was written to the states changelog."""
    lapse_entries: int
    """Lapse index entries written."""
    tombstones: int
    """Keys removed from the changelogs: in one before, not in the rebuild."""
    appended: int
    """Consequences the log lacked, appended to it."""
    keys_destroyed: int
    """Data keys of erased customers that were still there, destroyed."""
    stores_removed: tuple[Path, ...]
    """This machine's local stores deleted, so that the next worker recovers them from the changelogs."""
    stores_kept: bool
    """True when a worker joined while the rebuild ran, so the local stores were left alone (see `stores_removed`)."""
    seconds: float


def worker_group(settings: Settings) -> str:
    """The worker's consumer group: Faust's app id, as `processors.worker_app.create_app` names it."""
    return f"{settings.topic_prefix}.processors"


async def group_members(settings: Settings) -> list[str]:
    """The members of the worker's consumer group now (client id @ host): empty when no worker runs."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=30000)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([worker_group(settings)])
    finally:
        await admin.close()
    members: list[str] = []
    for response in responses:
        for _error, _group, _state, _protocol_type, _protocol, group_members in response.groups:
            members += [f"{client_id}@{host}" for _member, client_id, host, _metadata, _assignment in group_members]
    return members


async def refuse_if_running(settings: Settings) -> None:
    """RebuildRefused, with advice, if any worker is in the consumer group."""
    members = await group_members(settings)
    if members:
        raise RebuildRefused(
            f"{len(members)} worker(s) are running in consumer group {worker_group(settings)} ({', '.join(members)}): "
            "stop every `registervard worker` of this topic prefix first (a worker that has just crashed stays in the group "
            "for its session timeout, about 10 s), then run this again"
        )


async def rebuild_worker_state(
    settings: Settings,
    keys: BatchKeyStore,
    partitions: Sequence[int] | None = None,
    *,
    on_progress: Progress | None = None,
    on_quarantine: OnQuarantine | None = None,
) -> Rebuilt:
    """Replace the table state of `partitions` (default: all) with the fold of the log; see the module's docstring.

    RebuildRefused if a worker runs, a partition does not exist, or the topics are not co-partitioned."""
    started = time.monotonic()
    await refuse_if_running(settings)
    app = create_app(replace(settings, worker_state="table"), keys)  # the worker's own app: Faust names its topics and stores
    tables = [cast(TableT[bytes, bytes], app.tables[name]) for name in (STATES, LAPSES, POSITIONS)]
    states_topic, lapses_topic, positions_topic = topics = [table.changelog_topic.get_topic_name() for table in tables]
    chosen = await _chosen_partitions(settings, topics, partitions)
    report = _progress(on_progress)

    ends = await log_end_offsets(settings, chosen)  # the fold reaches these offsets; the positions say so
    logged = await _read_log(settings, keys, ends, report, on_quarantine)
    rebuilt = policy.rebuild(item.event for item in logged.events)
    appended = await _append_missing(settings, keys, rebuilt.missing)
    destroyed = await _destroy_erased_keys(keys, rebuilt.erased, settings.retry_seconds)

    present = await _present_keys(settings, topics, chosen, report)
    new_states: dict[tuple[int, bytes], bytes | None] = {}
    new_lapses: dict[tuple[int, bytes], bytes | None] = {}
    for customer_id, state in rebuilt.lifecycle.states.items():
        partition = logged.partition_of[customer_id]
        key = customer_id.encode("utf-8")
        new_states[partition, key] = encode_state(state)
        entry = lapse_entry(state, partition)
        if entry is not None:
            new_lapses[partition, key] = entry
    new_positions: dict[tuple[int, bytes], bytes | None] = {
        (p, position_key(p)): position_value(_position(ends[p], appended.get(p, []))) for p in chosen
    }
    customers, lapse_entries = len(new_states), len(new_lapses)
    tombstones = 0
    for topic, values in ((states_topic, new_states), (lapses_topic, new_lapses), (positions_topic, new_positions)):
        for where in present[topic] - values.keys():
            values[where] = None
            tombstones += 1
    # The positions last, once the broker has the states: the worker's own order (`TableStates.flush`), so that a
    # rebuild cut short leaves positions no further than the states, and the worker folds the log from there.
    total = len(new_states) + len(new_lapses) + len(new_positions)
    await _write_changelogs(settings, {states_topic: new_states, lapses_topic: new_lapses}, report, total=total)
    await _write_changelogs(settings, {positions_topic: new_positions}, report, total=total, done=total - len(new_positions))

    removed: tuple[Path, ...] = ()
    kept = bool(await group_members(settings))  # a worker that joined meanwhile holds the stores open: leave them
    if not kept:
        removed = _remove_local_stores(tables, chosen)
    return Rebuilt(
        partitions=tuple(chosen),
        log_records=logged.records,
        customers=customers,
        lapse_entries=lapse_entries,
        tombstones=tombstones,
        appended=sum(len(offsets) for offsets in appended.values()),
        keys_destroyed=destroyed,
        stores_removed=removed,
        stores_kept=kept,
        seconds=round(time.monotonic() - started, 2),
    )


def _position(end: int, appended: Sequence[int]) -> int:
    """The log position the rebuilt states reach: the log's end when read, or past the consequences appended right
    after it. Should anything else have come between (no worker runs, but a command may append), the position stays
    at the end that was read, and the worker folds the rest at start (folding an event twice changes nothing)."""
    offsets = sorted(appended)
    if offsets and offsets == list(range(end, end + len(offsets))):
        return end + len(offsets)
    return end


@dataclass(frozen=True)
class _Logged:
    """The log's events of the chosen partitions, and where each customer's records lie."""

    events: list[LoggedEvent]
    partition_of: dict[str, int]
    records: int


def _progress(on_progress: Progress | None) -> Progress:
    return on_progress if on_progress is not None else (lambda _stage, _done, _total: None)


async def _chosen_partitions(settings: Settings, changelogs: Sequence[str], wanted: Sequence[int] | None) -> list[int]:
    """The partitions to rebuild; the changelog topics made if the worker never ran with tables; refused if the topics disagree."""
    intake = await partitions_of(settings, settings.intake_topic)
    log = await partitions_of(settings, settings.events_topic)
    if not intake or not log:
        raise RebuildRefused(f"topics {settings.intake_topic} and {settings.events_topic} must exist: run `registervard topics create` first")
    if len(log) != len(intake):
        raise RebuildRefused(
            f"{settings.events_topic} has {len(log)} partitions and {settings.intake_topic} {len(intake)}: the log is not co-partitioned "
            "with the intake, so a log partition is not a table partition; rebuild cannot map them"
        )
    for topic in changelogs:
        numbers = await partitions_of(settings, topic)
        if not numbers:
            await _create_changelog(settings, topic, len(intake))
        elif len(numbers) != len(intake):
            raise RebuildRefused(f"changelog {topic} has {len(numbers)} partitions, {settings.intake_topic} {len(intake)}: they must match")
    unknown = sorted(set(wanted or ()) - set(intake))
    if unknown:
        raise RebuildRefused(f"--partition {', '.join(map(str, unknown))}: {settings.intake_topic} has partitions {intake[0]} to {intake[-1]}")
    return sorted(set(wanted)) if wanted else intake


async def _create_changelog(settings: Settings, topic: str, partitions: int) -> None:
    """A changelog topic the worker has not made yet (it never ran with tables), compacted as Faust makes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=30000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=1, topic_configs={"cleanup.policy": "compact"})])
    except TopicAlreadyExistsError:
        pass  # a worker made it at the same moment
    finally:
        await admin.close()


async def _read_log(settings: Settings, keys: BatchKeyStore, ends: Mapping[int, int], report: Progress, on_quarantine: OnQuarantine | None) -> _Logged:
    """Every event of the log's partitions up to `ends`, opened as every reader opens them (what cannot be opened is quarantined)."""
    events: list[LoggedEvent] = []
    partition_of: dict[str, int] = {}
    records = 0
    async for batch in read_log_records(settings, end=ends, on_progress=lambda done, total: report("log", done, total)):
        records += len(batch)
        opened, quarantined = open_records(batch, keys)
        for bad in quarantined:
            if on_quarantine is not None:
                on_quarantine(bad)
        for item in opened:
            partition_of[item.event.customer_id] = item.record.partition
        events += opened
    return _Logged(events, partition_of, records)


async def _append_missing(settings: Settings, keys: BatchKeyStore, missing: Sequence[Event]) -> dict[int, list[int]]:
    """Append the consequences the log lacks, sealed as the worker seals them, and wait until the broker has them all;
    the offsets they got, by partition."""
    if not missing:
        return {}
    records = policy.to_log(missing, policy.Sealer(keys if settings.encryption else None))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, acks="all", max_request_size=MAX_REQUEST_BYTES)
    await producer.start()
    try:
        # In order, partitioned by key as the worker's producer partitions them: each lands in its customer's partition.
        sent = [await producer.send(settings.events_topic, key=record.key, value=record.value) for record in records]
        acknowledged = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    offsets: dict[int, list[int]] = {}
    for metadata in acknowledged:
        offsets.setdefault(metadata.partition, []).append(metadata.offset)
    return offsets


async def _destroy_erased_keys(keys: BatchKeyStore, erased: Sequence[str], budget: float) -> int:
    """Destroy the keys an erasure left behind (a crash between the erasure reaching the log and the key going)."""
    destroyed = 0
    for customer_id in erased:
        if not await in_thread_with_retry(keys.is_destroyed, customer_id, what="read a data key", budget=budget):
            await in_thread_with_retry(keys.destroy, customer_id, what="destroy a data key", budget=budget)
            destroyed += 1
    return destroyed


async def _present_keys(settings: Settings, topics: Sequence[str], partitions: Sequence[int], report: Progress) -> dict[str, set[tuple[int, bytes]]]:
    """Per changelog topic, the (partition, key) pairs whose latest record in `partitions` is a value, not a tombstone."""
    tps = [TopicPartition(topic, p) for topic in topics for p in partitions]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    latest: dict[tuple[str, int, bytes], bool] = {}
    try:
        consumer.assign(tps)
        beginnings = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, beginnings[tp])
        total = sum(ends[tp] - beginnings[tp] for tp in tps)
        done = 0
        report("changelogs", done, total)
        remaining = {tp for tp in tps if beginnings[tp] < ends[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, messages in fetched.items():
                for message in messages:
                    if message.offset >= ends[tp] or message.key is None:
                        continue
                    latest[tp.topic, tp.partition, message.key] = message.value is not None
                    done += 1
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
            report("changelogs", min(done, total), total)
    finally:
        await consumer.stop()
    present: dict[str, set[tuple[int, bytes]]] = {topic: set() for topic in topics}
    for (topic, partition, key), is_value in latest.items():
        if is_value:
            present[topic].add((partition, key))
    return present


async def _write_changelogs(
    settings: Settings, writes: dict[str, dict[tuple[int, bytes], bytes | None]], report: Progress, *, total: int, done: int = 0
) -> None:
    """Send each (partition, key) its new value or tombstone, in its own partition, and wait until the broker has them all."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, acks="all", max_request_size=MAX_REQUEST_BYTES, linger_ms=20)
    await producer.start()
    try:
        report("write", done, total)
        pending: list[asyncio.Future[object]] = []
        for topic, values in writes.items():
            for (partition, key), value in values.items():
                pending.append(await producer.send(topic, key=key, value=value, partition=partition))
                if len(pending) >= 5000:  # keep memory bounded on a large register
                    await asyncio.gather(*pending)
                    done += len(pending)
                    pending = []
                    report("write", done, total)
        await asyncio.gather(*pending)
        report("write", done + len(pending), total)
    finally:
        await producer.stop()


def _remove_local_stores(tables: Sequence[TableT[bytes, bytes]], partitions: Sequence[int]) -> tuple[Path, ...]:
    """Delete this machine's store of each table's `partitions` (RocksDB; a memory store keeps nothing on disk)."""
    removed: list[Path] = []
    for table in tables:
        store = table.data
        partition_path = getattr(store, "partition_path", None)
        if partition_path is None:
            continue
        for partition in partitions:
            path = Path(partition_path(partition))
            if path.exists():
                shutil.rmtree(path)
                removed.append(path)
    return tuple(removed)
