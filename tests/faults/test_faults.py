"""Fault injection (issue 9): nothing lost, nothing stuck, whatever fails while events flow.

Each scenario runs the real worker and projection (`registervard worker`,
`registervard project`) as subprocesses under a small supervisor that restarts
whatever exits, publishes demo events as an upstream system would, and injects
one fault while they flow:

1. the worker SIGKILLed three times at random moments;
2. the projection SIGKILLed three times;
3. the broker stopped for about 10 s and started again;
4. PostgreSQL (register and data keys) stopped for about 20 s and started again.

Once the fault and the load are over, the system must settle (the worker has
consumed the whole intake, the log stops growing, the register and audit
projections have all of it) within `rig.SETTLE_TIMEOUT`, and then:

- NOTHING LOST: every published event id is in the log `<prefix>.events` or on
  the dead-letter topic `<prefix>.deadletter`;
- NOTHING APPLIED TWICE: every published event id is in the log at most once,
  and the audit trail holds each log entry exactly once;
- THE REGISTER EQUALS A REBUILD: the live register is identical to one rebuilt
  from the log (`projections.rebuild`).

Each scenario records a table (published, lost, applied twice, time to recover,
restarts and exit codes), printed in pytest's summary. The broker and PostgreSQL
are the suite's own (tests/faults/conftest.py), never the shared ones. Subprocess
logs are kept in the test's tmp dir, and their tails are printed on failure.

Run: .venv/bin/python -m pytest tests/faults -m faults -q  (about 4 minutes; the
suite starts and stops its services itself, REGISTERVARD_KAFKA is not used).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.rig import Rig, demo

pytestmark = pytest.mark.faults

BROKER_OUTAGE = 10.0
DATABASE_OUTAGE = 20.0


async def _published_at_least(rig: Rig, count: int, timeout: float = 60) -> None:
    """Wait until the load has published `count` events (the fault should hit a system under load)."""
    deadline = time.monotonic() + timeout
    while len(rig.published) < count and not rig.load_done.is_set():
        if time.monotonic() > deadline:
            raise AssertionError(f"the load published only {len(rig.published)} of {count} events within {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def test_worker_killed_three_times_under_load(make_rig):
    rig = await make_rig("sqlite")
    events = demo(4000, seed=101)

    async def fault() -> float:
        return await rig.kill_at_random_moments(rig.worker, 3, ready="worker_ready", working=rig.log_grows_or_load_done)

    # A restarted worker needs 6-12 s to be ready (start, log replay, group join): the load lasts through three kills.
    fault_end = await rig.run_with_load(events, chunk=100, pause=0.75, fault=fault)
    await rig.verdict(fault_end=fault_end)


async def test_projection_killed_three_times_under_load(make_rig):
    rig = await make_rig("postgresql")
    events = demo(3000, seed=102)

    async def fault() -> float:
        return await rig.kill_at_random_moments(
            rig.projection, 3, ready="projection_started", working=lambda: rig.output_or_load_done(rig.projection, "batch_applied")
        )

    fault_end = await rig.run_with_load(events, chunk=100, pause=0.3, fault=fault)
    await rig.verdict(fault_end=fault_end)


async def test_broker_stopped_and_started_under_load(make_rig):
    rig = await make_rig("sqlite")
    events = demo(3000, seed=103)

    logs = [rig.workdir / "worker.log", rig.workdir / "projection.log"]
    lines_while_down = 0

    async def fault() -> float:
        nonlocal lines_while_down
        await _published_at_least(rig, len(events) // 4)
        sizes = [log.stat().st_size for log in logs]
        await asyncio.to_thread(rig.services.stop_kafka)
        rig.notes.append(f"broker stopped at +{rig.since_load_began(time.monotonic())} s")
        await asyncio.sleep(BROKER_OUTAGE)
        lines_while_down = sum(log.read_bytes()[size:].count(b"\n") for log, size in zip(logs, sizes, strict=False))
        took = await asyncio.to_thread(rig.services.start_kafka)
        rig.notes.append(f"broker stopped {BROKER_OUTAGE:.0f} s, took {took:.1f} s to start")
        rig.notes.append(f"{lines_while_down} log lines from worker and projection while the broker was down")
        return time.monotonic()

    fault_end = await rig.run_with_load(events, chunk=100, pause=0.3, fault=fault)
    await rig.verdict(fault_end=fault_end)
    # Unlimited, the Kafka client logs every reconnect attempt: about 2,000 lines a second.
    assert lines_while_down < 30 * BROKER_OUTAGE, f"{lines_while_down} log lines in {BROKER_OUTAGE:.0f} s of broker outage"


async def test_database_stopped_and_started_under_load(make_rig):
    rig = await make_rig("postgresql")
    events = demo(3000, seed=104)

    async def fault() -> float:
        await _published_at_least(rig, len(events) // 5)
        await asyncio.to_thread(rig.services.stop_postgres)
        rig.notes.append(f"PostgreSQL stopped at +{rig.since_load_began(time.monotonic())} s")
        await asyncio.sleep(DATABASE_OUTAGE)
        took = await asyncio.to_thread(rig.services.start_postgres)
        rig.notes.append(f"PostgreSQL stopped {DATABASE_OUTAGE:.0f} s, took {took:.1f} s to start")
        return time.monotonic()

    # Events flow through the whole outage and a little after it, so that recovery is measured on a system under load.
    fault_end = await rig.run_with_load(events, chunk=100, pause=0.7, fault=fault)
    await rig.verdict(fault_end=fault_end)
