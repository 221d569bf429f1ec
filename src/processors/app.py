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
REGISTERVARD_ENCRYPTION=off appends events unsealed (for benchmarks).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import faust
import structlog

from events import codec
from events.catalog import CustomerErased, Event
from events.customer import Status
from events.log import read_log
from events.sealing import encryption_enabled, seal, seal_bytes
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
    encrypt = encryption_enabled()
    from projections.keys import key_store  # the register database's data_keys

    keys = key_store(settings)

    def sealed(event: Event) -> bytes | None:
        """The event's bytes for the log or a dead letter: personal fields sealed; None if the customer's key is gone."""
        if not encrypt:
            return codec.encode(event)
        if not _keyable(event.customer_id):  # refused anyway; a data key must not be named by an identity number
            return codec.encode(event)
        key = keys.key_for(event.customer_id, create=True)
        return None if key is None else codec.encode(seal(event, key))

    async def append(events: tuple[Event, ...] | list[Event]) -> list:
        futures = []
        for event in events:
            value = sealed(event)
            if value is None:
                raise RuntimeError(f"no data key for customer {event.customer_id}: cannot append {type(event).__name__}")
            futures.append(await event_log.send(key=event.customer_id.encode(), value=value))
        return futures

    async def erase_key(customer_id: str) -> None:
        destroyed = await asyncio.to_thread(keys.destroy, customer_id)
        log.info("data_key_destroyed", customer_id=customer_id, had_key=destroyed)

    @app.task
    async def rebuild_state() -> None:
        started = datetime.now(UTC)
        missing = lifecycle.replay([event async for event in read_log(settings, keys=keys)])
        await append(missing)
        erased = [c for c, state in lifecycle.states.items() if state.status is Status.ERASED]
        for customer_id in erased:  # a crash between appending CustomerErased and destroying the key
            if not await asyncio.to_thread(keys.is_destroyed, customer_id):
                await erase_key(customer_id)
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
            if encrypt:  # one transaction for the batch's new customers' keys
                customers = [m.key.decode("utf-8", "replace") for m in batch if m.key]
                await asyncio.to_thread(keys.ensure, [c for c in customers if _keyable(c)])
            for message in batch:
                await handle(message)

    async def handle(message: faust.types.EventT) -> None:
        key, value = message.key, message.value
        verdict = admit(key, value)
        if isinstance(verdict, Accepted):
            outcome = lifecycle.admit(verdict.event)
            if isinstance(outcome, Admitted):
                futures = await append((outcome.event, *outcome.derived))
                if isinstance(outcome.event, CustomerErased):
                    await asyncio.gather(*futures)  # in the log before the key goes
                    await erase_key(outcome.event.customer_id)
                return
            if isinstance(outcome, Duplicate):
                log.info("duplicate_dropped", event_id=str(outcome.event.event_id))
                return
            verdict = _refusal(outcome, verdict.event)
        record = dead_letter(
            verdict,
            key=key,
            value=_dead_letter_value(key, value, sealed, keys) if encrypt else value,
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


def _keyable(customer_id: str) -> bool:
    """Whether a customer id may name a data key: a valid opaque id, not an identity number (never a key of anything)."""
    from events.identity import IdentityNumberError, parse_identity_number
    from events.validation import _CUSTOMER_ID

    if not _CUSTOMER_ID.fullmatch(customer_id):
        return False
    try:
        parse_identity_number(customer_id)
    except (IdentityNumberError, TypeError, ValueError):
        return True
    return False


def _dead_letter_value(key: bytes | None, value: bytes | None, sealed, keys) -> bytes | None:  # type: ignore[no-untyped-def]
    """What a dead letter keeps of a refused message: the event with its personal fields sealed, or the bytes sealed whole."""
    if value is None:
        return None
    try:
        event = codec.decode(value)
    except (codec.UndecodableMessage, codec.InvalidEvent):
        customer_id = key.decode("utf-8", "replace") if key else None
        data_key = keys.key_for(customer_id, create=False) if customer_id and _keyable(customer_id) else None
        return seal_bytes(value, customer_id, data_key) if data_key is not None else value
    return sealed(event)


def _refusal(refused: Refused, event: Event) -> Rejected:
    return Rejected(refused.code, refused.reason, event_type=type(event).__name__, event_id=str(event.event_id))
