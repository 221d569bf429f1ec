"""The Faust app: the processors between upstream systems and the event log.

    intake topic ──policy.decide()──▶ Append: canonical event log (the event + the events that follow)
                        │                     + intake topic (what follows for other customers: a merge, an erasure)
                        ├───────────▶ DeadLetter: dead-letter topic (with the reason)
                        └───────────▶ Drop: a duplicate (what follows for other customers, sent again)
    every N seconds: policy.expire(now) ──▶ ConsentExpired on the event log

What to do is decided in `processors.policy` (plain functions, tested without
Kafka); this module wires it to the topics, the key store, retries and metrics.

The worker's knowledge of every customer is the fold of the canonical log,
rebuilt from the log when the worker starts, never kept anywhere else. If it
crashed between an event and its consequences, the rebuild finds the
consequences missing and appends them. Faust commits intake offsets after a
message is handled, so a crash can repeat a message: the rebuilt state knows
its event id and drops it. Correctness never rests on Faust.

Personal data (crypto-shredding, `events.sealing`): the worker seals every
personal field with the customer's own key before an event enters the log, so
the log, kept forever, holds ciphertext only; the intake topic keeps what
upstream sent (plaintext) for its short retention. A dead letter keeps a
decodable event sealed the same way (no key left: an erased customer's event is
kept without its value); undecodable bytes are sealed whole with the key of the
customer the message key names, if that customer has a key, and kept as they
are otherwise. When the worker admits CustomerErased it appends it and its
consequences, waits for the log to acknowledge them, and then destroys the
customer's key; a rebuild after a crash in between destroys it too.
`settings.encryption` off (REGISTERVARD_ENCRYPTION=off) appends events unsealed (for benchmarks).

Faults: an intake offset is committed only for a message whose events (or
dead letter) the broker has acknowledged. Faust acks a batch's messages when
the loop moves on, even when the body raised; so the batch body waits for
every send it made, and any error it cannot handle ends the process at once
(`stop_now`, exit status 70) before Faust can ack or commit anything. The
messages are then delivered again to the restarted worker, which knows what
reached the log and drops it as duplicates. A database or broker that is
down is waited for first, with backoff, for up to `settings.retry_seconds`.
A log record the rebuild cannot open is quarantined (logged, counted) and
skipped, as every other reader skips it.

State in tables (`settings.worker_state == "table"`, `processors.state_table`):
the states live in Faust tables co-partitioned with the intake topic, in
`settings.worker_store` with changelog topics; nothing of the log is read at
start, and the worker is ready once Faust has recovered the tables. A batch's
states are written to the tables only after the broker has acknowledged every
record the batch sent, so a crash in between repeats appends, never loses
them. Each assigned partition's expiry heap is rebuilt from the lapse table
after every rebalance. A lock keeps the expiry timer and the agent from
interleaving their reads and writes of the tables. Several workers share the
intake's partitions as one consumer group; when one dies, the others take its
partitions with their tables (from a standby copy, `settings.worker_standby_replicas`,
or the changelog) and drop, as known, what it appended but had not committed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import faust
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from events.catalog import Event
from events.event_log import Quarantined, log_end_offsets, open_records, read_log, read_log_records
from events.retry import in_thread_with_retry, with_retry
from events.sealing import BatchKeyStore
from events.settings import STATE_DIR, Settings
from events.state_codec import DamagedState, UnknownStateVersion
from processors import policy
from processors import worker_metrics as metrics
from processors.lifecycle import Lifecycle
from processors.state_table import Lapse, StateTables, TableStates
from processors.worker_status import install as install_worker_status

log = structlog.get_logger(__name__)

EXIT_FAILED = 70
"""Exit status after an error the worker cannot handle (EX_SOFTWARE): a supervisor should start it again."""
EXIT_STOPPED = 143
"""Exit status when asked to stop in the middle of a batch (as after SIGTERM)."""
MAX_REQUEST_BYTES = 2 * 1024 * 1024
"""The producer's request limit: above the broker's 1 MiB message limit, so that a dead letter can keep any intake message."""


PRODUCER_LINGER_MS = 5
"""How long the producer waits to fill a request: a batch waits for its sends anyway, and a few ms buys far fewer requests."""
PRODUCER_BATCH_BYTES = 512 * 1024
"""Records per partition per request, in bytes: a batch of 1,000 intake messages fits in one request per partition."""


def stop_now(error: BaseException, where: str) -> NoReturn:
    """End the process at once, so that nothing after a failure is acked or committed; say why first."""
    if isinstance(error, asyncio.CancelledError):
        log.warning("worker_stopped_mid_batch", where=where, advice="uncommitted intake messages are handled again at the next start")
        code = EXIT_STOPPED
    else:
        stored_state = isinstance(error, (UnknownStateVersion, DamagedState))  # a restart meets it again: say what to do
        log.error(
            "worker_failed",
            where=where,
            reason=type(error).__name__,
            advice=str(error) if stored_state else "nothing after this point was committed; the worker handles it again when restarted",
            exc_info=error,
        )
        code = EXIT_FAILED
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def create_app(settings: Settings, keys: BatchKeyStore) -> faust.App:
    """A Faust app wired to the topics named by `settings`, sealing with the customers' data keys in `keys`.

    What to do with each message, lapsed consent and the log at startup is `processors.policy`'s to decide;
    `Worker` carries it out (sends, waits for the broker, key store calls with retries, metrics and logs);
    this function only wires Faust's agent, task and timer to it."""
    app_id = f"{settings.topic_prefix}.processors"
    # One folder per app: the local table stores of one register's topics are never opened for another's.
    datadir = STATE_DIR / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last folder of its datadir
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka}",
        store=settings.worker_store if settings.worker_state == "table" else "memory://",
        datadir=str(datadir),
        table_standby_replicas=settings.worker_standby_replicas,  # why 1 by default: see the Settings field
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # A restarted worker rejoins within seconds, not after the default minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        producer_max_request_size=MAX_REQUEST_BYTES,
        # A batch's appends and table writes go out in a few large requests, not one small request per record.
        producer_linger_ms=PRODUCER_LINGER_MS,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        broker_commit_every=500,
        broker_commit_interval=1.0,
        broker_max_poll_records=2000,
        stream_buffer_maxsize=16384,
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    intake = app.topic(settings.intake_topic, **raw)
    tables = StateTables.create(app, settings.intake_topic, settings.partitions) if settings.worker_state == "table" else None
    worker = Worker(
        app, settings, keys, event_log=app.topic(settings.events_topic, **raw), dead_letters=app.topic(settings.dead_letter_topic, **raw), tables=tables
    )
    if tables is not None:

        @tables.lapses.on_recover
        async def tables_recovered() -> None:
            try:
                async with worker.lock:  # a batch in flight has pushed lapses its states have not yet written
                    await worker.tables_recovered()
            except BaseException as error:
                stop_now(error, "indexing lapsing consents after recovering the tables")

    @app.task
    async def rebuild_state() -> None:
        try:
            await worker.rebuild_state()
        except BaseException as error:
            stop_now(error, "rebuilding the state from the log")

    @app.agent(intake)
    async def admit_to_log(stream: faust.types.StreamT) -> None:
        await worker.ready.wait()
        in_batch = False
        try:
            # Batches amortise Faust's per-message cost; order per key is kept within and across batches.
            # Faust hands an agent a Stream, but types it as StreamT, which lacks take_events.
            async for batch in cast(faust.Stream, stream).take_events(1000, within=0.05):
                in_batch = True
                await worker.handle_batch(batch)
                in_batch = False
        except asyncio.CancelledError:
            if in_batch:  # stopping mid-batch: Faust would ack the whole batch on the way out
                stop_now(asyncio.CancelledError(), "admitting intake messages")
            raise  # stopping between batches: everything handled may be committed
        except BaseException as error:  # Faust acks a batch when its loop ends, even after an error: end before it can
            stop_now(error, "admitting intake messages")

    @app.timer(interval=settings.expiry_check_seconds)
    async def expire_consents() -> None:
        if not worker.ready.is_set():
            return
        try:
            await worker.expire_consents()
        except BaseException as error:  # the state holds expiries the log may lack: start again from the log
            stop_now(error, "appending lapsed consents")

    install_worker_status(app, worker, settings)
    return app


class Worker:
    """Carries out the policy's decisions: what the broker must have before an intake offset may be committed."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        keys: BatchKeyStore,
        *,
        event_log: faust.types.TopicT,
        dead_letters: faust.types.TopicT,
        tables: StateTables | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.keys = keys
        self.event_log = event_log
        self.dead_letters = dead_letters
        self.lifecycle = Lifecycle()
        self.tables = tables
        """The state tables, when the states live there (settings.worker_state "table"); None: in `lifecycle`."""
        self.heaps: dict[int, list[Lapse]] = {}
        """With tables: the expiry heap of each assigned partition of the intake topic."""
        self.log_records_read = 0
        """Records of the canonical log read to build the state at start (with tables: only what they lacked)."""
        self._appended: list[tuple[Awaitable[Any], int]] = []
        """With tables: the log sends since the states were last written, and how many records each carried; their
        offsets become the partitions' positions."""
        self._open: dict[int, BatchBuilder] = {}
        """The record batch being filled for each partition of the log, until `_ship` sends it."""
        self.lock = asyncio.Lock()
        """Held while a batch or the expiry timer reads and writes states, so that the two never interleave."""
        self.ready = asyncio.Event()
        """Set once the state has been folded from the log (or the tables recovered); nothing is admitted before."""
        self.sealer = policy.Sealer(keys if settings.encryption else None)
        self.budget = settings.retry_seconds

    async def rebuild_state(self) -> None:
        """Fold the whole log, append the consequences it lacks, destroy keys an erasure left behind; then be ready.
        With tables, nothing: the worker is ready when Faust has recovered them (`tables_recovered`)."""
        if self.tables is not None:
            return
        started = datetime.now(UTC)
        rebuilt = await with_retry(self._read_state, what="read the event log", budget=self.budget)
        self.lifecycle = rebuilt.lifecycle
        await asyncio.gather(*await self._send(policy.to_log(rebuilt.missing, self.sealer)))
        for customer_id in rebuilt.erased:  # a crash between appending CustomerErased and destroying the key
            if not await in_thread_with_retry(self.keys.is_destroyed, customer_id, what="read a data key", budget=self.budget):
                await self._erase_key(customer_id)
        metrics.CUSTOMERS.set(len(self.lifecycle.states))
        log.info(
            "worker_ready",
            customers=len(self.lifecycle.states),
            state="log",
            log_records_read=self.log_records_read,
            consequences_appended=len(rebuilt.missing),
            seconds=round((datetime.now(UTC) - started).total_seconds(), 2),
        )
        self.ready.set()

    async def tables_recovered(self) -> None:
        """After Faust recovered the tables (at start and after each rebalance), before it hands over any message of
        the assigned partitions: fold into their states what the log holds beyond their positions, then rebuild the
        partitions' expiry heaps from the lapse index; the first time, the worker is ready."""
        assert self.tables is not None
        assigned = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.settings.intake_topic}
        read = appended = 0
        for partition in sorted(assigned):
            records, consequences = await self.catch_up(partition)
            read, appended = read + records, appended + consequences
        self.log_records_read += read
        self.heaps = self.tables.heaps(assigned)
        if not self.ready.is_set():
            log.info("worker_ready", state="table", log_records_read=read, consequences_appended=appended, partitions=sorted(assigned))
            self.ready.set()
        else:
            log.info("worker_partitions_recovered", log_records_read=read, consequences_appended=appended, partitions=sorted(assigned))

    async def catch_up(self, partition: int) -> tuple[int, int]:
        """Fold the partition's log from its position in the tables to its end into the states, append the consequences
        that log lacks, destroy the keys its erasures left; return (log records read, consequences appended).

        The log runs ahead of the tables when a worker died after the broker had its appends but before the tables'
        changelogs had the states (or, the first time in table mode, when the tables are empty and the log is not)."""
        assert self.tables is not None
        start = self.tables.position(partition)
        events, end = await with_retry(lambda: self._read_tail(partition, start), what="read the event log", budget=self.budget)
        if end <= start:
            return 0, 0
        states = TableStates(self.tables)
        rebuilt = policy.rebuild(events, self._lifecycle(states, partition))
        await self._send(policy.to_log(rebuilt.missing, self.sealer), partition)
        await asyncio.gather(*await self._ship())
        for customer_id in rebuilt.erased:  # a crash between appending CustomerErased and destroying the key
            if not await in_thread_with_retry(self.keys.is_destroyed, customer_id, what="read a data key", budget=self.budget):
                await self._erase_key(customer_id)
        await self._flush(states, reached={partition: end})
        return end - start, len(rebuilt.missing)

    async def _read_tail(self, partition: int, start: int) -> tuple[list[Event], int]:
        """The events of the partition's log from offset `start` to its end now, and that end offset."""
        end = (await log_end_offsets(self.settings, [partition]))[partition]
        events: list[Event] = []
        if end > start:
            async for batch in read_log_records(self.settings, start={partition: start}, end={partition: end}):
                opened, quarantined = open_records(batch, self.keys)
                for bad in quarantined:
                    _quarantined(bad)
                events += [logged.event for logged in opened]
        return events, end

    def _lifecycle(self, states: TableStates | None, partition: int) -> Lifecycle:
        """The lifecycle for a message of `partition`: the one in memory, or one over the tables and the partition's heap."""
        if states is None:
            return self.lifecycle
        states.partition = partition
        return Lifecycle(states=states, _lapses=self.heaps.setdefault(partition, []))

    async def _flush(self, states: TableStates | None, reached: dict[int, int] | None = None) -> None:
        """Write the states of what the broker has acknowledged to the tables, with the log positions they reach (those
        of the records appended since the last flush, or `reached`), and wait until the tables' changelogs have them."""
        if states is None or not (states.pending or reached):
            return
        positions = dict(reached or {})
        appended, self._appended = self._appended, []
        acknowledged = await asyncio.gather(*(sent for sent, _ in appended))  # all acknowledged already: only their offsets
        for metadata, (_, records) in zip(acknowledged, appended, strict=True):
            positions[metadata.partition] = max(positions.get(metadata.partition, 0), metadata.offset + records)
        states.flush(positions)
        await states.tables.acknowledged()

    async def handle_batch(self, batch: Sequence[faust.types.EventT]) -> None:
        """Handle a batch of intake messages and wait until the broker has everything they produced."""
        started = time.monotonic()
        if self.sealer.keys is not None:  # one transaction for the batch's new customers' keys
            holders = policy.key_holders(m.key for m in batch)
            await in_thread_with_retry(self.keys.ensure, holders, what="create data keys", budget=self.budget)
        async with self.lock:
            states = TableStates(self.tables) if self.tables is not None else None
            pending: list[Awaitable[object]] = []
            for message in batch:
                pending += await self._handle(message, states, pending)
            pending += await self._ship()
            await asyncio.gather(*pending)  # only now may Faust commit these offsets
            await self._flush(states)  # and only now may the tables hold what they did
        metrics.BATCH_SECONDS.observe(time.monotonic() - started)
        if self.tables is None:
            metrics.CUSTOMERS.set(len(self.lifecycle.states))
        last = batch[-1].message
        highwater = self.app.consumer.highwater(last.tp)
        if highwater is not None:
            metrics.INTAKE_LAG.labels(partition=str(last.partition)).set(max(0, highwater - last.offset - 1))

    async def expire_consents(self) -> None:
        """Append the consents that have lapsed by now, and wait until the broker has them."""
        now = datetime.now(UTC)
        async with self.lock:
            if self.tables is None:
                expired = [policy.expire(self.lifecycle, now, self.sealer)]
                states = None
            else:
                if self.app.rebalancing:  # the heaps are rebuilt once the tables are recovered
                    return
                states = TableStates(self.tables)
                expired = []
                for partition in sorted(self.heaps):
                    expired.append(policy.expire(self._lifecycle(states, partition), now, self.sealer))
                    await self._send(expired[-1].records, partition)
            if states is None:
                await asyncio.gather(*await self._send([record for append in expired for record in append.records]))
            await asyncio.gather(*await self._ship())
            await self._flush(states)
        derived = [event for append in expired for event in append.derived]
        for event in derived:
            metrics.DERIVED.labels(event_type=type(event).__name__).inc()
        if derived:
            log.info("consents_expired", count=len(derived))

    async def _handle(self, message: faust.types.EventT, states: TableStates | None, earlier: Sequence[Awaitable[object]]) -> list[Awaitable[object]]:
        """Carry out the policy's decision on one intake message; the sends it made (`earlier`: those of the batch before it)."""
        where = message.message
        intake = policy.IntakeMessage(message.key, message.value, where.topic, where.partition, where.offset)
        decision = policy.decide(intake, self._lifecycle(states, where.partition), self.sealer)
        if isinstance(decision, policy.Append):
            futures = await self._send(decision.records, where.partition if states is not None else None)
            if decision.admitted is not None:  # always, for an intake message
                metrics.ADMITTED.labels(event_type=type(decision.admitted).__name__).inc()
            for follower in decision.derived:
                metrics.DERIVED.labels(event_type=type(follower).__name__).inc()
            futures += await self._to_intake(decision.to_intake)
            if decision.destroy_key is not None:
                futures += await self._ship()
                await asyncio.gather(*earlier, *futures)  # in the log before the key goes
                await self._flush(states)  # and in the tables: a state without the erasure would need the key again
                await self._erase_key(decision.destroy_key)
            return futures
        if isinstance(decision, policy.Drop):
            metrics.DUPLICATES.inc()
            log.info("duplicate_dropped", event_id=str(decision.duplicate.event_id))
            return await self._to_intake(decision.to_intake)
        future = await self.dead_letters.send(key=decision.key, value=decision.encoded())
        metrics.DEAD_LETTERED.labels(code=decision.refusal.code).inc()
        log.warning(
            "event_rejected",
            code=decision.refusal.code,
            event_type=decision.record["event_type"],
            event_id=decision.record["event_id"],
            offset=where.offset,
        )
        return [future]

    async def _to_intake(self, records: Sequence[policy.Record]) -> list[Awaitable[object]]:
        """Send events for other customers to the intake, keyed by them (their partition is their worker's); the
        futures say when the broker has them, and the message that caused them is committed only then."""
        futures: list[Awaitable[object]] = []
        for record in records:
            futures.append(await self.app.producer.send(self.settings.intake_topic, record.key, record.value, None, None, None))
            log.info("sent_to_intake", customer_id=record.key.decode("utf-8", "replace"))  # an opaque id: a customer id is no personal data
        return futures

    async def _send(self, records: Sequence[policy.Record], partition: int | None = None) -> list[Awaitable[object]]:
        """Send records to the log, in order: into `partition`'s record batch, which `_ship` sends (the log is
        partitioned as the intake and the tables are); with no partition (log mode), one by one, to the partition
        their key gives. The returned futures (of the batches this filled up) say when the broker has them."""
        if partition is None:
            # Straight to the producer: Faust's Topic.send wraps each record in futures and callbacks we do not use.
            send, topic = self.app.producer.send, self.settings.events_topic
            futures: list[Awaitable[Any]] = [await send(topic, record.key, record.value, None, None, None) for record in records]
            if self.tables is not None:
                self._appended += [(future, 1) for future in futures]
            return futures
        # One record batch per partition and intake batch: aiokafka's per-record send costs as much as deciding does.
        shipped: list[Awaitable[object]] = []
        for record in records:
            batch = self._open.get(partition) or self._open.setdefault(partition, self._producer.create_batch())
            if batch.append(key=record.key, value=record.value, timestamp=None) is None:  # full: send it, start another
                shipped += await self._ship([partition])
                batch = self._open[partition] = self._producer.create_batch()
                if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                    raise RuntimeError(f"a log record of {len(record.value)} bytes does not fit an empty record batch")
        return shipped

    async def _ship(self, partitions: Sequence[int] | None = None) -> list[Awaitable[object]]:
        """Send the open record batches (of `partitions`, or all); the futures say when the broker has each."""
        shipped: list[Awaitable[object]] = []
        for partition in list(self._open) if partitions is None else partitions:
            batch = self._open.pop(partition)
            batch.close()  # else the producer's own send could add records to it, uncounted
            future = await self._producer.send_batch(batch, self.settings.events_topic, partition=partition)
            if self.tables is not None:
                self._appended.append((future, batch.record_count()))
            shipped.append(future)
        return shipped

    @property
    def _producer(self) -> AIOKafkaProducer:
        """The aiokafka producer under Faust's (for its record batches, which Faust's producer does not offer)."""
        return cast(AIOKafkaProducer, self.app.producer._ensure_producer())  # type: ignore[attr-defined]

    async def _erase_key(self, customer_id: str) -> None:
        destroyed = await in_thread_with_retry(self.keys.destroy, customer_id, what="destroy a data key", budget=self.budget)
        log.info("data_key_destroyed", customer_id=customer_id, had_key=destroyed)

    async def _read_state(self) -> policy.Rebuilt:
        """Fold the whole log (an attempt cut short leaves nothing behind)."""
        events = [event async for event in read_log(self.settings, keys=self.keys, on_quarantine=_quarantined)]
        self.log_records_read = len(events)
        return policy.rebuild(events)


def _quarantined(bad: Quarantined) -> None:
    metrics.QUARANTINED.labels(code=bad.code).inc()
    log.warning("record_quarantined", partition=bad.record.partition, offset=bad.record.offset, code=bad.code)
