"""The Faust app: the processors between upstream systems and the event log.

    intake topic ──admit()──▶ Lifecycle.admit() ──▶ canonical event log (+ the events that follow)
         │                          │
         └──────────────────────────┴──▶ dead-letter topic (with the reason)
    every N seconds: Lifecycle.due(now) ──▶ ConsentExpired on the event log

The worker's knowledge of every customer is the fold of the canonical log,
rebuilt from the log when the worker starts, never kept anywhere else. If it
crashed between an event and its consequences, the rebuild finds the
consequences missing and appends them. Faust commits intake offsets after a
message is handled, so a crash can repeat a message: the rebuilt state knows
its event id and drops it. Correctness never rests on Faust.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import faust
import structlog

from events import codec
from events.catalog import Event
from events.log import read_log
from processors.intake import Accepted, Rejected, admit, dead_letter
from processors.lifecycle import Admitted, Duplicate, Lifecycle, Refused
from registervard.settings import STATE_DIR, Settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings) -> faust.App:
    """A Faust app wired to the topics named by `settings`."""
    app = faust.App(
        f"{settings.topic_prefix}.processors",
        broker=f"kafka://{settings.kafka}",
        store="memory://",
        datadir=str(STATE_DIR / "faust"),
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=500,
        broker_commit_interval=1.0,
        broker_max_poll_records=2000,
        stream_buffer_maxsize=16384,
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    intake = app.topic(settings.intake_topic, **raw)
    event_log = app.topic(settings.events_topic, **raw)
    dead_letters = app.topic(settings.dead_letter_topic, **raw)
    lifecycle = Lifecycle()
    ready = asyncio.Event()

    async def append(events: tuple[Event, ...] | list[Event]) -> None:
        for event in events:
            await event_log.send(key=event.customer_id.encode(), value=codec.encode(event))

    @app.task
    async def rebuild_state() -> None:
        started = datetime.now(UTC)
        missing = lifecycle.replay([event async for event in read_log(settings)])
        await append(missing)
        log.info(
            "worker_ready",
            customers=len(lifecycle.states),
            consequences_appended=len(missing),
            seconds=round((datetime.now(UTC) - started).total_seconds(), 2),
        )
        ready.set()

    @app.agent(intake)
    async def admit_to_log(stream: faust.Stream) -> None:
        await ready.wait()
        # Batches amortise Faust's per-message cost; order per key is kept within and across batches.
        async for batch in stream.take_events(1000, within=0.05):
            for message in batch:
                await handle(message)

    async def handle(message: faust.types.EventT) -> None:
        key, value = message.key, message.value
        verdict = admit(key, value)
        if isinstance(verdict, Accepted):
            outcome = lifecycle.admit(verdict.event)
            if isinstance(outcome, Admitted):
                await event_log.send(key=key, value=value)
                await append(outcome.derived)
                return
            if isinstance(outcome, Duplicate):
                log.info("duplicate_dropped", event_id=str(outcome.event.event_id))
                return
            verdict = _refusal(outcome, verdict.event)
        record = dead_letter(
            verdict,
            key=key,
            value=value,
            topic=message.message.topic,
            partition=message.message.partition,
            offset=message.message.offset,
        )
        await dead_letters.send(key=key, value=codec.encode_record("DeadLetter", record))
        log.warning(
            "event_rejected",
            code=verdict.code,
            event_type=verdict.event_type,
            event_id=verdict.event_id,
            offset=message.message.offset,
        )

    @app.timer(interval=settings.expiry_check_seconds)
    async def expire_consents() -> None:
        if not ready.is_set():
            return
        expired = lifecycle.due(datetime.now(UTC))
        await append(expired)
        if expired:
            log.info("consents_expired", count=len(expired))

    return app


def _refusal(refused: Refused, event: Event) -> Rejected:
    return Rejected(refused.code, refused.reason, event_type=type(event).__name__, event_id=str(event.event_id))
