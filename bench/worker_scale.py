"""How the worker grows with the register: events/s, RSS, restart and recovery time, for N customers each.

    .venv/bin/python bench/worker_scale.py --customers 10000 100000 [--no-log-mode] [--kafka HOST:PORT]

For each N, on topics of its own: the demo generator's lives of N customers
(JSON lines -> parse_event) are published to the intake. Baseline, same run,
same broker: a plain aiokafka consumer reads and decodes those intake messages.
Then one `registervard worker` in table mode (REGISTERVARD_WORKER_STATE=table,
rocksdb store, a state dir of its own) admits them; its clock runs from its
`worker_ready` log line until the last log record it appended arrives at a
consumer tailing the log, once its consumer group has committed the whole
intake. RSS is read from the worker process at the end. Then:
restart = SIGTERM, start again, seconds until `worker_ready` (local store present;
it must say log_records_read=0 and append nothing); recovery = SIGTERM, delete
its state dir, start again, seconds until `worker_ready` (tables from the
changelog topics alone). The same for the default log mode (it folds the whole
log at start), for comparison, unless --no-log-mode.

Measured conditions, printed with the figures: REGISTERVARD_ENCRYPTION=off (the
worker, not the key store, is measured), the expiry timer set to one hour so
that the timer's ConsentExpired appends are not part of the throughput, one
worker, standby replicas irrelevant (no second worker).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import report
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from events import codec
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from registervard.demo import demo_events

EXPIRY_CHECK_SECONDS = "3600"
"""The expiry timer's interval in the worker: out of the way of the throughput run (its appends come at unknown times)."""


@dataclass
class Row:
    """One line of the printed table."""

    mode: str
    customers: int
    events: int
    raw_per_s: float
    worker_per_s: float
    rss_mb: float
    peak_mb: float
    log_records: int
    restart_s: float
    restart_read: int
    restart_appended: int
    recovery_s: float | None = None
    recovery_appended: int | None = None
    first_start_s: float = 0.0
    """Seconds from starting the worker with empty tables to its worker_ready: the baseline of restart and recovery."""
    rss_ready_mb: float = 0.0
    """RSS when it said worker_ready with empty tables: the baseline of RSS."""


def demo_lives(customers: int) -> list:
    """The demo generator's lives of `customers` customers, as validated events."""
    return [parse_event(json.loads(line)) for line in demo_events(customers=customers, seed=11)]


async def publish(settings: Settings, events: list) -> None:
    """All the events to the intake, in chunks, waiting for the broker each time."""
    async with Publisher(settings) as publisher:
        for start in range(0, len(events), 5000):
            await publisher.publish(events[start : start + 5000])


async def raw_consume_decode(settings: Settings, count: int) -> float:
    """Events/s of a plain consumer that reads and decodes `count` intake messages from the beginning."""
    consumer = AIOKafkaConsumer(settings.intake_topic, bootstrap_servers=settings.kafka, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        start, seen = time.perf_counter(), 0
        while seen < count:
            for batch in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                for message in batch:
                    codec.decode(message.value)
                    seen += 1
        return count / (time.perf_counter() - start)
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    """The end offset of each partition of `topic` (one of ours: `settings.partitions` partitions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka)
    await consumer.start()
    try:
        offsets = await consumer.end_offsets([TopicPartition(topic, p) for p in range(settings.partitions)])
        assert len(offsets) == settings.partitions, offsets
        return offsets
    finally:
        await consumer.stop()


async def log_size(settings: Settings) -> int:
    """Records in the canonical log (it is never compacted or trimmed here)."""
    return sum((await end_offsets(settings, settings.events_topic)).values())


async def wait_for_commits(settings: Settings, timeout: float) -> None:
    """Until the worker's consumer group has committed the end of every intake partition."""
    target = await end_offsets(settings, settings.intake_topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(f"{settings.topic_prefix}.processors", partitions=list(target))
            if all(committed.get(tp) is not None and committed[tp].offset >= end for tp, end in target.items()):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the worker had not committed the whole intake within {timeout:g} s")
    finally:
        await admin.close()


class LogTail:
    """A consumer of the canonical log that notes when the last record arrived."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen = 0
        self.last_arrival = 0.0
        self._task: asyncio.Task | None = None
        self._consumer = AIOKafkaConsumer(settings.events_topic, bootstrap_servers=settings.kafka, auto_offset_reset="earliest", enable_auto_commit=False)

    async def start(self) -> None:
        """Subscribe and start reading in the background."""
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            for batch in (await self._consumer.getmany(timeout_ms=100, max_records=5000)).values():
                self.last_arrival = time.perf_counter()
                self.seen += len(batch)

    async def until(self, count: int, timeout: float = 120) -> None:
        """Until `count` records have been read."""
        deadline = time.monotonic() + timeout
        while self.seen < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the log tail read {self.seen} of {count} records")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()


class WorkerProcess:
    """`registervard --log-level INFO worker` with its own state dir, its JSON log lines in a file."""

    def __init__(self, settings: Settings, mode: str, workdir: Path) -> None:
        self.settings = settings
        self.state_dir = workdir / f"state-{mode}"
        self.log = workdir / f"worker-{mode}.log"
        self.env = {
            **os.environ,
            "REGISTERVARD_KAFKA": settings.kafka,
            "REGISTERVARD_TOPIC_PREFIX": settings.topic_prefix,
            "REGISTERVARD_DATABASE_URL": f"sqlite:///{workdir / f'keys-{mode}.db'}",  # outside the state dir, which recovery deletes
            "REGISTERVARD_WORKER_STATE": mode,
            "REGISTERVARD_WORKER_STORE": "rocksdb://",
            "REGISTERVARD_STATE": str(self.state_dir),
            "REGISTERVARD_ENCRYPTION": "off",
            "REGISTERVARD_EXPIRY_CHECK_SECONDS": EXPIRY_CHECK_SECONDS,
            "REGISTERVARD_WORKER_METRICS_PORT": "0",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start the worker; the perf_counter moment it was started."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "registervard", "--log-level", "INFO", "worker"], env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        return time.perf_counter()

    def ready_lines(self) -> list[dict]:
        """The `worker_ready` records of the log file so far."""
        lines = []
        for line in self.log.read_text().splitlines():
            if "worker_ready" in line:
                try:  # a terminal escape sequence may come before the JSON on the line
                    lines.append(json.loads(line[line.index("{") :]))
                except (ValueError, json.JSONDecodeError):
                    continue
        return [r for r in lines if r.get("event") == "worker_ready"]

    async def until_ready(self, before: int, timeout: float = 900) -> tuple[float, dict]:
        """The perf_counter moment the (`before`+1)th `worker_ready` line appeared, and that line."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.ready_lines()
            if len(lines) > before:
                return time.perf_counter(), lines[before]
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.process.returncode}; see {self.log}")
            await asyncio.sleep(0.02)
        raise TimeoutError(f"the worker was not ready within {timeout:g} s; see {self.log}")

    async def restart_time(self) -> tuple[float, dict]:
        """Start; seconds until `worker_ready`, and that line."""
        before = len(self.ready_lines())
        started = self.start()
        ready, line = await self.until_ready(before)
        return ready - started, line

    def rss_mb(self) -> tuple[float, float]:
        """The worker's resident set and its peak, in MB (VmRSS, VmHWM of /proc/<pid>/status)."""
        assert self.process is not None
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        """SIGTERM, and wait for it to end (SIGKILL after a minute)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def measure(kafka: str, mode: str, customers: int, events: list, workdir: Path) -> Row:
    """Publish, raw baseline, worker throughput, restart (and, in table mode, recovery) for one mode and N."""
    settings = Settings(kafka=kafka, topic_prefix=f"bench-scale-{mode}-{customers}-{uuid.uuid4().hex[:6]}")
    await ensure_topics(settings)
    print(f"[{mode} N={customers}] publishing {len(events)} events to {settings.intake_topic}...", file=sys.stderr)
    await publish(settings, events)
    print(f"[{mode} N={customers}] raw consume + decode...", file=sys.stderr)
    raw = await raw_consume_decode(settings, len(events))

    worker = WorkerProcess(settings, mode, workdir)
    tail = LogTail(settings)
    await tail.start()
    try:
        print(f"[{mode} N={customers}] worker admits the intake...", file=sys.stderr)
        started = worker.start()
        ready, _ = await worker.until_ready(0)
        row_start, (rss_ready, _) = ready - started, worker.rss_mb()  # the baselines: an empty worker's start and RSS
        await wait_for_commits(settings, timeout=3600)
        appended = await log_size(settings)
        await tail.until(appended)
        worker_per_s = len(events) / (tail.last_arrival - ready)
        rss, peak = worker.rss_mb()

        print(f"[{mode} N={customers}] restart with the local state...", file=sys.stderr)
        worker.stop()
        restart, line = await worker.restart_time()
        await asyncio.sleep(3)  # anything it would append (consequences it thinks missing) comes at start
        restart_appended = await log_size(settings) - appended
        row = Row(mode, customers, len(events), raw, worker_per_s, rss, peak, appended, restart, int(line.get("log_records_read", -1)), restart_appended)
        row.first_start_s, row.rss_ready_mb = row_start, rss_ready

        if mode == "table":
            print(f"[{mode} N={customers}] recovery from the changelog alone...", file=sys.stderr)
            worker.stop()
            shutil.rmtree(worker.state_dir)
            row.recovery_s, _ = await worker.restart_time()
            await asyncio.sleep(3)
            row.recovery_appended = await log_size(settings) - appended
        return row
    finally:
        worker.stop()
        await tail.stop()


def print_table(rows: list[Row]) -> None:
    """The figures as one table."""
    header = (
        f"{'mode':<6} {'N':>8} {'events':>8} {'raw ev/s':>9} {'worker ev/s':>11} {'ratio':>6} {'RSS MB':>7} {'peak MB':>8} "
        f"{'restart s':>9} {'read at restart':>15} {'recovery s':>10} {'appended at restart/recovery':>28}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        recovery = f"{r.recovery_s:.1f}" if r.recovery_s is not None else "n/a"
        appended = f"{r.restart_appended}/{r.recovery_appended if r.recovery_appended is not None else 'n/a'}"
        print(
            f"{r.mode:<6} {r.customers:>8} {r.events:>8} {r.raw_per_s:>9.0f} {r.worker_per_s:>11.0f} {r.worker_per_s / r.raw_per_s:>6.2f} "
            f"{r.rss_mb:>7.0f} {r.peak_mb:>8.0f} {r.restart_s:>9.1f} {r.restart_read:>15} {recovery:>10} {appended:>28}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--kafka", default=os.environ.get("REGISTERVARD_KAFKA", "127.0.0.1:29092"))
    parser.add_argument("--no-log-mode", action="store_true", help="table mode only")
    parser.add_argument("--json-out", help="append the figures to this JSON lines file (bench/report.py)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rv-bench-scale-"))
    modes = ["table"] if args.no_log_mode else ["table", "log"]
    rows = []
    for customers in args.customers:
        started = time.perf_counter()
        events = demo_lives(customers)
        for mode in modes:
            rows.append(await measure(args.kafka, mode, customers, events, workdir / str(customers)))
        print(f"[N={customers}] done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(
        "\nOne worker, REGISTERVARD_ENCRYPTION=off (the worker is measured, not the key store), rocksdb store in table mode, "
        f"expiry timer every {EXPIRY_CHECK_SECONDS} s (its appends are not in the throughput), {Settings().partitions} partitions.\n"
        "raw: a plain aiokafka consumer reads and decodes the same intake messages. worker: from its worker_ready line "
        "to the arrival of the last record it appended. RSS at the end of the run; peak = VmHWM.\n"
        "restart: SIGTERM, start with the state dir present, seconds to worker_ready (read = log records it read). "
        "recovery: SIGTERM, state dir deleted, seconds to worker_ready (tables from changelogs). "
        "appended: log records added by the restart/recovery (0 expected).\n"
    )
    print_table(rows)
    print(f"\nlogs: {workdir}")
    report.write(args.json_out, [figure for row in rows for figure in figures(row)])


def figures(row: Row) -> list[report.Figure]:
    """The row's figures for `bench/run`'s table, each next to its baseline from the same run."""
    n = f"{row.customers:,}"
    found = [
        report.Figure(
            f"worker ({row.mode} mode) admits {n} customers' lives", "", row.worker_per_s, "events/s", row.raw_per_s,
            "raw consume+decode", report.slower_by_rate(row.worker_per_s, row.raw_per_s), "within 2x (0.5 of raw)",
        ),
        report.Figure(
            f"worker RSS at {n} customers", "", row.rss_mb, "MB", row.rss_ready_mb, "RSS when ready, empty",
            row.rss_mb / row.rss_ready_mb, "under 500 MB at 1M",
        ),
        report.Figure(
            f"worker restart with local store, {n} customers", "", row.restart_s, "s", row.first_start_s, "first start, empty tables",
            report.slower_by_time(row.restart_s, row.first_start_s), "independent of history",
        ),
    ]
    if row.recovery_s is not None:
        found.append(
            report.Figure(
                f"worker recovery from changelogs, {n} customers", "", row.recovery_s, "s", row.first_start_s, "first start, empty tables",
                report.slower_by_time(row.recovery_s, row.first_start_s), "grows with the register, not the log",
            )
        )
    return found


if __name__ == "__main__":
    asyncio.run(main())
