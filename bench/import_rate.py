"""How fast `registervard import` takes a CSV register of N customers to a current register, next to raw Kafka.

    .venv/bin/python bench/import_rate.py [--rows 20000] [--database-url URL] [--json-out FILE]
    .venv/bin/python bench/import_rate.py --rows 1000000          # the goal: 1M rows under 5 minutes

The CSV comes from `registervard demo generate --csv` (every row a distinct customer). A worker and the
projections run as `registervard worker` and `registervard project`, warmed up before the clock starts; then
`registervard import FILE --wait` runs as its own process against a fresh topic prefix and a fresh SQLite
register (or --database-url). Measured: the publish phase (until the intake topic holds every row; rows/s),
the time until the import returns because the register is current, and the import process's peak RSS (it
reads the file row by row, so this should not grow with N). Baseline, in the same run on the same broker:
produce N pre-encoded messages (idempotent producer, acks=all) and consume and decode them again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from report import Figure, slower_by_rate, slower_by_time, write
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events import codec
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics, partitions_of
from projections.database import connect
from projections.tables import CustomerRow
from registervard import catch_up, importing
from registervard.demo import write_import_csv

GOAL = "1M rows under 5 min"


def sample_messages(csv_path: Path, count: int) -> list[bytes]:
    """The encoded events of the file's first `count` rows, mapped as the import maps them (the baseline's values)."""
    header, table = importing.read_table(csv_path)
    columns = importing.resolve_columns(header)
    values = []
    outcomes = importing.mapped_rows(
        importing.rows_by_field(table, columns), source="CRM", occurred_at=datetime(2025, 1, 1, tzinfo=UTC), id_from_identity=lambda n: "C-" + n
    )
    for outcome in outcomes:
        if isinstance(outcome, importing.ImportedRow):
            values.append(codec.encode(outcome.event))
            if len(values) == count:
                break
    with contextlib.suppress(AttributeError):
        table.close()  # type: ignore[attr-defined]
    return values


async def raw_baseline(settings: Settings, rows: int, values: list[bytes]) -> float:
    """Seconds to produce `rows` pre-encoded messages (the sample values in turn, a key per row) and consume and decode them."""
    raw_settings = Settings(kafka=settings.kafka, topic_prefix=f"{settings.topic_prefix}-raw")
    await ensure_topics(raw_settings)  # same partitions and configs as the real topics
    topic = raw_settings.intake_topic
    messages = [(f"C-{i:07d}".encode(), values[i % len(values)]) for i in range(1, rows + 1)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        start = time.perf_counter()
        for chunk in range(0, rows, 10_000):
            futures = [await producer.send(topic, key=k, value=v) for k, v in messages[chunk : chunk + 10_000]]
            await asyncio.gather(*futures)
        seen = 0
        while seen < rows:
            for batch in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                for message in batch:
                    codec.decode(message.value)
                    seen += 1
        return time.perf_counter() - start
    finally:
        await producer.stop()
        await consumer.stop()


def service_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "REGISTERVARD_KAFKA": settings.kafka,
        "REGISTERVARD_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTERVARD_DATABASE_URL": settings.database_url,
    }


def start(command: list[str], settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "registervard", *command], env=service_env(settings), stdout=log.open("w"), stderr=subprocess.STDOUT)


async def wait_for_child(process: subprocess.Popen[bytes]) -> tuple[int, float, float]:
    """Wait for a child without blocking the loop; its exit status, peak RSS in MB and CPU seconds (from wait4, this
    child alone: on a shared machine its CPU time says more about its own cost than the wall clock does)."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss: kilobytes on Linux
        await asyncio.sleep(0.1)


async def peak_rss_of(settings: Settings, *args: str) -> float:
    """Peak RSS in MB of `registervard ARGS` (the interpreter and its imports: the floor under any command)."""
    process = subprocess.Popen([sys.executable, "-m", "registervard", *args], env=service_env(settings), stdout=subprocess.DEVNULL)
    return (await wait_for_child(process))[1]


async def intake_count(settings: Settings) -> int:
    return sum((await catch_up.end_offsets(settings, settings.intake_topic)).values())


async def published_at(settings: Settings, target: int, importing_done: asyncio.Task[tuple[int, float, float]]) -> float:
    """When the intake topic first holds `target` messages (polled once a second with one consumer, so that measuring
    costs the import little), or when the import ended, whichever is first."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.intake_topic, n) for n in await partitions_of(settings, settings.intake_topic)]
        while not importing_done.done():
            if sum((await consumer.end_offsets(partitions)).values()) >= target:
                return time.perf_counter()
            await asyncio.wait([importing_done], timeout=1)
        return time.perf_counter()
    finally:
        await consumer.stop()


async def import_run(settings: Settings, csv_path: Path, rows: int, logs: Path, timeout: float) -> dict[str, float]:
    """Warm the services up, then time `registervard import --wait`: publish phase, until current, and its peak RSS."""
    processes = [start(["worker"], settings, logs / "worker.log"), start(["project"], settings, logs / "projection.log")]
    try:
        warm_up = json.dumps(
            {"type": "CustomerRegistered", "customer_id": "WARM-UP", "occurred_at": "2025-01-01T00:00:00Z", "source": "CRM",
             "customer_kind": "COMPANY", "registration": {"company_name": "Uppvärmning AB"}}
        )
        from events.jsonlines import parse_lines

        (parsed,) = parse_lines([warm_up])
        assert parsed.event is not None
        before = await catch_up.mark(settings)
        async with Publisher(settings) as publisher:
            await publisher.publish([parsed.event])
        after = await catch_up.end_offsets(settings, settings.intake_topic)
        await catch_up.wait_until_current(settings, connect(settings.database_url), before, after, timeout=180)
        already = await intake_count(settings)

        begin = time.perf_counter()
        command = [sys.executable, "-m", "registervard", "import", str(csv_path), "--wait", "--wait-timeout", str(timeout), "--as-of", "2025-06-01"]
        with (logs / "import.log").open("w") as log:
            importer = subprocess.Popen(command, env=service_env(settings), stdout=log, stderr=subprocess.STDOUT)
            waiting = asyncio.create_task(wait_for_child(importer))
            published = await published_at(settings, already + rows, waiting)
            status, rss, cpu = await waiting
        total = time.perf_counter() - begin
        if status != 0:
            raise SystemExit(f"the import exited {status}; see {logs / 'import.log'}")
        engine = connect(settings.database_url)
        with Session(engine) as session:
            in_register = session.scalar(select(func.count()).select_from(CustomerRow)) or 0
        if in_register < rows:
            raise SystemExit(f"the import returned, but the register holds {in_register} of {rows} customers")
        return {"publish_s": published - begin, "total_s": total, "peak_rss_mb": rss, "cpu_s": cpu}
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=60)


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k" if rows % 1000 == 0 else str(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--kafka", default=os.environ.get("REGISTERVARD_KAFKA", "127.0.0.1:9092"))
    parser.add_argument("--timeout", type=float, default=3600, help="--wait-timeout of the import")
    parser.add_argument("--json-out", default=None, help="append the figures (bench/report.py) to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rv-import-"))
    settings = Settings(
        kafka=args.kafka,
        topic_prefix=f"bench-{uuid.uuid4().hex[:8]}",
        database_url=args.database_url or f"sqlite:///{workdir / 'register.db'}",
    )
    await ensure_topics(settings)
    csv_path = workdir / "kunder.csv"
    print(f"Writing {args.rows} rows to {csv_path}...", file=sys.stderr)
    write_import_csv(csv_path, customers=args.rows)

    print("Raw produce + consume + decode...", file=sys.stderr)
    raw = await raw_baseline(settings, args.rows, sample_messages(csv_path, min(args.rows, 20_000)))
    print("Import -> worker -> log -> projection -> register...", file=sys.stderr)
    measured = await import_run(settings, csv_path, args.rows, workdir, args.timeout)
    floor_rss = await peak_rss_of(settings, "--help")
    backend = connect(settings.database_url).dialect.name
    publish_rate = args.rows / measured["publish_s"]
    raw_rate = args.rows / raw
    result = {
        "rows": args.rows,
        "database": backend,
        "raw_produce_consume_decode_s": round(raw, 3),
        "publish_phase_s": round(measured["publish_s"], 3),
        "publish_rows_per_s": round(publish_rate),
        "until_current_after_publish_s": round(measured["total_s"] - measured["publish_s"], 3),
        "import_to_current_register_s": round(measured["total_s"], 3),
        "rows_per_s_to_current": round(args.rows / measured["total_s"]),
        "ratio_total_to_raw": round(measured["total_s"] / raw, 2),
        "import_cpu_s": round(measured["cpu_s"], 1),
        "rows_per_import_cpu_s": round(args.rows / measured["cpu_s"]),
        "import_peak_rss_mb": round(measured["peak_rss_mb"], 1),
        "cli_floor_rss_mb": round(floor_rss, 1),
        "logs": str(workdir),
    }
    print(json.dumps(result, indent=2))
    name = label(args.rows)
    raw_name = "raw produce+consume+decode"
    write(
        args.json_out,
        [
            Figure(f"import {name}-row CSV -> register current", backend, round(measured["total_s"], 2), "s", round(raw, 2), raw_name,
                   round(slower_by_time(measured["total_s"], raw), 2), GOAL),
            Figure(f"import {name}-row CSV: publish phase", backend, round(publish_rate), "rows/s", round(raw_rate), raw_name,
                   round(slower_by_rate(publish_rate, raw_rate), 2), GOAL),
            Figure(f"import {name}-row CSV: peak RSS of the import", backend, round(measured["peak_rss_mb"], 1), "MB", round(floor_rss, 1),
                   "registervard --help (interpreter and imports)", round(measured["peak_rss_mb"] / floor_rss, 2), "constant in the number of rows"),
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
