"""The Faust app: the intake agent between upstream systems and the event log.

    intake topic --admit()--> canonical event log
                       \\----> dead-letter topic (with the reason)

Faust commits offsets after a message is handled, so a crash can repeat a
message: that is harmless, because every event keeps its id and the
projections apply an event id once. Correctness never rests on Faust.
"""

from __future__ import annotations

import faust
import structlog

from events import codec
from processors.intake import Accepted, admit, dead_letter
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

    @app.agent(intake)
    async def admit_to_log(stream: faust.Stream) -> None:
        # Batches amortise Faust's per-message cost; order per key is kept within and across batches.
        async for batch in stream.take_events(1000, within=0.05):
            for message in batch:
                await _admit_one(message)

    async def _admit_one(message: faust.types.EventT) -> None:
        key, value = message.key, message.value
        verdict = admit(key, value)
        if isinstance(verdict, Accepted):
            await event_log.send(key=key, value=value)
            return
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

    return app
