"""Throughput of the stream processor (the Faust worker) on the real broker, next to raw Kafka.

    .venv/bin/python bench/processors_throughput.py [--events 10000]

Baseline, same run, same broker: produce the N encoded events and consume and
decode them again. Processor: N events are already on the intake topic when
the worker starts (so its start-up is not counted... except the rebuild of its
state from the log, which is timed apart); the clock runs from the worker's
first intake message until the last admitted event and its consequences are in
the log, read back by a consumer.
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

from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).parent))
from publish_to_register import demo_batch, raw_baseline

from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics


async def count_log(settings: Settings, until: int, timeout: float = 600) -> tuple[float, int]:
    """Seconds until the log holds `until` messages, counted from the first one's arrival."""
    consumer = AIOKafkaConsumer(settings.events_topic, bootstrap_servers=settings.kafka, auto_offset_reset="earliest")
    await consumer.start()
    seen, first = 0, None
    deadline = time.monotonic() + timeout
    try:
        while seen < until and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=100, max_records=5000)).values():
                first = first or time.perf_counter()
                seen += len(batch)
        return time.perf_counter() - (first or time.perf_counter()), seen
    finally:
        await consumer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--kafka", default=os.environ.get("REGISTERVARD_KAFKA", "127.0.0.1:9092"))
    args = parser.parse_args()
    settings = Settings(kafka=args.kafka, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings)
    events = demo_batch(args.events)

    raw = await raw_baseline(settings, events)
    async with Publisher(settings) as publisher:
        for start in range(0, len(events), 1000):
            await publisher.publish(events[start : start + 1000])

    log = Path(tempfile.mkdtemp(prefix="rv-bench-")) / "worker.log"
    env = {**os.environ, "REGISTERVARD_KAFKA": settings.kafka, "REGISTERVARD_TOPIC_PREFIX": settings.topic_prefix}
    worker = subprocess.Popen([sys.executable, "-m", "registervard", "worker"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        # Every demo event is admitted; deaths add a ConsentWithdrawn per consent, so wait for at least N.
        elapsed, seen = await count_log(settings, len(events))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    print(json.dumps({
        "events": len(events),
        "raw_produce_consume_decode_s": round(raw, 3),
        "processor_s": round(elapsed, 3),
        "ratio_processor_to_raw": round(elapsed / raw, 2),
        "processor_events_per_s": round(seen / elapsed),
        "raw_events_per_s": round(len(events) / raw),
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
