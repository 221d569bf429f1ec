"""Rebuild the register from the event log, and swap it in while the old one keeps serving.

The log is the truth, so a rebuild needs nothing but the log and the register
projection's own code (`projections.register`):

1. **Fold in memory.** Read every partition of the events topic from the
   beginning up to the end offsets taken at the start, and fold the events with
   `register.fold_events` (the one fold, `events.customer.evolve`) into
   `dict[customer_id, CustomerState]`, remembering the next offset per
   partition, exactly as the live projection would. Records no reader can open
   are skipped (`events.event_log.open_records`).
2. **Write fresh tables.** Each register table (`tables.REGISTER_TABLES`) gets a
   copy of its definition under `<name>__rebuild` (indexes and named constraints
   renamed likewise), filled with each customer's `register.customer_rows`
   through `register.replace_rows`, in short transactions so the live
   projection keeps writing meanwhile.
3. **Catch up** without locks while the log grows, until little is left.
4. **Swap**, in one transaction that holds the write lock (SQLite: `BEGIN
   IMMEDIATE`; PostgreSQL: `LOCK TABLE` of the register tables and
   `projection_offsets`, with a short lock timeout and retries so it can never
   deadlock with the live projection): read the live projection's stored offsets,
   bring the rebuild to at least those (reading the missing records from the log),
   rename `<name>` to `<name>__old` and `<name>__rebuild` to `<name>`, drop the
   `__old` tables, give indexes and constraints their own names back, store the
   rebuild's offsets as projection "register", and commit. Readers see the old
   register until the commit and the rebuilt one after it.

The live projection may keep running throughout: whatever it applied is in the
log, so the rebuild has it too before the swap, and what it applies after the
swap it folds onto the rebuilt state, where the fold's idempotence by event id
(`CustomerState.event_ids`) makes a repeat harmless.

The downstream outbox is not a function of a customer's state: the rebuilt one
holds the customers whose downstream-visible rows differ from the live register
(what a rule change altered), the customers changed while catching up, and every
customer still waiting in the live outbox at the swap.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Constraint, Index, MetaData, Table, create_engine, delete, event, exists, func, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry

from events.customer import CustomerState
from events.event_log import LogRecord, log_end_offsets, log_partitions, open_records, read_log_records
from events.sealing import KeyStore
from events.settings import Settings
from projections.database import connect
from projections.register import ROW_TABLES, RegisterProjection, Rows, customer_rows, fold_events, replace_rows
from projections.runner import stored_offsets
from projections.tables import REGISTER_TABLES, Base, CustomerStateRow, OffsetRow, OutboxRow

log = structlog.get_logger(__name__)

REBUILD_SUFFIX = "__rebuild"
OLD_SUFFIX = "__old"
PROJECTION = RegisterProjection.name
OUTBOX = OutboxRow.__tablename__

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total); phases: read, write, catch-up, swap."""


# --- Which tables, and their copies --------------------------------------------------


def register_tables() -> list[Table]:
    """Every table the register projection owns (its offsets are rows of the shared `projection_offsets`)."""
    return list(REGISTER_TABLES)


def rebuild_copies(tables: Sequence[Table], suffix: str = REBUILD_SUFFIX) -> dict[str, Table]:
    """Each table's definition under `<name><suffix>` on a MetaData of its own, with indexes and named constraints renamed."""
    metadata = MetaData()
    copies: dict[str, Table] = {}
    for table in tables:
        copy = table.to_metadata(metadata, name=f"{table.name}{suffix}")
        named: list[Index | Constraint] = [*copy.indexes, *copy.constraints]
        for item in named:
            if isinstance(item.name, str) and item.name:
                item.name = item.name.replace(table.name, copy.name) if table.name in item.name else f"{item.name}{suffix}"
        copies[table.name] = copy
    return copies


# --- The fold in memory ------------------------------------------------------------------


@dataclass
class Fold:
    """Every customer's state folded from the log, and the next offset to read per partition."""

    states: dict[str, CustomerState] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    events: int = 0
    quarantined: int = 0
    """Records skipped because they cannot be opened (see events.event_log.open_records)."""
    keys: KeyStore | None = None
    """Opens the events' sealed personal data (fold_log sets the settings' key store); without it they stay sealed."""

    def apply(self, records: Iterable[LogRecord]) -> set[str]:
        """Fold records in log order; return the customers whose state changed."""
        records = list(records)
        opened, quarantined = open_records(records, self.keys)  # a record no reader can open is skipped by every reader
        self.quarantined += len(quarantined)
        for record in records:
            self.offsets[record.partition] = record.offset + 1
        self.events += len(opened)
        return fold_events(self.states, (logged.event for logged in opened))


async def fold_log(
    settings: Settings,
    fold: Fold | None = None,
    *,
    end: dict[int, int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Fold, set[str]]:
    """Fold the log from `fold`'s offsets (the beginning for a new one) up to `end` (default: the end now)."""
    fold = fold or Fold()
    changed: set[str] = set()
    async for batch in read_log_records(settings, start=fold.offsets, end=end, on_progress=on_progress):
        changed |= fold.apply(batch)
    return fold, changed


# --- Writing rows --------------------------------------------------------------------


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_customers(
    connection: Connection,
    copies: dict[str, Table],
    states: dict[str, CustomerState],
    customer_ids: Sequence[str],
    *,
    fresh: bool,
    lookup_key: str | None,
) -> list[Rows]:
    """Write these customers' rows into the copies, as the register projection derives them; unless `fresh`, their earlier rows there go first.

    Returns the rows written (each customer's `customer_rows`), for `served_rows` to compare with the live register."""
    rows = [customer_rows(states[c], lookup_key) for c in customer_ids]
    into = {table: copies[table.__tablename__] for table in ROW_TABLES}
    replace_rows(connection, customer_ids, rows, into, fresh=fresh)
    return rows


def mark_outbox(connection: Connection, copies: dict[str, Table], customer_ids: Iterable[str]) -> None:
    """Put customers in the rebuilt outbox (once)."""
    outbox = copies[OUTBOX]
    for chunk in _chunks(sorted(set(customer_ids)), 1000):
        present = set(connection.scalars(select(outbox.c.customer_id).where(outbox.c.customer_id.in_(list(chunk)))))
        fresh = [{"customer_id": c} for c in chunk if c not in present]
        if fresh:
            connection.execute(insert(outbox), fresh)


def rewrite_customers(connection: Connection, copies: dict[str, Table], fold: Fold, customer_ids: Sequence[str], lookup_key: str | None) -> None:
    """Replace changed customers' rows in the copies and put them in the rebuilt outbox."""
    write_customers(connection, copies, fold.states, customer_ids, fresh=False, lookup_key=lookup_key)
    mark_outbox(connection, copies, customer_ids)


SERVED_TABLES = [table for table in ROW_TABLES if table is not CustomerStateRow]
"""The tables downstream may see (every register table but the fold's state and the outbox)."""

_SERVED_COLUMNS = {table: sorted(c.name for c in table.__table__.columns if c.name != "updated_at") for table in SERVED_TABLES}
"""The columns compared, per served table: all but updated_at (the time of writing, not content)."""

ServedRows = dict[type[Base], dict[str, list[tuple]]]
"""Per served table and customer: the customer's rows there, as comparable tuples."""


def served_rows(rows: Iterable[Rows], into: ServedRows | None = None) -> ServedRows:
    """Customers' `customer_rows`, as `downstream_differences` compares them (added to `into` when given)."""
    served: ServedRows = into if into is not None else {table: defaultdict(list) for table in SERVED_TABLES}
    for per_customer in rows:
        for table in SERVED_TABLES:
            owner, keys, found = ROW_TABLES[table].key, _SERVED_COLUMNS[table], served[table]
            for row in per_customer[table]:
                found[row[owner]].append(tuple(_norm(row.get(k)) for k in keys))
    return served


def downstream_differences(
    engine: Engine, states: dict[str, CustomerState], lookup_key: str | None = None, *, rebuilt: ServedRows | None = None
) -> set[str]:
    """Customers whose downstream-visible rows (every register table but the state and outbox, without updated_at) differ from the live register.

    `rebuilt`: the rebuilt customers' `served_rows`, when the caller has them already (else derived from `states`)."""
    if rebuilt is None:
        rebuilt = served_rows(customer_rows(state, lookup_key) for state in states.values())
    differing: set[str] = set()
    with engine.connect() as connection:
        for table in SERVED_TABLES:
            keys, live_table = _SERVED_COLUMNS[table], table.__table__
            position = keys.index(ROW_TABLES[table].key)
            live: dict[str, list[tuple]] = defaultdict(list)
            for values in connection.execution_options(yield_per=5000).execute(select(*(live_table.c[k] for k in keys))):
                live[values[position]].append(tuple(_norm(v) for v in values))
            for cid in live.keys() | rebuilt[table].keys():
                if sorted(live.get(cid, ())) != sorted(rebuilt[table].get(cid, ())):
                    differing.add(cid)
    return differing


def _served_tables_empty(engine: Engine) -> bool:
    """Whether the live register has no rows in any table downstream may see."""
    with engine.connect() as connection:
        return not any(connection.execute(select(exists().select_from(table.__table__))).scalar() for table in SERVED_TABLES)


def _norm(value: Any) -> str:
    """A value as comparable text, whichever database it came back from (SQLite returns naive UTC datetimes)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return repr(value)


# --- Locking and swapping -----------------------------------------------------------------


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


@contextmanager
def _sqlite_write_lock(engine: Engine) -> Iterator[Connection]:
    """A connection inside BEGIN IMMEDIATE: other writers wait, readers (WAL) go on."""
    locking = create_engine(engine.url, connect_args={"timeout": 60})

    @event.listens_for(locking, "connect")
    def _no_implicit_transactions(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(locking, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with locking.begin() as connection:
            yield connection
    finally:
        locking.dispose()


@contextmanager
def _postgresql_write_lock(engine: Engine, tables: Sequence[Table]) -> Iterator[Connection]:
    """A transaction holding the register tables (ACCESS EXCLUSIVE, needed to rename them) and the offsets (EXCLUSIVE).

    Locks are taken with a short lock_timeout: the live projection takes its
    locks in its own order, so waiting long could deadlock; giving up and
    retrying cannot.
    """
    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL lock_timeout = '500ms'")
        names = ", ".join(_quote(connection, t.name) for t in tables)
        connection.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
        connection.exec_driver_sql(f"LOCK TABLE {_quote(connection, OffsetRow.__tablename__)} IN EXCLUSIVE MODE")
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
        yield connection


def _store_offsets(connection: Connection, topic: str, next_offsets: dict[int, int]) -> None:
    offsets = OffsetRow.__table__
    connection.execute(delete(offsets).where(offsets.c.projection == PROJECTION, offsets.c.topic == topic))
    if next_offsets:
        connection.execute(
            insert(offsets),
            [{"projection": PROJECTION, "topic": topic, "partition": p, "next_offset": o} for p, o in sorted(next_offsets.items())],
        )


def _copy_waiting_outbox(connection: Connection, copies: dict[str, Table]) -> None:
    """Put every customer still waiting in the live outbox in the rebuilt one too."""
    live = OutboxRow.__table__
    rebuilt = copies[OUTBOX]
    keys = [c.name for c in live.primary_key]
    columns = [c.name for c in live.columns]
    missing = ~exists().where(*(rebuilt.c[k] == live.c[k] for k in keys))
    connection.execute(insert(rebuilt).from_select(columns, select(*(live.c[c] for c in columns)).where(missing)))


def _swap_tables(connection: Connection, tables: Sequence[Table], copies: dict[str, Table]) -> None:
    """Rename the live tables away, the copies in, drop the old ones, and give indexes/constraints their names back."""
    q = lambda name: _quote(connection, name)  # noqa: E731
    for table in tables:
        connection.exec_driver_sql(f"ALTER TABLE {q(table.name)} RENAME TO {q(table.name + OLD_SUFFIX)}")
        connection.exec_driver_sql(f"ALTER TABLE {q(copies[table.name].name)} RENAME TO {q(table.name)}")
    for table in tables:
        connection.exec_driver_sql(f"DROP TABLE {q(table.name + OLD_SUFFIX)}")
    if connection.dialect.name == "postgresql":
        for table in tables:
            constraints = connection.execute(
                text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"), {"t": q(table.name)}
            ).scalars()
            for name in [n for n in constraints if REBUILD_SUFFIX in n]:
                connection.exec_driver_sql(
                    f"ALTER TABLE {q(table.name)} RENAME CONSTRAINT {q(name)} TO {q(name.replace(REBUILD_SUFFIX, ''))}"
                )
            indexes = connection.execute(
                text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"), {"t": table.name}
            ).scalars()
            for name in [n for n in indexes if REBUILD_SUFFIX in n]:
                connection.exec_driver_sql(f"ALTER INDEX {q(name)} RENAME TO {q(name.replace(REBUILD_SUFFIX, ''))}")
    else:  # SQLite cannot rename an index: make it again under its own name
        for table in tables:
            for copy_index, index in zip(
                sorted(copies[table.name].indexes, key=lambda i: str(i.name)), sorted(table.indexes, key=lambda i: str(i.name)), strict=False
            ):
                connection.exec_driver_sql(f"DROP INDEX IF EXISTS {q(str(copy_index.name))}")
                index.create(connection)


# --- The whole rebuild ---------------------------------------------------------------------


@dataclass
class RebuildReport:
    """What a rebuild did."""

    events: int = 0
    """Events folded (all of the log up to the swap)."""
    customers: int = 0
    """Customers in the rebuilt register."""
    for_downstream: int = 0
    """Customers put in the rebuilt outbox because their rows differ, changed while catching up, or were waiting."""
    caught_up_under_lock: int = 0
    """Events the live projection had applied and the rebuild read under the lock."""
    quarantined: int = 0
    """Log records skipped because they cannot be opened (the live projection lists them in `quarantine`)."""
    offsets: dict[int, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Stopwatch:
    """Adds the time since the last lap to a phase's seconds."""

    seconds: dict[str, float]
    last: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self.last, 3)
        self.last = now


async def rebuild_register(
    settings: Settings,
    *,
    keys: KeyStore,
    engine: Engine | None = None,
    on_progress: Progress | None = None,
    chunk: int = 2000,
    catch_up_until: int = 500,
    lock_attempts: int = 40,
) -> RebuildReport:
    """Rebuild the register from the log into fresh tables and swap them in; the old ones serve reads until then.

    The log's sealed personal data is opened with the customers' data keys in `keys`."""
    engine = engine or connect(settings.database_url)
    tables = register_tables()
    copies = rebuild_copies(tables)
    progress = on_progress or (lambda phase, done, total: None)
    report = RebuildReport()
    stopwatch = _Stopwatch(report.seconds)

    await log_partitions(settings)  # a clear error when the topic does not exist
    fold, _ = await fold_log(settings, Fold(keys=keys), on_progress=lambda done, total: progress("read", done, total))
    stopwatch.lap("read")
    _create_copies(engine, tables, copies)
    _fill_copies(engine, copies, fold, settings.lookup_key, chunk, progress)
    stopwatch.lap("write")
    await _catch_up(settings, engine, copies, fold, chunk, catch_up_until, progress)
    stopwatch.lap("catch-up")
    await _swap_with_retries(settings, engine, tables, copies, fold, report, chunk, lock_attempts, progress)
    stopwatch.lap("swap")

    report.events, report.quarantined = fold.events, fold.quarantined
    report.customers, report.offsets = len(fold.states), dict(fold.offsets)
    log.info("register_rebuilt", events=report.events, customers=report.customers, seconds=report.seconds)
    return report


def _create_copies(engine: Engine, tables: Sequence[Table], copies: dict[str, Table]) -> None:
    """Empty copies of the register tables, after clearing away whatever an interrupted rebuild left behind."""
    with engine.begin() as connection:
        for table in tables:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {_quote(connection, table.name + OLD_SUFFIX)}")
        for copy in copies.values():
            copy.drop(connection, checkfirst=True)
        for copy in copies.values():
            copy.create(connection)


def _fill_copies(engine: Engine, copies: dict[str, Table], fold: Fold, lookup_key: str | None, chunk: int, progress: Progress) -> None:
    """Every folded customer's rows into the copies, and into the rebuilt outbox those whose rows differ from the live register.

    Short transactions, so that the live projection can write in between.
    """
    customer_ids = sorted(fold.states)
    written = 0
    # Against an empty live register every rebuilt customer differs (each has a `customers` row): nothing to compare.
    compare = not _served_tables_empty(engine)
    rebuilt: ServedRows = {table: defaultdict(list) for table in SERVED_TABLES}
    for part in _chunks(customer_ids, chunk):
        with engine.begin() as connection:
            rows = write_customers(connection, copies, fold.states, part, fresh=True, lookup_key=lookup_key)
        if compare:
            served_rows(rows, rebuilt)  # compared below: each customer's rows are derived once, not once more for the comparison
        written += len(part)
        progress("write", written, len(customer_ids))
    differing = downstream_differences(engine, fold.states, lookup_key, rebuilt=rebuilt) if compare else set(customer_ids)
    with engine.begin() as connection:
        mark_outbox(connection, copies, differing)


async def _catch_up(
    settings: Settings, engine: Engine, copies: dict[str, Table], fold: Fold, chunk: int, catch_up_until: int, progress: Progress
) -> None:
    """Fold and write what the log gained meanwhile, without locks, until at most `catch_up_until` records are left (ten rounds at most)."""
    for _ in range(10):
        ends = await log_end_offsets(settings)
        behind = sum(max(0, e - fold.offsets.get(p, 0)) for p, e in ends.items())
        progress("catch-up", 0, behind)
        if behind <= catch_up_until:
            return
        _, changed = await fold_log(settings, fold, end=ends, on_progress=lambda d, t: progress("catch-up", d, t))
        for part in _chunks(sorted(changed), chunk):
            with engine.begin() as connection:
                rewrite_customers(connection, copies, fold, part, settings.lookup_key)


async def _swap_with_retries(
    settings: Settings,
    engine: Engine,
    tables: Sequence[Table],
    copies: dict[str, Table],
    fold: Fold,
    report: RebuildReport,
    chunk: int,
    lock_attempts: int,
    progress: Progress,
) -> None:
    """The swap; on PostgreSQL tried again (up to `lock_attempts` times) when the write lock was not had in time."""
    for attempt in range(1, lock_attempts + 1):
        try:
            await _swap(settings, engine, tables, copies, fold, report, chunk, progress)
            return
        except DBAPIError as error:
            if engine.dialect.name != "postgresql" or "lock" not in str(error.orig).lower() or attempt == lock_attempts:
                raise
            log.info("rebuild_swap_retry", attempt=attempt, reason=type(error.orig).__name__)
            await asyncio.sleep(min(0.05 * attempt, 1.0))


async def _swap(
    settings: Settings,
    engine: Engine,
    tables: Sequence[Table],
    copies: dict[str, Table],
    fold: Fold,
    report: RebuildReport,
    chunk: int,
    progress: Progress,
) -> None:
    """Under the write lock: catch up to the live projection, take over its waiting outbox, swap the tables, store the offsets."""
    lock = _sqlite_write_lock(engine) if engine.dialect.name == "sqlite" else _postgresql_write_lock(engine, tables)
    with lock as connection:
        report.caught_up_under_lock = await _catch_up_under_lock(settings, connection, copies, fold, chunk, progress)
        _copy_waiting_outbox(connection, copies)
        report.for_downstream = connection.execute(select(func.count()).select_from(copies[OUTBOX])).scalar_one()
        _swap_tables(connection, tables, copies)
        _store_offsets(connection, settings.events_topic, fold.offsets)


async def _catch_up_under_lock(
    settings: Settings, connection: Connection, copies: dict[str, Table], fold: Fold, chunk: int, progress: Progress
) -> int:
    """Bring the rebuild to at least the live projection's stored offsets; return the events read for that."""
    live = stored_offsets(connection, PROJECTION, settings.events_topic)
    target = {p: max(o, fold.offsets.get(p, 0)) for p, o in live.items()}
    behind = sum(o - fold.offsets.get(p, 0) for p, o in target.items())
    progress("swap", 0, behind)
    if not behind:
        return 0
    start_events = fold.events
    changed: set[str] = set()
    # Read exactly up to what the live projection applied: those records are in the log.
    async for batch in read_log_records(settings, start=fold.offsets, end=target, partitions=sorted(target)):
        changed |= fold.apply(batch)
        progress("swap", fold.events - start_events, behind)
    for part in _chunks(sorted(changed), chunk):
        rewrite_customers(connection, copies, fold, part, settings.lookup_key)
    return fold.events - start_events
