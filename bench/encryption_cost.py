"""What sealing personal data costs: publish -> log and a full rebuild, with and without encryption, in the same run.

    .venv/bin/python bench/encryption_cost.py [--events 10000] [--kafka HOST:PORT]

For each mode (REGISTERVARD_ENCRYPTION=on, then off) on topics and a SQLite
register of its own: start the worker, publish N demo events, and time until the
log holds all of them (the worker seals each personal field, creating a key per
new customer in `data_keys`); then time `projections.rebuild.rebuild_register`
over that log (decode, unseal, fold, write). Also the in-process cost of seal +
encode and decode + unseal per event. Prints JSON.
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

from events import codec
from events.event_log import log_end_offsets
from events.publish import Publisher
from events.sealing import MemoryKeyStore, seal, unseal
from events.settings import Settings
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.database import connect
from projections.rebuild import rebuild_register

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish_to_register import demo_batch


def start_worker(settings: Settings, encryption: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "REGISTERVARD_KAFKA": settings.kafka,
        "REGISTERVARD_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTERVARD_DATABASE_URL": settings.database_url,
        "REGISTERVARD_ENCRYPTION": encryption,
    }
    return subprocess.Popen([sys.executable, "-m", "registervard", "worker"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


async def wait_for_log(settings: Settings, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum((await log_end_offsets(settings)).values()) >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the log did not reach {count} events in {timeout}s")


async def one_mode(kafka: str, encryption: str, events: list, workdir: Path) -> dict:
    settings = Settings(kafka=kafka, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}", database_url=f"sqlite:///{workdir / f'register-{encryption}.db'}")
    await ensure_topics(settings)
    connect(settings.database_url).dispose()
    worker = start_worker(settings, encryption, workdir / f"worker-{encryption}.log")
    try:
        async with Publisher(settings) as publisher:
            await publisher.publish(events[:1])  # warm-up: the worker is ready
            await wait_for_log(settings, 1, timeout=120)
            started = time.perf_counter()
            for chunk in range(1, len(events), 1000):
                await publisher.publish(events[chunk : chunk + 1000])
        await wait_for_log(settings, len(events))
        to_log = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    in_log = sum((await log_end_offsets(settings)).values())
    started = time.perf_counter()
    report = await rebuild_register(settings, keys=key_store(settings))
    rebuild = time.perf_counter() - started
    return {
        "publish_to_log_s": round(to_log, 3),
        "publish_to_log_events_per_s": round((len(events) - 1) / to_log),
        "rebuild_s": round(rebuild, 3),
        "rebuild_events_per_s": round(report.events / rebuild),
        "events_in_log": in_log,
        "customers": report.customers,
    }


def in_process(events: list) -> dict:
    keys = MemoryKeyStore()
    started = time.perf_counter()
    plain = [codec.encode(e) for e in events]
    encode_plain = time.perf_counter() - started
    started = time.perf_counter()
    sealed = [codec.encode(seal(e, keys.key_for(e.customer_id, create=True))) for e in events]
    encode_sealed = time.perf_counter() - started
    started = time.perf_counter()
    for value in plain:
        codec.decode(value)
    decode_plain = time.perf_counter() - started
    started = time.perf_counter()
    for value in sealed:
        unseal(codec.decode(value), keys)
    decode_sealed = time.perf_counter() - started
    per = lambda seconds: round(seconds / len(events) * 1e6, 1)  # noqa: E731
    return {
        "encode_us_per_event": per(encode_plain),
        "seal_and_encode_us_per_event": per(encode_sealed),
        "decode_us_per_event": per(decode_plain),
        "decode_and_unseal_us_per_event": per(decode_sealed),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--kafka", default=os.environ.get("REGISTERVARD_KAFKA", "127.0.0.1:9092"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rv-bench-enc-"))
    events = demo_batch(args.events)
    print("in process...", file=sys.stderr)
    result: dict = {"events": len(events), "database": "sqlite", "in_process": in_process(events)}
    for mode in ("on", "off"):
        print(f"encryption {mode}: publish -> log, then rebuild...", file=sys.stderr)
        result[f"encryption_{mode}"] = await one_mode(args.kafka, mode, events, workdir)
    on, off = result["encryption_on"], result["encryption_off"]
    result["publish_to_log_slowdown"] = round(on["publish_to_log_s"] / off["publish_to_log_s"], 2)
    result["rebuild_slowdown"] = round(on["rebuild_s"] / off["rebuild_s"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
