"""How long from `publish` of N events to a register that is current, next to raw Kafka on the same broker.

    .venv/bin/python bench/publish_to_register.py [--events 10000] [--database-url URL] [--json-out FILE]

Baseline, measured in the same run on the same broker: produce N pre-encoded
messages (idempotent producer, acks=all) and consume and decode them again.
Full path: validate and publish N events, the worker admits them to the log,
the projection folds them into the register; the clock stops when every event
id is in the register. The worker and the projection are started and warmed up
before the clock starts. Prints JSON; with --json-out also appends the figure
(bench/report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import report
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from events import codec
from events.jsonlines import parse_lines
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.database import connect
from projections.status import register_status
from registervard.demo import demo_events


def demo_batch(count: int) -> list:
    """About `count` valid events from the demo generator."""
    customers = max(1, count * 300 // 694)
    lines = demo_events(customers=customers, seed=11)
    while len(lines) < count:
        customers += 50
        lines = demo_events(customers=customers, seed=11)
    return [parsed.event for parsed in parse_lines(lines[:count])]


async def raw_baseline(settings: Settings, events: list) -> float:
    """Seconds to produce the events as bytes and consume and decode them again."""
    raw_settings = Settings(kafka=settings.kafka, topic_prefix=f"{settings.topic_prefix}-raw")
    await ensure_topics(raw_settings)  # same partitions and configs as the real log
    topic = raw_settings.events_topic
    encoded = [(e.customer_id.encode(), codec.encode(e)) for e in events]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, enable_idempotence=True, acks="all", linger_ms=5)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        start = time.perf_counter()
        futures = [await producer.send(topic, key=k, value=v) for k, v in encoded]
        await asyncio.gather(*futures)
        seen = 0
        while seen < len(encoded):
            for batch in (await consumer.getmany(timeout_ms=200, max_records=2000)).values():
                for message in batch:
                    codec.decode(message.value)
                    seen += 1
        return time.perf_counter() - start
    finally:
        await producer.stop()
        await consumer.stop()


def start(command: list[str], settings: Settings, log: Path) -> subprocess.Popen:
    env = {**os.environ, "REGISTERVARD_KAFKA": settings.kafka, "REGISTERVARD_TOPIC_PREFIX": settings.topic_prefix,
           "REGISTERVARD_DATABASE_URL": settings.database_url}
    return subprocess.Popen([sys.executable, "-m", "registervard", *command], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


async def wait_until_current(settings: Settings, events_in_log: int, timeout: float = 600) -> float:
    """Wait until the log holds at least `events_in_log` events and the register has applied all of them.

    Returns when (time.perf_counter()) the log first held them all: the worker's part is done by then, the rest is the projection's."""
    deadline = time.monotonic() + timeout
    log_complete: float | None = None
    while time.monotonic() < deadline:
        status = await register_status(settings)
        if status.events_in_log >= events_in_log:
            log_complete = log_complete or time.perf_counter()
            if status.lag == 0:
                return log_complete
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the register was not current within {timeout}s")


async def full_path(settings: Settings, events: list, logs: Path) -> tuple[float, float]:
    """Seconds from publishing the events to all of them being in the register, and to all of them being in the log."""
    processes = [start(["worker"], settings, logs / "worker.log"), start(["project"], settings, logs / "projection.log")]
    try:
        warm_up = events[0]
        async with Publisher(settings) as publisher:
            await publisher.publish([warm_up])
            await wait_until_current(settings, 1, timeout=120)
            start_time = time.perf_counter()
            for chunk in range(0, len(events), 1000):
                await publisher.publish(events[chunk : chunk + 1000])
        in_log = await wait_until_current(settings, len(events))  # the warm-up event was one of them; consequences come on top
        return time.perf_counter() - start_time, in_log - start_time
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--kafka", default=os.environ.get("REGISTERVARD_KAFKA", "127.0.0.1:9092"))
    parser.add_argument("--json-out", default=None, help="append the figure to this JSON lines file (bench/report.py)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rv-bench-"))
    settings = Settings(
        kafka=args.kafka,
        topic_prefix=f"bench-{uuid.uuid4().hex[:8]}",
        database_url=args.database_url or f"sqlite:///{workdir / 'register.db'}",
    )
    await ensure_topics(settings)
    print(f"Generating {args.events} events...", file=sys.stderr)
    events = demo_batch(args.events)
    encoded = [(e.customer_id.encode(), codec.encode(e)) for e in events]
    assert len({e.event_id for e in events}) == len(events)

    print("Raw produce + consume + decode...", file=sys.stderr)
    raw = await raw_baseline(settings, events)
    print("Publish -> worker -> log -> projection -> register...", file=sys.stderr)
    full, in_log = await full_path(settings, events, workdir)
    backend = connect(settings.database_url).dialect.name
    print(json.dumps({
        "events": len(encoded),
        "database": backend,
        "raw_produce_consume_decode_s": round(raw, 3),
        "publish_to_current_register_s": round(full, 3),
        "publish_to_all_in_log_s": round(in_log, 3),
        "projection_behind_log_s": round(full - in_log, 3),
        "ratio_full_to_raw": round(full / raw, 2),
        "full_events_per_s": round(len(events) / full),
        "raw_events_per_s": round(len(events) / raw),
    }, indent=2))
    size = f"{len(events) // 1000}k" if len(events) % 1000 == 0 else str(len(events))
    report.write(
        args.json_out,
        [
            report.Figure(
                f"publish {size} events -> register current", backend, round(full, 2), "s", round(raw, 3),
                "raw produce+consume+decode", round(report.slower_by_time(full, raw), 2), "within 4x",
            )
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
