"""How long the register health report takes (`projections.health_report`), next to reading the same trail raw.

    .venv/bin/python bench/health_report_speed.py [--customers 100000] [--database-url URL] [--keep FILE] [--json-out FILE]

Builds a register of the demo generator's lives of N customers without a broker: each event sealed with its
customer's data key (as the worker seals it), appended to the audit trail and folded into the register by the
projections themselves (`projections.runner.apply_batch`), into a fresh SQLite file (or --database-url). Then times,
in one run: (a) reading every trail entry and decoding it (the baseline); (b) the report at 13 points (12 month ends
and today) with contactability for the demo company. Prints JSON; with --json-out also appends the figure next to its
baseline (bench/report.py). --keep FILE builds the SQLite register into FILE, or times the one already there.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import report as bench_report
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events import codec
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.sealing import seal
from projections.audit import AuditProjection, AuditRow
from projections.data_keys import key_store_for_engine
from projections.database import connect
from projections.health_report import health_report
from projections.register import RegisterProjection
from projections.runner import apply_batch
from registervard.demo import OUR_COMPANY, demo_events


def build(url: str, customers: int) -> int:
    """A register of `customers` demo lives at `url`; the number of events."""
    engine = connect(url)
    keys = key_store_for_engine(engine)
    events = [parse_event(json.loads(line)) for line in demo_events(customers=customers, seed=3)]
    keys.ensure({event.customer_id for event in events})
    records = []
    for offset, event in enumerate(events):
        key = keys.key_for(event.customer_id, create=True)
        assert key is not None
        records.append(LogRecord("bench.events", 0, offset, codec.encode(seal(event, key))))
    for start in range(0, len(records), 5000):
        batch = records[start : start + 5000]
        for projection in (AuditProjection(), RegisterProjection()):
            assert apply_batch(engine, projection, batch, keys) == []
    engine.dispose()
    return len(events)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", help="an empty database to build into (default: a new SQLite file)")
    parser.add_argument("--keep", type=Path, help="the SQLite file to build into, or to time again when it exists")
    parser.add_argument("--json-out", default=None, help="append the figure to this JSON lines file (bench/report.py)")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{args.keep or Path(tempfile.mkdtemp()) / 'health.db'}"
    started = time.perf_counter()
    if args.keep is not None and args.keep.exists():
        with connect(url).connect() as connection:
            events = connection.scalar(select(func.count()).select_from(AuditRow)) or 0
    else:
        events = build(url, args.customers)
    built = time.perf_counter() - started

    engine = connect(url)
    with Session(engine) as session:
        started = time.perf_counter()
        for payload in session.scalars(select(AuditRow.payload).execution_options(yield_per=5000)):
            codec.decode(payload)
        raw = time.perf_counter() - started
    keys = key_store_for_engine(engine)
    with Session(engine) as session:
        started = time.perf_counter()
        report = health_report(session, keys, company=OUR_COMPANY)
        seconds = time.perf_counter() - started
    engine.dispose()
    size = f"{args.customers // 1000}k" if args.customers >= 1000 else str(args.customers)
    bench_report.write(
        args.json_out,
        [
            bench_report.Figure(
                f"register health report, {size} customers, 13 points",
                url.split(":", 1)[0].split("+", 1)[0],
                seconds,
                "s",
                raw,
                "read and decode the audit trail",
                round(bench_report.slower_by_time(seconds, raw), 2),
                "within 4x",
            )
        ],
    )
    print(
        json.dumps(
            {
                "customers": args.customers,
                "events": events,
                "build_s": round(built, 1),
                "read_and_decode_trail_s": round(raw, 2),
                "health_report_s": round(seconds, 2),
                "times_slower": round(seconds / raw, 1),
                "customers_read": report.customers_read,
                "today_by_status": report.today.by_status,
            }
        )
    )


if __name__ == "__main__":
    main()
