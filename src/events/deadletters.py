"""The dead-letter topic: reading what was refused, and sending it back once corrected.

The topic keeps every dead letter; which of them are resolved (sent again, or
marked resolved by an operator) is kept in the register database
(`projections.deadletter_resolutions`), not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from events import codec
from events.catalog import Event
from events.sealing import KeyStore, is_sealed, unseal, unseal_bytes
from events.settings import Settings
from events.topics import partitions_of


@dataclass(frozen=True)
class DeadLetter:
    """One refused message, where it lies on the dead-letter topic, and why it was refused."""

    partition: int
    offset: int
    rejected_at: datetime
    reason_code: str
    reason: str
    event_type: str | None
    event_id: str | None
    key: bytes | None
    value: bytes | None

    @property
    def ref(self) -> str:
        """How the CLI names it: partition:offset on the dead-letter topic."""
        return f"{self.partition}:{self.offset}"

    def event(self, keys: KeyStore | None = None) -> Event | None:
        """The refused event, unsealed with `keys` (so an operator can correct it), if its bytes can be decoded at all."""
        value = self.original(keys) if keys is not None else self.value
        try:
            event = codec.decode(value) if value else None
        except (codec.UndecodableMessage, codec.InvalidEvent):
            return None
        return unseal(event, keys) if event is not None and keys is not None else event

    def original(self, keys: KeyStore) -> bytes | None:
        """The message's bytes with what the worker sealed whole opened again (None when the key is gone)."""
        if not self.value or not self.key:
            return self.value
        return unseal_bytes(self.value, self.key.decode("utf-8", "replace"), keys)


async def read_dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every dead letter on the topic, oldest first within each partition."""
    topic = settings.dead_letter_topic
    assigned = [TopicPartition(topic, n) for n in await partitions_of(settings, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)
        remaining = set(assigned)
        while remaining:
            for tp, messages in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                letters += [_dead_letter(m) for m in messages if m.offset < ends[tp]]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return letters


async def resend(settings: Settings, letters: list[DeadLetter], keys: KeyStore, *, on_sent: Callable[[DeadLetter], None] | None = None) -> int:
    """Send the original bytes of these dead letters to the intake topic again; return how many.

    `on_sent` is called with each letter once the broker has it, so that a caller
    knows which were sent when a later one fails.
    """
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for letter in letters:
            event = letter.event(keys)
            # Back to the intake as upstream sent it: personal data in clear for the intake's short retention.
            value = codec.encode(event) if event is not None and not is_sealed(event) else letter.original(keys)
            await producer.send_and_wait(settings.intake_topic, key=letter.key, value=value)
            if on_sent is not None:
                on_sent(letter)
    finally:
        await producer.stop()
    return len(letters)


def _dead_letter(message: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    _, record = codec.decode_record(message.value)
    return DeadLetter(
        partition=message.partition,
        offset=message.offset,
        rejected_at=record["rejected_at"],
        reason_code=record["reason_code"],
        reason=record["reason"],
        event_type=record["event_type"],
        event_id=record["event_id"],
        key=record["key"],
        value=record["value"],
    )
