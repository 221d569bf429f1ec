"""Rebuild rate: events/s of `rebuild_register` into SQLite (and PostgreSQL), next to raw consume+decode of the same log.

    .venv/bin/python bench/rebuild_rate.py --customers 2000 [--postgres postgresql+psycopg://...] [--json-out FILE]

Publishes a demo register's events straight to a fresh events topic (REGISTERVARD_KAFKA),
then times each reader over the same log and prints JSON; with --json-out also
appends the figures (bench/report.py). A rebuild is timed from its start to the
swap; creating and migrating the (empty) database before it is not part of it,
as a rebuild runs against an existing register.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import report
import sqlalchemy

from events import codec
from events.event_log import read_log_records
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.database import connect
from projections.rebuild import rebuild_register
from registervard.demo import demo_events


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--postgres", help="SQLAlchemy URL of a PostgreSQL server (a database is created and dropped)")
    parser.add_argument("--json-out", default=None, help="append the figures to this JSON lines file (bench/report.py)")
    args = parser.parse_args()
    settings = replace(Settings.from_env(), topic_prefix=f"bench-{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings)
    events = [parse_event(json.loads(line)) for line in demo_events(customers=args.customers, seed=3)]
    async with Publisher(settings, topic=settings.events_topic) as publisher:
        for start in range(0, len(events), 5000):
            await publisher.publish(events[start : start + 5000])
    result: dict[str, object] = {"events": len(events), "customers": args.customers}

    started = time.perf_counter()
    count = 0
    async for batch in read_log_records(settings):
        count += len([codec.decode(r.value) for r in batch])
    baseline = count / (time.perf_counter() - started)
    result["consume_decode_events_per_s"] = round(baseline)

    targets = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"}
    admin = None
    figures: list[report.Figure] = []
    if args.postgres:
        server = sqlalchemy.make_url(args.postgres)
        name = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        targets["postgresql"] = server.set(database=name).render_as_string(hide_password=False)
    try:
        for label, url in targets.items():
            target = replace(settings, database_url=url)
            engine, keys = connect(url), key_store(target)
            started = time.perf_counter()
            rebuilt = await rebuild_register(target, keys=keys, engine=engine)
            seconds = time.perf_counter() - started
            engine.dispose()
            rate = rebuilt.events / seconds
            result[f"rebuild_{label}_events_per_s"] = round(rate)
            result[f"rebuild_{label}_phases_s"] = rebuilt.seconds
            figures.append(
                report.Figure(
                    f"rebuild into {label}", label, round(rate), "events/s", round(baseline), "raw consume+decode",
                    round(report.slower_by_rate(rate, baseline), 2), "within 2x",
                )
            )
    finally:
        if admin is not None:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result))
    report.write(args.json_out, figures)


if __name__ == "__main__":
    asyncio.run(main())
