"""The topics Registervård owns, created with the settings each one needs."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from events.settings import Settings

FOREVER = "-1"
DEAD_LETTER_MAX_BYTES = str(2 * 1024 * 1024)


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Each topic's name and configuration."""
    return {
        # Upstream writes here; kept a week, long enough to recover a stopped worker.
        settings.intake_topic: {"retention.ms": str(7 * 24 * 3600 * 1000)},
        # The source of truth: never deleted, never compacted.
        settings.events_topic: {"retention.ms": FOREVER, "retention.bytes": FOREVER, "cleanup.policy": "delete"},
        # Rejected messages wait here until someone corrects and resends them. A dead letter keeps the whole
        # message it refused, so it may be larger than the broker's 1 MiB limit for an intake message.
        settings.dead_letter_topic: {"retention.ms": FOREVER, "retention.bytes": FOREVER, "max.message.bytes": DEAD_LETTER_MAX_BYTES},
        # The latest CustomerSnapshot per customer. Compacted, and compacted soon: a superseded snapshot (say, one
        # with the name of someone who since got a protected identity) is gone within about an hour; tombstones
        # of erased customers stay a week so that every consumer sees them.
        settings.customers_topic: {
            "cleanup.policy": "compact",
            "segment.ms": str(3600 * 1000),
            "max.compaction.lag.ms": str(3600 * 1000),
            "min.cleanable.dirty.ratio": "0.1",
            "delete.retention.ms": str(7 * 24 * 3600 * 1000),
        },
        # Each worker's latest status snapshot (`processors.worker_status`), keyed by worker id: compacted to one
        # per worker, and deleted after a week, so that the workers of past runs do not pile up.
        worker_status_topic(settings): {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(7 * 24 * 3600 * 1000),
            "segment.ms": str(3600 * 1000),
        },
    }


def worker_status_topic(settings: Settings) -> str:
    """Where each worker publishes its status for `registervard status` (ids, partitions, counts, dates: no customer)."""
    return f"{settings.topic_prefix}.worker-status"


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The partition numbers of `topic`; an empty list if it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=30000)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for d in described if d["topic"] == topic and not d["error_code"] for p in d["partitions"])


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=name, num_partitions=settings.partitions, replication_factor=1, topic_configs=configs)
            for name, configs in topic_configs(settings).items()
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them at the same moment
        if settings.dead_letter_topic in existing:  # made before dead letters could exceed 1 MiB: all its settings again
            configs = topic_configs(settings)[settings.dead_letter_topic]
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.dead_letter_topic, configs=configs)])
        return [topic.name for topic in wanted]
    finally:
        await admin.close()
