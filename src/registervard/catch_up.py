"""Waiting until the register has caught up with what a command published (`registervard import --wait`).

Two steps, measured the way `registervard status` measures them: the workers' consumer group must have
committed past every intake message published (the worker has admitted them to the log), and the register
projection's stored offsets must have reached the log's end as it stood then (the register has applied them).
Offsets and counts only: nothing here reads an event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import Engine

from events.event_log import end_offsets, log_consumer
from events.settings import Settings
from events.topics import partitions_of

POLL_SECONDS = 1.0
"""How often the offsets are read again while waiting."""


@dataclass(frozen=True)
class CatchUp:
    """How far the worker and the register have come with what was published."""

    admitted: int
    """Published intake messages the workers have consumed."""
    published: int
    applied: int
    """Log events, since the command began, that the register has applied."""
    in_log: int
    """Log events since the command began (the published ones the worker admitted, and their consequences)."""
    worker_done: bool
    register_done: bool


class NotCaughtUp(Exception):
    """The register did not catch up in time; the message is advice for the operator (no personal data)."""


@dataclass(frozen=True)
class Mark:
    """Where the intake topic and the log stood at one moment (partition → end offset)."""

    intake: dict[int, int]
    log: dict[int, int]


async def mark(settings: Settings) -> Mark:
    """The intake topic's and the log's end offsets now."""
    return Mark(await end_offsets(settings, settings.intake_topic), await end_offsets(settings, settings.events_topic))


async def wait_until_current(
    settings: Settings,
    engine: Engine,
    before: Mark,
    after_publish: dict[int, int],
    *,
    timeout: float,
    on_progress: Callable[[CatchUp], None] | None = None,
) -> CatchUp:
    """Wait until the workers have consumed the intake up to `after_publish` and the register has applied the log
    up to where it then ended; NotCaughtUp (with advice) after `timeout` seconds."""
    # Imported here: the runner registers Prometheus metrics on import (see commands/register_commands.py).
    from projections.runner import stored_offsets
    from projections.status import projection_health

    group = f"{settings.topic_prefix}.processors"  # the Faust app's id, which is its consumer group
    deadline = time.monotonic() + timeout
    target: dict[int, int] | None = None  # the log's ends once the worker is done: what the register must reach
    log_partitions = [TopicPartition(settings.events_topic, n) for n in await partitions_of(settings, settings.events_topic)]
    # One admin client and one consumer for the whole wait: a poll then costs two requests, not two connections.
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    consumer = log_consumer(settings)
    await admin.start()
    await consumer.start()
    try:
        while True:
            offsets = await admin.list_consumer_group_offsets(group)
            committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == settings.intake_topic and meta.offset >= 0}
            admitted, worker_done = _admitted(before.intake, after_publish, committed)
            ends = target
            if ends is None:
                ends = {tp.partition: end for tp, end in (await consumer.end_offsets(log_partitions)).items()} if log_partitions else {}
                if worker_done:
                    target = ends
            applied_at = stored_offsets(engine, "register", settings.events_topic)
            in_log = sum(max(0, end - before.log.get(p, 0)) for p, end in ends.items())
            applied = sum(max(0, min(applied_at.get(p, 0), end) - before.log.get(p, 0)) for p, end in ends.items())
            register_done = target is not None and all(applied_at.get(p, 0) >= end for p, end in target.items() if end > 0)
            published = sum(end - before.intake.get(p, 0) for p, end in after_publish.items())
            state = CatchUp(admitted, published, applied, in_log, worker_done, register_done)
            if on_progress:
                on_progress(state)
            if register_done:
                return state
            if time.monotonic() >= deadline:
                problems = [h.problem for h in projection_health(engine, max_silence=60, max_lag=2**62) if h.problem and h.projection == "register"]
                raise NotCaughtUp(_advice(state, timeout, problems))
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await consumer.stop()
        await admin.close()


def _admitted(before: dict[int, int], after: dict[int, int], committed: dict[int, int]) -> tuple[int, bool]:
    """How many of the messages published between `before` and `after` the group has consumed, and whether all."""
    admitted, done = 0, True
    for partition, end in after.items():
        start = before.get(partition, 0)
        reached = committed.get(partition, start if end == start else -1)
        admitted += max(0, min(reached, end) - start)
        done = done and reached >= end
    return admitted, done


def _advice(state: CatchUp, timeout: float, problems: list[str]) -> str:
    if not state.worker_done:
        where = (
            f"the worker has admitted {state.admitted} of the {state.published} message(s) published "
            "(is `registervard worker` running?)"
        )
    else:
        where = f"the register has applied {state.applied} of {state.in_log} new log event(s) (is `registervard project` running?)"
    extra = "".join(f"; {problem}" for problem in problems)
    return (
        f"the register had not caught up within {timeout:g} s: {where}{extra}. The events are published and will be "
        "applied once it runs; `registervard status` shows how far it has come, or wait longer with --wait-timeout."
    )
