"""API latency: p50/p99 of contactability lookups through `registervard serve`, next to a bare /health baseline.

    .venv/bin/python bench/api_latency.py --customers 2000 --requests 4000 --clients 1 [--database-url URL] [--json-out FILE]

Builds a demo register in a fresh SQLite file (or in --database-url, e.g. a scratch
PostgreSQL database) by folding the demo events in-process
(`projections.runner.apply_batch`, no broker needed), creates a marketing key,
starts the server on a free loopback port, then measures from separate client
processes (each one connection, requests one after another), /health first and
then contactability for random demo customers. Prints JSON; with --json-out also
appends the figure (bench/report.py): contactability p99 next to the /health p99
baseline. Each contactability answer also records its disclosure (committed before
the answer; the count is checked). Bounded: every loop runs a fixed number of
requests; loopback only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import report

CHANNELS_PURPOSES = [("PHONE", "TELEMARKETING"), ("EMAIL", "MARKETING"), ("POST", "MARKETING"), ("SMS", "NEWSLETTER")]


def build_register(url: str, customers: int) -> list[str]:
    """Fold the demo register into `url`; returns the customer ids."""
    from events import codec
    from events.event_log import LogRecord
    from events.jsonlines import parse_event
    from projections.database import connect
    from projections.register import RegisterProjection
    from projections.runner import apply_batch
    from registervard.demo import demo_events

    engine = connect(url)
    events = [parse_event(json.loads(line)) for line in demo_events(customers=customers, seed=11)]
    records = [LogRecord(topic="bench.events", partition=0, offset=n, value=codec.encode(e)) for n, e in enumerate(events)]
    for start in range(0, len(records), 2000):
        apply_batch(engine, RegisterProjection(), records[start : start + 2000])
    engine.dispose()
    return sorted({e.customer_id for e in events})


def client(args: tuple[str, str, list[str], int, int]) -> list[float]:
    """One client process: `count` requests on one keep-alive connection; seconds per request."""
    import httpx

    base, key, customer_ids, count, seed = args
    rng = random.Random(seed)
    latencies = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for _ in range(count):
            if customer_ids:
                channel, purpose = rng.choice(CHANNELS_PURPOSES)
                path = f"/customers/{rng.choice(customer_ids)}/contactability"
                params = {"channel": channel, "purpose": purpose, "company": "Registervård Demo AB"}
            else:
                path, params = "/health", None
            started = time.perf_counter()
            response = http.get(path, params=params)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")
    return latencies


def measure(base: str, key: str, customer_ids: list[str], requests: int, clients: int, seed: int) -> dict[str, float]:
    per_client = max(1, requests // clients)
    jobs = [(base, key, customer_ids, per_client, seed + n) for n in range(clients)]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(client, [(base, key, customer_ids, min(50, per_client), seed - 1 - n) for n in range(clients)])  # warm-up
        started = time.perf_counter()
        results = pool.map(client, jobs)
        elapsed = time.perf_counter() - started
    latencies = sorted(x for r in results for x in r)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p90_ms": round(quantiles[89] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "requests_per_s": round(len(latencies) / elapsed),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=4000, help="per measurement (health, then contactability)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--json-out", default=None, help="append the figure to this JSON lines file (bench/report.py)")
    args = parser.parse_args()

    from registervard import logging_setup as logs

    logs.configure("WARNING")  # logs to stderr: stdout is the JSON report
    from projections.database import connect
    from registervard.api.api_keys import create_key

    folder = Path(tempfile.mkdtemp(prefix="api-latency-"))
    url = args.database_url or f"sqlite:///{folder / 'register.db'}"
    before = disclosures_in(url)
    started = time.perf_counter()
    customer_ids = build_register(url, args.customers)
    build_s = time.perf_counter() - started
    engine = connect(url)
    _facts, key = create_key(engine, "bench client", "marketing")
    engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "REGISTERVARD_DATABASE_URL": url,
        "REGISTERVARD_KAFKA": "127.0.0.1:1",
        "REGISTERVARD_API_RATE_LIMIT": "1000000/second",
    }  # measure latency, not the limit
    log = (folder / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "registervard", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(300):  # up to 30 s
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"the server did not come up; see {folder / 'server.log'}")
        health = measure(base, key, [], args.requests, args.clients, seed=1)
        contactability = measure(base, key, customer_ids, args.requests, args.clients, seed=1000)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    disclosures = disclosures_in(url) - before
    expected = contactability["requests"] + args.clients * min(50, max(1, args.requests // args.clients))  # and the warm-up's
    if disclosures != expected:
        raise SystemExit(f"{expected} contactability answers but {disclosures} disclosures recorded")
    database = connect(url).dialect.name
    print(
        json.dumps(
            {
                "database": database,
                "customers": len(customer_ids),
                "register_build_s": round(build_s, 2),
                "clients": args.clients,
                "health": health,
                "contactability": contactability,
                "disclosures_recorded": disclosures,
                "disclosures_expected": expected,
                "note": "each contactability answer also records its disclosure, committed before the answer (group commit)",
            },
            indent=2,
        )
    )
    report.write(
        args.json_out,
        [
            report.Figure(
                f"contactability lookup, {args.clients} client{'s' if args.clients > 1 else ''}, p99", database, contactability["p99_ms"], "ms",
                health["p99_ms"], "/health p99", round(contactability["p99_ms"] / health["p99_ms"], 2), "within 2x, under 5 ms",
            )
        ],
    )


def disclosures_in(url: str) -> int:
    """How many disclosures the register at `url` has recorded (0 before it exists)."""
    from sqlalchemy import func, select

    from projections.access import DisclosureRow
    from projections.database import connect

    engine = connect(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(DisclosureRow)).scalar() or 0)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
