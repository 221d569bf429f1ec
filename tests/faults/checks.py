"""What the fault scenarios look at: the topics, the register's stored offsets, the audit trail, a rebuild.

- `probe` tells whether the system has caught up: the worker's consumer group
  has committed the whole intake, the log has stopped growing, and both
  projections (register and audit) have stored offsets at the log's end.
- `read_topic` reads a topic from its beginning to its end, every partition.
- `check_invariants` compares what was published with the log and the dead
  letters (nothing lost, nothing applied twice) and the log with the audit trail.
- `snapshot` (tests/register_snapshot.py) is the register's content, compared before and after a rebuild
  the way tests/integration/test_rebuild_replay.py does.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import Engine

from events import codec
from events.event_log import end_offsets
from events.settings import Settings
from events.topics import partitions_of
from projections.rebuild import register_tables

PROBE_TIMEOUT = 10.0
"""Seconds one probe may take; a broker that does not answer makes it 'not caught up', never a hang."""


@dataclass
class Progress:
    """Where intake, log and projections stand."""

    intake_end: int = 0
    intake_committed: int = 0
    log_end: dict[int, int] = field(default_factory=dict)
    register: dict[int, int] = field(default_factory=dict)
    audit: dict[int, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def consumed(self) -> bool:
        """The worker's group has committed every intake message."""
        return self.error is None and self.intake_committed >= self.intake_end

    def projection_behind(self, stored: dict[int, int]) -> int:
        """Log records a projection has not applied yet."""
        return sum(max(0, end - stored.get(p, 0)) for p, end in self.log_end.items())

    @property
    def caught_up(self) -> bool:
        """The intake is consumed and both projections have the whole log."""
        return (
            self.consumed
            and bool(self.log_end)
            and self.projection_behind(self.register) == 0
            and self.projection_behind(self.audit) == 0
        )

    def describe(self) -> str:
        """Where things stand, for a failure message."""
        if self.error:
            return f"could not look: {self.error}"
        return (
            f"intake: worker committed {self.intake_committed} of {self.intake_end}; "
            f"log: {sum(self.log_end.values())} records; "
            f"register behind by {self.projection_behind(self.register)}, audit behind by {self.projection_behind(self.audit)}"
        )


def offsets_engine(database_url: str) -> Engine:
    """An engine for looking at the register database without migrating it (the projection does that)."""
    return sqlalchemy.create_engine(database_url, pool_pre_ping=True, hide_parameters=True)


def stored_offsets(engine: Engine, projection: str, topic: str) -> dict[int, int]:
    """A projection's stored next offsets; empty when its tables do not exist yet."""
    if not sqlalchemy.inspect(engine).has_table("projection_offsets"):
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text('SELECT "partition", next_offset FROM projection_offsets WHERE projection = :p AND topic = :t'),
            {"p": projection, "t": topic},
        )
        return {partition: offset for partition, offset in rows}


async def _committed(settings: Settings, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=5000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def worker_group(settings: Settings) -> str:
    """The worker's consumer group: the Faust app's id."""
    return f"{settings.topic_prefix}.processors"


async def probe(settings: Settings, engine: Engine) -> Progress:
    """Where intake, log and projections stand now; `error` says why it could not be told."""

    async def look() -> Progress:
        progress = Progress()
        progress.intake_end = sum((await end_offsets(settings, settings.intake_topic)).values())
        progress.intake_committed = await _committed(settings, worker_group(settings), settings.intake_topic)
        progress.log_end = await end_offsets(settings, settings.events_topic)
        progress.register = await asyncio.to_thread(stored_offsets, engine, "register", settings.events_topic)
        progress.audit = await asyncio.to_thread(stored_offsets, engine, "audit", settings.events_topic)
        return progress

    try:
        return await asyncio.wait_for(look(), timeout=PROBE_TIMEOUT)
    except Exception as error:  # a stopped broker or database: not caught up, and why
        return Progress(error=f"{type(error).__name__}")


async def read_topic(settings: Settings, topic: str, timeout: float = 60) -> list:
    """Every record of `topic` from the beginning to its end now, all partitions."""
    numbers = await partitions_of(settings, topic)
    partitions = [TopicPartition(topic, n) for n in numbers]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list = []
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while remaining:
            if loop.time() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {timeout:.0f}s")
            for tp, messages in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                records += [m for m in messages if m.offset < ends[tp]]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return records


@dataclass
class Findings:
    """What the topics and the audit trail say about the published events."""

    published: int
    log_entries: int
    in_log: int
    dead_letters: int
    lost: list[str]
    applied_twice: dict[str, int]
    audit_problems: list[str]

    def problems(self) -> list[str]:
        """Each broken promise, as a sentence."""
        found = []
        if self.lost:
            found.append(
                f"NOTHING LOST broken: {len(self.lost)} of {self.published} published events are neither in the log nor in the "
                f"dead letters (first ids: {', '.join(self.lost[:5])})"
            )
        if self.applied_twice:
            first = ", ".join(f"{i} x{n}" for i, n in list(self.applied_twice.items())[:5])
            found.append(f"NOTHING APPLIED TWICE broken: {len(self.applied_twice)} published events are in the log more than once ({first})")
        found += [f"AUDIT TRAIL: {problem}" for problem in self.audit_problems]
        return found


def audit_positions(engine: Engine, topic: str) -> list[tuple[int, int, str]]:
    """(partition, offset, event_id) of every audit trail entry of the log topic."""
    if not sqlalchemy.inspect(engine).has_table("audit_trail"):
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text('SELECT "partition", "offset", event_id FROM audit_trail WHERE topic = :t'), {"t": topic}
        )
        return [(int(p), int(o), str(e)) for p, o, e in rows]


async def check_invariants(settings: Settings, engine: Engine, published: list[str]) -> Findings:
    """Nothing lost, nothing applied twice, and an audit trail with each log entry exactly once."""
    log = await read_topic(settings, settings.events_topic)
    letters = await read_topic(settings, settings.dead_letter_topic)
    positions = {}
    log_ids: Counter[str] = Counter()
    for record in log:
        event_id = str(codec.decode(record.value).event_id)  # sealed events keep their envelope readable
        log_ids[event_id] += 1
        positions[(record.partition, record.offset)] = event_id
    dead_ids = {codec.decode_record(record.value)[1]["event_id"] for record in letters}
    lost = [i for i in published if i not in log_ids and i not in dead_ids]
    twice = {i: log_ids[i] for i in published if log_ids[i] > 1}

    audit = await asyncio.to_thread(audit_positions, engine, settings.events_topic)
    audit_problems = []
    seen = Counter((p, o) for p, o, _ in audit)
    repeated = [position for position, n in seen.items() if n > 1]
    missing = sorted(set(positions) - set(seen))
    unknown = sorted(set(seen) - set(positions))
    wrong = [(p, o) for p, o, e in audit if positions.get((p, o)) not in (None, e)]
    if repeated:
        audit_problems.append(f"{len(repeated)} log entries are in the trail more than once (first: partition:offset {repeated[0]})")
    if missing:
        audit_problems.append(f"{len(missing)} log entries are missing from the trail (first: partition:offset {missing[0]})")
    if unknown:
        audit_problems.append(f"{len(unknown)} trail entries name no log entry (first: partition:offset {unknown[0]})")
    if wrong:
        audit_problems.append(f"{len(wrong)} trail entries carry another event id than the log entry they name")
    return Findings(
        published=len(published),
        log_entries=len(log),
        in_log=sum(1 for i in published if i in log_ids),
        dead_letters=len(letters),
        lost=lost,
        applied_twice=twice,
        audit_problems=audit_problems,
    )


def snapshot_differences(live: dict[str, list[tuple]], rebuilt: dict[str, list[tuple]]) -> list[str]:
    """Per table, how the live register differs from the rebuilt one (counts and first primary keys, no row content)."""
    found = []
    for table in register_tables():
        before, after = set(live.get(table.name, [])), set(rebuilt.get(table.name, []))
        if before == after and len(live.get(table.name, [])) == len(rebuilt.get(table.name, [])):
            continue
        columns = [c for c in table.columns if c.name != "updated_at"]
        keys = [i for i, c in enumerate(columns) if c.primary_key]
        only_live = sorted(tuple(row[i] for i in keys) for row in before - after)
        only_rebuilt = sorted(tuple(row[i] for i in keys) for row in after - before)
        found.append(
            f"{table.name}: {len(only_live)} row(s) only in the live register (first key {only_live[:1]}), "
            f"{len(only_rebuilt)} only in the rebuild (first key {only_rebuilt[:1]})"
        )
    return found
