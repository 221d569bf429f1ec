"""How far the register has come: customers by status, events not yet applied, and consent expiries not yet recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from aiokafka import TopicPartition
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events.event_log import log_consumer
from events.settings import Settings
from events.topics import partitions_of
from projections.consent_lapses import lapses_not_recorded
from projections.database import connect
from projections.runner import stored_offsets
from projections.tables import CustomerRow, ProjectionHealthRow, QuarantineRow


@dataclass(frozen=True)
class RegisterStatus:
    """Customers per status, events in the log, and how many of those the register has still to apply."""

    customers: dict[str, int]
    events_in_log: int
    lag: int
    quarantined: dict[str, int] | None = None
    """Log records each projection skipped because it could not open or write them (see `quarantined_records`)."""
    lapsed_unrecorded: int = 0
    """Consents past their lapse date whose expiry (ConsentExpired) the register has not recorded yet: work pending
    for the worker's expiry timer (`projections.consent_lapses`)."""
    oldest_lapse: date | None = None
    """The earliest lapse date among those."""


REQUIRED_PROJECTIONS = ("register",)
"""Projections that must be running for the API to be ready: the register it serves. Any other one that has ever
reported (audit, ...) must keep reporting too."""


@dataclass(frozen=True)
class ProjectionHealth:
    """Whether a projection is running and keeping up, from its last heartbeat."""

    projection: str
    seconds_since_beat: float | None
    """None: it has never run against this database."""
    lag: int | None
    healthy: bool
    problem: str | None = None


def projection_health(engine: Engine, *, max_silence: float, max_lag: int, now: datetime | None = None) -> list[ProjectionHealth]:
    """Each projection's health: silent for longer than `max_silence` seconds, or more than `max_lag` events behind, is not."""
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        beats = {row.projection: row for row in session.scalars(select(ProjectionHealthRow))}
    report = []
    for name in sorted(set(REQUIRED_PROJECTIONS) | set(beats)):
        row = beats.get(name)
        if row is None:
            report.append(ProjectionHealth(name, None, None, False, f"the {name} projection has never run (start `registervard project`)"))
            continue
        silence = (now - _aware(row.beat_at)).total_seconds()
        problem = None
        if silence > max_silence:
            problem = f"the {name} projection has not reported for {silence:.0f} s (limit {max_silence:g} s): is `registervard project` running?"
        elif row.lag > max_lag:
            problem = f"the {name} projection is {row.lag} events behind the log (limit {max_lag})"
        report.append(ProjectionHealth(name, round(silence, 1), row.lag, problem is None, problem))
    return report


def quarantine_counts(engine: Engine) -> dict[str, int]:
    """How many log records each projection has quarantined."""
    with Session(engine) as session:
        rows = session.execute(select(QuarantineRow.projection, func.count()).group_by(QuarantineRow.projection)).all()
    return {projection: count for projection, count in rows}


def quarantined_records(engine: Engine) -> list[dict[str, object]]:
    """Every quarantined record: where it lies in the log, why, and when (never its contents)."""
    with Session(engine) as session:
        rows = session.scalars(select(QuarantineRow).order_by(QuarantineRow.topic, QuarantineRow.partition, QuarantineRow.offset))
        return [
            {"projection": r.projection, "partition": r.partition, "offset": r.offset, "code": r.code, "reason": r.reason,
             "quarantined_at": _aware(r.quarantined_at).isoformat()}
            for r in rows
        ]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


async def register_status(settings: Settings, *, today: date | None = None) -> RegisterStatus:
    """Count the register's customers and the consents lapsed by `today` (default: today in UTC) but not yet recorded as
    expired, and compare the register's stored offsets with the log's end."""
    engine = connect(settings.database_url)
    try:
        with Session(engine) as session:
            customers = dict(session.execute(select(CustomerRow.status, func.count()).group_by(CustomerRow.status)).all())
            lapsed, oldest = lapses_not_recorded(session, today=today)
        applied = stored_offsets(engine, "register", settings.events_topic)
        quarantined = quarantine_counts(engine)
    finally:
        engine.dispose()
    partitions = [TopicPartition(settings.events_topic, n) for n in await partitions_of(settings, settings.events_topic)]
    ends: dict[TopicPartition, int] = {}
    starts: dict[TopicPartition, int] = {}
    if partitions:  # no log yet (topics not created): nothing to ask, and a consumer stopped at once fails in aiokafka
        consumer = log_consumer(settings)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
        finally:
            await consumer.stop()
    in_log = sum(ends[tp] - starts[tp] for tp in partitions)
    lag = sum(ends[tp] - max(applied.get(tp.partition, 0), starts[tp]) for tp in partitions)
    return RegisterStatus(customers=customers, events_in_log=in_log, lag=lag, quarantined=quarantined, lapsed_unrecorded=lapsed, oldest_lapse=oldest)
