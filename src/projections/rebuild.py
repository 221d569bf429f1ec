"""Rebuild the register from the event log, and swap it in while the old one keeps serving.

The log is the truth, so a rebuild needs nothing but the log and the fold:

1. **Fold in memory.** Read every partition of the events topic from the
   beginning up to the end offsets taken at the start, and fold each event with
   `events.customer.evolve` into `dict[customer_id, CustomerState]`, remembering
   the next offset per partition, exactly as the live projection would.
2. **Write fresh tables.** Each register table gets a copy of its definition
   under `<name>__rebuild` (indexes and named constraints renamed likewise),
   filled with the rows the register projection derives from each state
   (`register_row` and the stored state; `register.rows_for` when it exists), in
   short transactions so the live projection keeps writing meanwhile.
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
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import MetaData, Table, create_engine, delete, event, exists, func, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from events.convert import to_plain
from events.customer import CustomerState, evolve
from projections import register as register_module
from projections import tables as tables_module
from projections.register import RegisterProjection, register_row
from events.event_log import log_end_offsets, log_partitions, open_records, read_log_records
from projections.data_keys import key_store
from events.sealing import KeyStore
from projections.runner import LogRecord
from projections.tables import Base, OffsetRow, OutboxRow, connect
from events.settings import Settings

log = structlog.get_logger(__name__)

REBUILD_SUFFIX = "__rebuild"
OLD_SUFFIX = "__old"
PROJECTION = RegisterProjection.name
OUTBOX = OutboxRow.__tablename__
STATE_TABLE = "customer_state"
FALLBACK_TABLES = ("customers", "customer_state", "downstream_outbox")
"""The register's tables when tables.py does not name them in REGISTER_TABLES."""

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total); phases: read, write, catch-up, swap."""


class RebuildUnsupported(RuntimeError):
    """The register has a table the rebuild does not know how to fill."""


# --- Which tables, and their copies --------------------------------------------------


def register_tables() -> list[Table]:
    """Every table the register projection owns, except the offsets (tables.REGISTER_TABLES when present)."""
    names = getattr(tables_module, "REGISTER_TABLES", FALLBACK_TABLES)
    found = []
    for entry in names:
        if isinstance(entry, Table):
            found.append(entry)
        elif hasattr(entry, "__table__"):
            found.append(entry.__table__)
        else:
            found.append(Base.metadata.tables[entry])
    return [t for t in found if t.name != OffsetRow.__tablename__]


def rebuild_copies(tables: Sequence[Table], suffix: str = REBUILD_SUFFIX) -> dict[str, Table]:
    """Each table's definition under `<name><suffix>` on a MetaData of its own, with indexes and named constraints renamed."""
    metadata = MetaData()
    copies: dict[str, Table] = {}
    for table in tables:
        if table.foreign_keys:
            raise RebuildUnsupported(f"{table.name} has foreign keys; a rebuild copy cannot keep them pointing at the copies")
        copy = table.to_metadata(metadata, name=f"{table.name}{suffix}")
        for item in [*copy.indexes, *copy.constraints]:
            if isinstance(item.name, str) and item.name:
                item.name = item.name.replace(table.name, copy.name) if table.name in item.name else f"{item.name}{suffix}"
        copies[table.name] = copy
    return copies


def rows_for(state: CustomerState, lookup_key: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every register table's rows for one customer (not the outbox), from the register projection's own row functions."""
    own = getattr(register_module, "rows_for", None)
    if own is not None:
        rows = dict(own(state))
        rows.pop(OUTBOX, None)
        return rows
    rows = {
        STATE_TABLE: [{"customer_id": state.customer_id, "state": to_plain(state, for_json=True)}],
        "customers": [register_row(state)],
    }
    detail_rows = getattr(register_module, "detail_rows", None)
    if detail_rows is not None:
        rows.update({_name(table): table_rows for table, table_rows in detail_rows(state, lookup_key).items()})
    return rows


def owner_column(table: Table) -> str:
    """The column naming the customer a row belongs to (register.DETAIL_TABLES says when it is not customer_id)."""
    name = table.name.removesuffix(REBUILD_SUFFIX)  # the copies being rebuilt carry the suffix
    for detail, column in getattr(register_module, "DETAIL_TABLES", {}).items():
        if _name(detail) == name:
            return column.key
    return "customer_id"


def _name(table: Any) -> str:
    return table.__tablename__ if hasattr(table, "__tablename__") else table.name


def _check_coverage(tables: Sequence[Table]) -> None:
    if getattr(register_module, "rows_for", None) is not None:
        return
    covered = {OUTBOX, STATE_TABLE, "customers"} | {_name(t) for t in getattr(register_module, "DETAIL_TABLES", {})}
    unknown = sorted({t.name for t in tables} - covered)
    if unknown:
        raise RebuildUnsupported(
            f"no rows for {', '.join(unknown)}: projections.register needs rows_for(state) -> dict[table, list[row]]"
        )


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
        changed: set[str] = set()
        records = list(records)
        opened, quarantined = open_records(records, self.keys)  # a record no reader can open is skipped by every reader
        self.quarantined += len(quarantined)
        for record in records:
            self.offsets[record.partition] = record.offset + 1
        for logged in opened:
            record, event = logged.record, logged.event
            before = self.states.get(event.customer_id)
            after = evolve(before, event)
            if after is not before:
                self.states[event.customer_id] = after
                changed.add(event.customer_id)
            self.events += 1
        return changed


async def fold_log(
    settings: Settings,
    fold: Fold | None = None,
    *,
    end: dict[int, int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Fold, set[str]]:
    """Fold the log from `fold`'s offsets (the beginning for a new one) up to `end` (default: the end now)."""
    fold = fold or Fold()
    if fold.keys is None:
        fold.keys = key_store(settings)
    changed: set[str] = set()
    async for batch in read_log_records(settings, start=fold.offsets, end=end, on_progress=on_progress):
        changed |= fold.apply(batch)
    return fold, changed


# --- Writing rows --------------------------------------------------------------------


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_states(
    connection: Connection,
    copies: dict[str, Table],
    states: dict[str, CustomerState],
    customer_ids: Sequence[str],
    *,
    replace: bool,
    lookup_key: str | None = None,
) -> None:
    """Write these customers' rows into the copies; with `replace`, their earlier rows there go first."""
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cid in customer_ids:
        for name, rows in rows_for(states[cid], lookup_key).items():
            by_table[name].extend(rows)
    for name, table in copies.items():
        if name == OUTBOX:
            continue
        if replace:
            connection.execute(delete(table).where(table.c[owner_column(table)].in_(list(customer_ids))))
        if by_table.get(name):
            connection.execute(insert(table), by_table[name])


def mark_outbox(connection: Connection, copies: dict[str, Table], customer_ids: Iterable[str]) -> None:
    """Put customers in the rebuilt outbox (once)."""
    outbox = copies.get(OUTBOX)
    ids = sorted(set(customer_ids))
    if outbox is None or not ids:
        return
    for chunk in _chunks(ids, 1000):
        present = set(connection.scalars(select(outbox.c.customer_id).where(outbox.c.customer_id.in_(list(chunk)))))
        fresh = [{"customer_id": c} for c in chunk if c not in present]
        if fresh:
            connection.execute(insert(outbox), fresh)


def downstream_differences(
    engine: Engine, tables: Sequence[Table], states: dict[str, CustomerState], lookup_key: str | None = None
) -> set[str]:
    """Customers whose downstream-visible rows (every register table but the state and outbox, without updated_at) differ from the live register."""
    served = [t for t in tables if t.name not in (OUTBOX, STATE_TABLE)]
    rebuilt: dict[str, dict[str, list[tuple]]] = {t.name: {} for t in served}
    columns: dict[str, list[str]] = {}
    owners = {t.name: owner_column(t) for t in served}
    for state in states.values():
        for name, rows in rows_for(state, lookup_key).items():
            if name not in rebuilt:
                continue
            if name not in columns and rows:
                columns[name] = sorted(k for k in rows[0] if k != "updated_at")
            for row in rows:
                rebuilt[name].setdefault(row[owners[name]], []).append(tuple(_norm(row.get(k)) for k in columns[name]))
    for per_customer in rebuilt.values():
        for entries in per_customer.values():
            entries.sort()
    differing: set[str] = set()
    with engine.connect() as connection:
        for table in served:
            keys = columns.get(table.name)
            if not keys:
                continue
            live: dict[str, list[tuple]] = defaultdict(list)
            result = connection.execution_options(yield_per=5000).execute(select(*(table.c[k] for k in keys)))
            position = keys.index(owners[table.name])
            for row in result:
                live[row[position]].append(tuple(_norm(v) for v in row))
            for cid in live.keys() | rebuilt[table.name].keys():
                if sorted(live.get(cid, ())) != rebuilt[table.name].get(cid, []):
                    differing.add(cid)
    return differing


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
    def _no_implicit_transactions(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None

    @event.listens_for(locking, "begin")
    def _begin_immediate(connection):  # type: ignore[no-untyped-def]
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


def _stored_offsets(connection: Connection, topic: str) -> dict[int, int]:
    offsets = OffsetRow.__table__
    rows = connection.execute(
        select(offsets.c.partition, offsets.c.next_offset).where(offsets.c.projection == PROJECTION, offsets.c.topic == topic)
    )
    return {partition: next_offset for partition, next_offset in rows}


def _store_offsets(connection: Connection, topic: str, next_offsets: dict[int, int]) -> None:
    offsets = OffsetRow.__table__
    connection.execute(delete(offsets).where(offsets.c.projection == PROJECTION, offsets.c.topic == topic))
    if next_offsets:
        connection.execute(
            insert(offsets),
            [{"projection": PROJECTION, "topic": topic, "partition": p, "next_offset": o} for p, o in sorted(next_offsets.items())],
        )


def _copy_waiting_outbox(connection: Connection, copies: dict[str, Table], tables: Sequence[Table]) -> None:
    live = next((t for t in tables if t.name == OUTBOX), None)
    rebuilt = copies.get(OUTBOX)
    if live is None or rebuilt is None:
        return
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
                sorted(copies[table.name].indexes, key=lambda i: str(i.name)), sorted(table.indexes, key=lambda i: str(i.name))
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


async def rebuild_register(
    settings: Settings,
    *,
    engine: Engine | None = None,
    on_progress: Progress | None = None,
    chunk: int = 2000,
    catch_up_until: int = 500,
    lock_attempts: int = 40,
) -> RebuildReport:
    """Rebuild the register from the log into fresh tables and swap them in; the old ones serve reads until then."""
    engine = engine or connect(settings.database_url)
    tables = register_tables()
    _check_coverage(tables)
    copies = rebuild_copies(tables)
    report = RebuildReport()
    progress = on_progress or (lambda phase, done, total: None)
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        report.seconds[phase] = round(report.seconds.get(phase, 0.0) + now - clock, 3)
        clock = now

    await log_partitions(settings)  # a clear error when the topic does not exist
    fold, _ = await fold_log(settings, on_progress=lambda done, total: progress("read", done, total))
    lap("read")

    # Fresh copies, filled in short transactions so the live projection can write in between.
    with engine.begin() as connection:
        for table in tables:  # what an interrupted rebuild left behind
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {_quote(connection, table.name + OLD_SUFFIX)}")
        for copy in copies.values():
            copy.drop(connection, checkfirst=True)
        for copy in copies.values():
            copy.create(connection)
    customer_ids = sorted(fold.states)
    written = 0
    for part in _chunks(customer_ids, chunk):
        with engine.begin() as connection:
            write_states(connection, copies, fold.states, part, replace=False, lookup_key=settings.lookup_key)
        written += len(part)
        progress("write", written, len(customer_ids))
    differing = downstream_differences(engine, tables, fold.states, settings.lookup_key)
    with engine.begin() as connection:
        mark_outbox(connection, copies, differing)
    lap("write")

    # Catch up without locks while the log grows.
    for _ in range(10):
        ends = await log_end_offsets(settings)
        behind = sum(max(0, e - fold.offsets.get(p, 0)) for p, e in ends.items())
        progress("catch-up", 0, behind)
        if behind <= catch_up_until:
            break
        fold, changed = await fold_log(settings, fold, end=ends, on_progress=lambda d, t: progress("catch-up", d, t))
        _write_changed(engine, copies, fold, changed, chunk, settings.lookup_key)
    lap("catch-up")

    # The swap, under the write lock.
    for attempt in range(1, lock_attempts + 1):
        try:
            await _swap(settings, engine, tables, copies, fold, report, progress)
            break
        except DBAPIError as error:
            if engine.dialect.name != "postgresql" or "lock" not in str(error.orig).lower() or attempt == lock_attempts:
                raise
            log.info("rebuild_swap_retry", attempt=attempt, reason=type(error.orig).__name__)
            await asyncio.sleep(min(0.05 * attempt, 1.0))
    lap("swap")
    report.events = fold.events
    report.quarantined = fold.quarantined
    report.customers = len(fold.states)
    report.offsets = dict(fold.offsets)
    log.info("register_rebuilt", events=report.events, customers=report.customers, seconds=report.seconds)
    return report


def _write_changed(engine: Engine, copies: dict[str, Table], fold: Fold, changed: set[str], chunk: int, lookup_key: str | None) -> None:
    for part in _chunks(sorted(changed), chunk):
        with engine.begin() as connection:
            write_states(connection, copies, fold.states, part, replace=True, lookup_key=lookup_key)
            mark_outbox(connection, copies, part)


async def _swap(
    settings: Settings,
    engine: Engine,
    tables: Sequence[Table],
    copies: dict[str, Table],
    fold: Fold,
    report: RebuildReport,
    progress: Progress,
) -> None:
    topic = settings.events_topic
    lock = _sqlite_write_lock(engine) if engine.dialect.name == "sqlite" else _postgresql_write_lock(engine, tables)
    with lock as connection:
        live = _stored_offsets(connection, topic)
        target = {p: max(o, fold.offsets.get(p, 0)) for p, o in live.items()}
        behind = sum(o - fold.offsets.get(p, 0) for p, o in target.items())
        progress("swap", 0, behind)
        if behind:
            start_events = fold.events
            changed: set[str] = set()
            # Read exactly up to what the live projection applied: those records are in the log.
            async for batch in read_log_records(settings, start=fold.offsets, end=target, partitions=sorted(target)):
                changed |= fold.apply(batch)
                progress("swap", fold.events - start_events, behind)
            ordered = sorted(changed)
            for part in _chunks(ordered, 2000):
                write_states(connection, copies, fold.states, part, replace=True, lookup_key=settings.lookup_key)
            mark_outbox(connection, copies, ordered)
            report.caught_up_under_lock = fold.events - start_events
        _copy_waiting_outbox(connection, copies, tables)
        if OUTBOX in copies:
            report.for_downstream = connection.execute(select(func.count()).select_from(copies[OUTBOX])).scalar_one()
        _swap_tables(connection, tables, copies)
        _store_offsets(connection, topic, fold.offsets)
