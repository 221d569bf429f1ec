"""One fault scenario's system: its topics, its register database, the supervised worker and projection, the load.

A scenario starts the services, publishes demo events while it injects its
fault, then calls `verdict`, which waits for the system to settle and checks
the three promises: nothing lost, nothing applied twice, the register equals a
rebuild. Every figure goes into the scenario's `FaultReport`.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError

from events.catalog import Event
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.rebuild import rebuild_register
from registervard.demo import demo_events
from tests.conftest import service_env
from tests.faults.checks import Progress, check_invariants, offsets_engine, probe, snapshot_differences
from tests.faults.report import FaultReport, record
from tests.faults.services import PrivateServices
from tests.faults.supervisor import Supervisor, registervard
from tests.register_snapshot import snapshot

SETTLE_TIMEOUT = 75.0
"""Seconds after the fault and the load have ended within which the register must have caught up, or it is stuck."""
QUIET_SECONDS = 3.0
"""How long the log must stay unchanged, with everything caught up, to count as settled (consent expiries may still come)."""


def demo(count: int, seed: int) -> list[Event]:
    """The first `count` events of a demo register's life (all customers' events interleaved by time)."""
    lines = demo_events(customers=count // 2 + 50, seed=seed)
    events = [parse_event(json.loads(line)) for line in lines][:count]
    if len(events) < count:
        raise AssertionError(f"the demo register has only {len(events)} events, {count} wanted")
    if len({e.event_id for e in events}) != len(events):
        raise AssertionError("the demo events repeat an event id; the checks need each published id to be unique")
    return events


@dataclass
class Rig:
    """A scenario's system under test."""

    name: str
    settings: Settings
    services: PrivateServices
    workdir: Path
    database: str
    """"sqlite" or "postgresql"."""
    rng: random.Random
    published: list[str] = field(default_factory=list)
    supervisors: dict[str, Supervisor] = field(default_factory=dict)
    load_done: asyncio.Event = field(default_factory=asyncio.Event)
    load_began_at: float | None = None
    load_ended_at: float | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.workdir / "state").mkdir(parents=True, exist_ok=True)  # Faust makes its datadir there, not its parents
        self.engine = offsets_engine(self.settings.database_url)
        self.env = service_env(
            self.settings,
            REGISTERVARD_EXPIRY_CHECK_SECONDS="1",
            REGISTERVARD_STATE=str(self.workdir / "state"),
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
        )

    # --- the services ---------------------------------------------------------------

    @property
    def worker(self) -> Supervisor:
        return self.supervisors["worker"]

    @property
    def projection(self) -> Supervisor:
        return self.supervisors["projection"]

    async def start(self) -> None:
        """Create the topics, start the supervised worker and projection, and wait until both are working."""
        await ensure_topics(self.settings)
        self.supervisors["worker"] = Supervisor("worker", registervard("worker"), self.env, self.workdir / "worker.log").start()
        self.supervisors["projection"] = Supervisor("projection", registervard("project"), self.env, self.workdir / "projection.log").start()
        await asyncio.to_thread(self.worker.wait_for_output, "worker_ready", timeout=60, what="the worker to be ready", exits=2)
        await asyncio.to_thread(
            self.projection.wait_for_output, "projection_started", count=2, timeout=60, what="the register and audit projections to start", exits=2
        )

    def stop(self) -> None:
        """Stop supervising and end both processes."""
        for supervisor in self.supervisors.values():
            supervisor.stop()

    def close(self) -> None:
        """Stop everything this rig started."""
        self.stop()
        self.engine.dispose()

    # --- the load -------------------------------------------------------------------

    async def publish(self, events: list[Event], *, chunk: int, pause: float, retry_for: float = 90) -> None:
        """Publish `events` a chunk at a time, like an upstream system that retries a chunk until the broker takes it."""
        self.load_began_at = time.monotonic()
        try:
            publisher: Publisher | None = None
            for start in range(0, len(events), chunk):
                part = events[start : start + chunk]
                deadline = time.monotonic() + retry_for
                while True:
                    try:
                        if publisher is None:
                            publisher = await Publisher(self.settings).__aenter__()
                        await publisher.publish(part)
                        break
                    except (KafkaError, OSError) as error:  # the broker is away: start over with a new producer
                        if time.monotonic() > deadline:
                            raise AssertionError(f"upstream could not publish for {retry_for:.0f}s ({type(error).__name__})") from None
                        if publisher is not None:
                            await _quietly(publisher.__aexit__(None, None, None))
                        publisher = None
                        await asyncio.sleep(1)
                self.published += [str(e.event_id) for e in part]
                await asyncio.sleep(pause)
            if publisher is not None:
                await publisher.__aexit__(None, None, None)
        finally:
            self.load_ended_at = time.monotonic()
            self.load_done.set()
            self.notes.append(f"load ran from +0 to +{self.since_load_began(self.load_ended_at)} s")

    async def run_with_load(self, events: list[Event], *, chunk: int, pause: float, fault: Callable[[], Awaitable[float]]) -> float:
        """Publish `events` while `fault()` runs; return when the fault ended (what it returns). Either failing stops both."""
        load = asyncio.create_task(self.publish(events, chunk=chunk, pause=pause), name="load")
        faulting = asyncio.create_task(fault(), name="fault")
        try:
            done, _ = await asyncio.wait({load, faulting}, return_when=asyncio.FIRST_EXCEPTION)
            if load in done and load.exception() is not None:
                error = load.exception()
                raise AssertionError(f"the load (an upstream publisher) failed: {type(error).__name__}: {error}") from error
            fault_end = await faulting
            await load
            return fault_end
        finally:
            for task in (load, faulting):
                task.cancel()

    async def log_end(self) -> int:
        """Records in the log now (0 when it cannot be told)."""
        progress = await probe(self.settings, self.engine)
        return sum(progress.log_end.values())

    async def kill_at_random_moments(self, supervisor: Supervisor, times: int, *, ready: str, working: Callable[[], Awaitable[None]]) -> float:
        """SIGKILL `supervisor`'s process `times` times, each at a random moment after it is ready and working; return when the last kill was."""
        killed_at = time.monotonic()
        for kill in range(1, times + 1):
            await asyncio.to_thread(supervisor.wait_for_output, ready, timeout=60, what=f"readiness before kill {kill}")
            await working()
            await asyncio.sleep(self.rng.uniform(0.1, 1.5))
            await asyncio.to_thread(supervisor.kill)
            killed_at = time.monotonic()
            self.notes.append(f"kill {kill} of the {supervisor.name} at +{self.since_load_began(killed_at)} s")
        return killed_at

    def since_load_began(self, moment: float) -> str:
        """A moment as seconds since the load began, for the report's notes."""
        return f"{moment - (self.load_began_at or moment):.1f}"

    async def output_or_load_done(self, supervisor: Supervisor, text: str, timeout: float = 60) -> None:
        """Wait until the current run of `supervisor` has written `text` (it is working), or the load is over."""
        deadline = time.monotonic() + timeout
        while not self.load_done.is_set() and text not in supervisor.current_run_output():
            if time.monotonic() > deadline:
                raise AssertionError(f"{supervisor.name} wrote no {text} for {timeout:.0f}s while the load ran\n{supervisor.tail()}")
            await asyncio.sleep(0.2)

    async def log_grows_or_load_done(self, timeout: float = 60) -> None:
        """Wait until the log has grown (the worker is admitting events), or the load is over."""
        before = await self.log_end()
        deadline = time.monotonic() + timeout
        while not self.load_done.is_set() and await self.log_end() <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker admitted nothing for {timeout:.0f}s while the load ran\n{self.worker.tail()}")
            await asyncio.sleep(0.2)

    # --- the verdict ----------------------------------------------------------------

    async def settle(self, since: float) -> tuple[float | None, Progress]:
        """Wait until intake, log and projections have caught up and the log has stopped growing; return when it first was."""
        deadline = since + SETTLE_TIMEOUT
        streak_began: float | None = None
        previous: dict[int, int] | None = None
        while True:
            progress = await probe(self.settings, self.engine)
            now = time.monotonic()
            if progress.caught_up and progress.log_end == previous:
                streak_began = streak_began or now
                if now - streak_began >= QUIET_SECONDS:
                    return streak_began, progress
            elif progress.caught_up:
                streak_began = now
            else:
                streak_began = None
            previous = progress.log_end if progress.error is None else None
            if now > deadline:
                return None, progress
            await asyncio.sleep(0.5)

    async def verdict(self, *, fault_end: float) -> None:
        """Wait for the system to settle, check the promises, record the report, and fail naming every broken one."""
        await self.load_done.wait()
        settled_since = max(fault_end, self.load_ended_at or fault_end)
        recovered_at, progress = await self.settle(settled_since)
        self.stop()  # nothing may change the register while it is compared with a rebuild
        findings = await check_invariants(self.settings, self.engine, self.published)
        problems = findings.problems()
        report = FaultReport(
            scenario=self.name,
            database=self.database,
            published=findings.published,
            in_log=findings.in_log,
            dead_letters=findings.dead_letters,
            lost=len(findings.lost),
            applied_twice=len(findings.applied_twice),
            audit_problems=len(findings.audit_problems),
            recovery_seconds=None if recovered_at is None else max(0.0, recovered_at - fault_end),
            restarts={name: s.summary() for name, s in self.supervisors.items()},
            notes=self.notes,
        )
        if recovered_at is None:
            problems.append(
                f"NOTHING STUCK broken: {SETTLE_TIMEOUT:.0f}s after the fault and the load ended the register had not caught up "
                f"with a settled log: {progress.describe()}"
            )
        else:
            live = await asyncio.to_thread(snapshot, self.settings.database_url)
            try:
                await rebuild_register(self.settings, keys=key_store(self.settings))
            except Exception as error:  # report it with the rest
                problems.append(f"THE REGISTER EQUALS A REBUILD: the rebuild failed ({type(error).__name__}: {error})")
                report.register_equals_rebuild = "rebuild failed"
            else:
                differences = snapshot_differences(live, await asyncio.to_thread(snapshot, self.settings.database_url))
                report.register_equals_rebuild = "yes" if not differences else f"no ({len(differences)} table(s) differ)"
                problems += [f"THE REGISTER EQUALS A REBUILD broken: {d}" for d in differences]
                if not live.get("customers"):
                    problems.append("the register has no customers at all: the scenario tested nothing")
        record(report)
        if problems:
            for supervisor in self.supervisors.values():
                print(supervisor.tail())
            raise AssertionError(f"{self.name}:\n- " + "\n- ".join(problems) + f"\n(whole logs kept in {self.keep_logs()})")

    def keep_logs(self) -> Path:
        """Copy the subprocess logs where pytest's tmp cleanup (it keeps three sessions) will not remove them."""
        kept = Path(tempfile.gettempdir()) / "registervard-faults-logs" / f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        kept.mkdir(parents=True, exist_ok=True)
        for supervisor in self.supervisors.values():
            if supervisor.log.exists():
                shutil.copy(supervisor.log, kept / supervisor.log.name)
        return kept


async def _quietly(awaitable) -> None:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(awaitable, timeout=10)
    except Exception:  # a producer that cannot reach the broker may fail to stop cleanly; a new one is made anyway
        pass
