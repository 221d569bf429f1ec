"""The audit trail: every entry of the event log, in order, in a hash chain that shows tampering.

`AuditProjection` appends one row to `audit_trail` per message of the
canonical event log, a duplicate delivery included, with the message's bytes
exactly as they stand in the log. Each row carries the SHA-256 of its own
content and of the row before it (`prev_hash`), so that changing, removing or
inserting a row anywhere breaks the chain from there on; `verify_chain` finds
the first place where it breaks.

Entry hash (version 1), documented here because auditors may recompute it
with other tools::

    hash = hex(SHA-256( b"registervard.audit.v1" + b"\\x00"
                        + header
                        + b"\\x00"
                        + payload ))

`header` is the UTF-8 JSON object of every column but `payload` and `hash`,
with keys sorted, no whitespace (separators "," and ":") and non-ASCII
characters escaped (so it holds no NUL byte, and the first NUL after the
prefix ends it)::

    seq, topic, partition, offset          integers and the topic name
    event_id, event_type, customer_id, source
    occurred_at, recorded_at               UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    causation_id, correlation_id           lower-case UUID strings, or null
    duplicate_of_seq                       integer, or null
    prev_hash                              64 hex digits; 64 zeros for seq 1

`payload` is the raw message value. The hash covers the stored bytes, not a
decoded form, so the chain still verifies after those bytes become ciphertext
for crypto-shredding: destroying a customer's key leaves the trail intact.

Duplicates: the log may hold the same event id twice (the worker is
at-least-once). Every log entry gets its own row; a second copy of an event id
names the first row with that id in `duplicate_of_seq`.

Append-only: triggers refuse UPDATE and DELETE (and, on PostgreSQL,
TRUNCATE) of `audit_trail`. They keep the service from rewriting history by
mistake; someone with the rights to drop or disable them is caught by
`verify_chain` instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    DateTime,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    event,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from events.catalog import Event
from events.event_log import LoggedEvent
from projections.sql import execute_rows
from projections.tables import Base, OffsetRow, QuarantineRow

GENESIS_HASH = "0" * 64
"""prev_hash of the first entry."""

HASH_PREFIX = b"registervard.audit.v1"
"""Names the serialisation the hash covers; a different layout gets a different prefix."""

HASHED_COLUMNS = (
    "seq",
    "topic",
    "partition",
    "offset",
    "event_id",
    "event_type",
    "customer_id",
    "source",
    "occurred_at",
    "recorded_at",
    "causation_id",
    "correlation_id",
    "duplicate_of_seq",
    "prev_hash",
)
"""Every column in the hash's JSON header (the payload follows it; the hash itself is not hashed)."""


class AuditRow(Base):
    """One entry of the event log, in the order the audit projection applied it. Append-only."""

    __tablename__ = "audit_trail"
    __table_args__ = (UniqueConstraint("topic", "partition", "offset"),)  # one entry per log position

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    topic: Mapped[str] = mapped_column(String(255))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    causation_id: Mapped[str | None] = mapped_column(String(36))
    correlation_id: Mapped[str | None] = mapped_column(String(36))
    duplicate_of_seq: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# --- Append-only, enforced by the database -----------------------------------

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail
BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only: DELETE refused'); END""",
)

POSTGRESQL_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = 'audit_trail is append-only: ' || TG_OP || ' refused', ERRCODE = 'insufficient_privilege';
END
$$""",
    """CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON audit_trail
FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only()""",
    """CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail
FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_append_only()""",
)

for _statement in SQLITE_TRIGGERS:
    event.listen(AuditRow.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRESQL_TRIGGERS:
    event.listen(AuditRow.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


# --- The hash ----------------------------------------------------------------


def canonical_time(moment: datetime) -> str:
    """A timestamp as the hash sees it: UTC, microseconds, `Z`. A naive value (SQLite gives those back) is UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(fields: dict[str, Any], payload: bytes) -> str:
    """The hex SHA-256 of an entry: see the module's documentation for the exact bytes."""
    header = {}
    for name in HASHED_COLUMNS:
        value = fields[name]
        header[name] = canonical_time(value) if isinstance(value, datetime) else value
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return hashlib.sha256(HASH_PREFIX + b"\x00" + encoded + b"\x00" + payload).hexdigest()


def row_hash(row: AuditRow) -> str:
    """The hash a stored row should carry, recomputed from its columns."""
    return entry_hash({name: getattr(row, name) for name in HASHED_COLUMNS}, row.payload)


# --- The projection ----------------------------------------------------------


class AuditProjection:
    """Appends every log entry to `audit_trail`, chained by hash."""

    name = "audit"

    def apply(self, session: Session, batch: Sequence[LoggedEvent]) -> None:
        """Append the batch in log order, inside the caller's transaction."""
        if not batch:
            return
        last = session.execute(select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)).first()
        seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
        first_seen = _first_seqs(session, {str(logged.event.event_id) for logged in batch})
        rows = []
        for logged in batch:
            seq += 1
            fields = entry_fields(logged.event)
            fields.update(
                seq=seq,
                topic=logged.record.topic,
                partition=logged.record.partition,
                offset=logged.record.offset,
                duplicate_of_seq=first_seen.get(fields["event_id"]),
                prev_hash=prev_hash,
            )
            first_seen.setdefault(fields["event_id"], seq)
            fields["hash"] = prev_hash = entry_hash(fields, logged.record.value)
            rows.append({**fields, "payload": logged.record.value})
        execute_rows(session, AuditRow.__table__.insert(), rows)


def entry_fields(event: Event) -> dict[str, Any]:
    """The envelope's facts an entry keeps in columns of their own."""
    envelope = event.envelope
    return dict(
        event_id=str(envelope.event_id),
        event_type=type(event).__name__,
        customer_id=envelope.customer_id,
        source=envelope.source,
        occurred_at=envelope.occurred_at.astimezone(UTC),
        recorded_at=envelope.recorded_at.astimezone(UTC),
        causation_id=str(envelope.causation_id) if envelope.causation_id else None,
        correlation_id=str(envelope.correlation_id) if envelope.correlation_id else None,
    )


def _first_seqs(session: Session, event_ids: set[str]) -> dict[str, int]:
    """For each of these event ids already in the trail, the seq of its first entry."""
    ids = sorted(event_ids)
    found: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        query = (
            select(AuditRow.event_id, func.min(AuditRow.seq))
            .where(AuditRow.event_id.in_(ids[start : start + 500]))
            .group_by(AuditRow.event_id)
        )
        found.update({event_id: seq for event_id, seq in session.execute(query)})
    return found


# --- Verification ------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """What `verify_chain` found: the number of entries checked, and the first break if there is one."""

    entries: int
    """Entries checked, up to and including the first broken one."""
    broken_seq: int | None = None
    """The first entry that breaks the chain (for a gap: the seq that is missing)."""
    problem: str | None = None
    """CONTENT_CHANGED, CHAIN_BROKEN, GAP or TRUNCATED."""
    reason: str | None = None
    """What is wrong, for a person."""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None and self.problem is None


def iter_rows(session: Session, chunk_size: int = 1000, query: Any = None) -> Iterator[AuditRow]:
    """Rows in seq order, read a chunk at a time (keyset pagination, so memory stays flat)."""
    query = select(AuditRow) if query is None else query
    after = 0
    while True:
        chunk = session.scalars(query.where(AuditRow.seq > after).order_by(AuditRow.seq).limit(chunk_size)).all()
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].seq
        session.expunge_all()


def verify_chain(session: Session, *, chunk_size: int = 1000, projection: str = "audit") -> VerifyResult:
    """Check every entry's hash and link, in seq order, and that no entry is missing at the end.

    The end is checked against the offsets the audit projection stored: for
    each partition, the trail must hold the last entry the projection says it
    applied. (They are read first, so entries appended meanwhile do no harm.)
    """
    applied = {
        (row.topic, row.partition): row.next_offset
        for row in session.scalars(select(OffsetRow).where(OffsetRow.projection == projection))
    }
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    last_offset: dict[tuple[str, int], int] = {}
    for skipped in session.scalars(select(QuarantineRow).where(QuarantineRow.projection == projection)):
        key = (skipped.topic, skipped.partition)  # a quarantined record is accounted for, though not in the trail
        last_offset[key] = max(last_offset.get(key, -1), skipped.offset)
    for row in iter_rows(session, chunk_size):
        if row.seq != expected_seq:
            return VerifyResult(
                checked,
                expected_seq,
                "GAP",
                f"entry {expected_seq} is missing: the entry after {expected_seq - 1} is {row.seq}",
            )
        checked += 1
        if row_hash(row) != row.hash:
            return VerifyResult(
                checked,
                row.seq,
                "CONTENT_CHANGED",
                f"entry {row.seq} ({row.event_type}, event {row.event_id}) does not match its own hash: "
                "a column or its payload was changed after it was written",
            )
        if row.prev_hash != prev_hash:
            return VerifyResult(
                checked,
                row.seq,
                "CHAIN_BROKEN",
                f"entry {row.seq} does not link to entry {row.seq - 1}: its prev_hash is not that entry's hash, "
                f"so entry {row.seq - 1} was changed (and its hash recomputed) or replaced",
            )
        key = (row.topic, row.partition)
        last_offset[key] = max(last_offset.get(key, -1), row.offset)
        prev_hash, expected_seq = row.hash, expected_seq + 1
    for (topic, partition), next_offset in sorted(applied.items()):
        if last_offset.get((topic, partition), -1) < next_offset - 1:
            return VerifyResult(
                checked,
                expected_seq,
                "TRUNCATED",
                f"entries after {expected_seq - 1} are missing: the audit projection applied {topic}[{partition}] "
                f"up to offset {next_offset - 1}, the trail ends at {last_offset.get((topic, partition), 'none')}",
            )
    return VerifyResult(checked)
