"""What a worker tells operators about itself, for `registervard status`.

Every `STATUS_SECONDS` from its first partition assignment on, and at once when it is ready, the worker publishes a
snapshot of itself as JSON to the compacted topic `events.topics.worker_status_topic`,
keyed by its id (host:pid): its state mode, whether it is ready or recovering
(with the records its tables still have to read, and an estimate of how far the
recovery has come), the intake partitions it owns and stands by for, the next
day a consent in its expiry heaps lapses, and when it said so. Lag is not in
the snapshot: the reader takes it from Kafka itself, so that it shows when no
worker runs at all.

Ids, partition numbers, counts and dates only: never a customer. Publishing
is best effort: a failure is logged (at most once per interval) and never
stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import faust
import structlog
from faust.tables.manager import TableManager

from events.settings import Settings
from events.topics import worker_status_topic
from processors.lifecycle import Lifecycle
from processors.state_table import Lapse

log = structlog.get_logger(__name__)

STATUS_SECONDS = 5.0
"""How often a worker publishes its snapshot; a reader takes a worker silent for a few intervals as gone."""


class Observed(Protocol):
    """What the snapshot reads of `processors.worker_app.Worker` (a protocol: that module imports this one)."""

    @property
    def app(self) -> faust.App: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def ready(self) -> asyncio.Event: ...
    @property
    def tables(self) -> object | None: ...
    @property
    def heaps(self) -> dict[int, list[Lapse]]: ...
    @property
    def lifecycle(self) -> Lifecycle: ...


def worker_id() -> str:
    """This process's id among the workers: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RecoveryProgress:
    """An estimate of how far a recovery has come: Faust says how many records remain, not how many there were,
    so the most seen remaining since the recovery began stands for the whole."""

    baseline: int | None = None

    def estimate(self, recovering: bool, remaining: int) -> float | None:
        """The share done (0..1) of the recovery under way; None when not recovering or nothing is known to remain."""
        if not recovering:
            self.baseline = None
            return None
        self.baseline = max(self.baseline or 0, remaining)
        if not self.baseline:
            return None
        return round(1 - remaining / self.baseline, 3)


def next_expiry(heaps: list[list[Lapse]]) -> str | None:
    """The earliest lapse date at the top of any of `heaps` (ISO), or None when none holds a lapse."""
    due = [heap[0][0] for heap in heaps if heap]
    return min(due).isoformat() if due else None


def snapshot(worker: Observed, progress: RecoveryProgress, *, wid: str, now: datetime) -> dict[str, Any]:
    """The worker's state now, as the JSON-ready dict it publishes."""
    app, settings = worker.app, worker.settings
    actives = sorted({tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.intake_topic})
    # Standbys are assigned on the tables' changelog topics, which are co-partitioned with the intake topic.
    standbys = sorted({tp.partition for tp in app.assignor.assigned_standbys()})
    remaining = standby_remaining = 0
    recovering = not worker.ready.is_set()
    if worker.tables is not None:
        recovery = cast(TableManager, app.tables).recovery  # typed as TableManagerT, which lacks it
        in_recovery = bool(getattr(recovery, "in_recovery", False))
        recovering = recovering or in_recovery or bool(app.rebalancing)
        if in_recovery:  # outside a recovery Faust's counters are left as the last one ended
            remaining = sum(max(0, n) for n in recovery.active_remaining().values())
        standby_remaining = sum(max(0, n) for n in recovery.standby_remaining().values())
        heaps = [heap for partition, heap in worker.heaps.items() if partition in actives]
    else:
        heaps = [worker.lifecycle._lapses]  # in log mode the one lifecycle holds every partition's lapses
    return {
        "worker": wid,
        "mode": settings.worker_state,
        "state": "recovering" if recovering else "ready",
        "recovery_remaining": remaining if recovering and worker.tables is not None else None,
        "recovery_progress": progress.estimate(recovering, remaining) if worker.tables is not None else None,
        "standby_remaining": standby_remaining,
        "partitions": actives,
        "standby_partitions": standbys,
        "next_expiry_due": next_expiry(heaps),
        "updated_at": now.astimezone(UTC).isoformat(),
        "interval_seconds": STATUS_SECONDS,
    }


class StatusPublisher:
    """Publishes the worker's snapshot to the status topic, never raising (but for cancellation)."""

    def __init__(self, app: faust.App, worker: Observed, settings: Settings) -> None:
        self.app = app
        self.worker = worker
        self.topic = worker_status_topic(settings)
        self.wid = worker_id()
        self.progress = RecoveryProgress()
        self._warned_at: float | None = None

    async def publish(self) -> None:
        """Send one snapshot and wait (a bounded time) for the broker to have it; log a warning if it cannot."""
        try:
            value = json.dumps(snapshot(self.worker, self.progress, wid=self.wid, now=datetime.now(UTC))).encode("utf-8")
            send = self.app.producer.send_and_wait(self.topic, self.wid.encode("utf-8"), value, None, None, None)
            await asyncio.wait_for(send, timeout=STATUS_SECONDS)
        except Exception as error:  # status is for operators: the worker goes on without it
            if self._warned_at is None or time.monotonic() - self._warned_at >= STATUS_SECONDS:
                self._warned_at = time.monotonic()
                log.warning("worker_status_not_published", topic=self.topic, reason=type(error).__name__)


def install(app: faust.App, worker: Observed, settings: Settings) -> None:
    """Publish `worker`'s snapshot every `STATUS_SECONDS` from the first partition assignment on, and at once when
    it becomes ready.

    Not a Faust timer: Faust starts its timers and tasks only once the tables are recovered at start, and that
    recovery is what an operator most wants to watch. The loop starts when partitions are first assigned (before
    recovery) as a future of the app, which cancels it when the app stops."""
    publisher = StatusPublisher(app, worker, settings)
    started = False

    async def publish_forever() -> None:
        while True:
            was_ready = worker.ready.is_set()
            await publisher.publish()
            if was_ready:
                await asyncio.sleep(STATUS_SECONDS)
            else:  # and again the moment it is ready
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker.ready.wait(), timeout=STATUS_SECONDS)

    async def start_publishing(*args: Any, **kwargs: Any) -> None:
        nonlocal started
        if not started:
            started = True
            app.add_future(publish_forever())

    app.on_partitions_assigned.connect(start_publishing)
