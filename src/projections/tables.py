"""The register's tables (SQLAlchemy 2), for SQLite and PostgreSQL alike.

The schema is owned by the Alembic migrations in `projections/migrations/`;
`projections.database.connect()` brings a database to their head. A table
added here (or in another module on the same `Base`) needs a revision too: a
test compares the migrated schema with `Base.metadata` and fails on any difference.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint and index names that are the same on every database, so that migrations can name them."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # SQLAlchemy types `__table__` as FromClause, as a mapping may be of any selectable; every class here maps a
    # Table (`__tablename__`), so say so once rather than cast at each use (the SQLAlchemy maintainers' advice, #9130).
    __table__: ClassVar[Table]


class CustomerRow(Base):
    """The current register: one row per customer, as downstream systems read it.

    A protected identity's name and address columns are empty.
    """

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    identity_number: Mapped[str | None] = mapped_column(String(12))
    given_names: Mapped[str | None] = mapped_column(String(200))
    surname: Mapped[str | None] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(300))
    care_of: Mapped[str | None] = mapped_column(String(200))
    street: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    address_since: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # the wash finds customers by phone number
    email: Mapped[str | None] = mapped_column(String(320))
    civil_status: Mapped[str | None] = mapped_column(String(32))
    deceased_on: Mapped[date | None] = mapped_column(Date)
    emigrated_on: Mapped[date | None] = mapped_column(Date)
    active_consents: Mapped[int] = mapped_column(Integer, default=0)
    nix_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    events_applied: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    immigrated_on: Mapped[date | None] = mapped_column(Date)
    """Day of the latest registration in Sweden after living abroad."""
    deregistered_on: Mapped[date | None] = mapped_column(Date)
    """Day of deregistration for a cause other than death or emigration (status DEREGISTERED)."""
    deregistration_cause: Mapped[str | None] = mapped_column(String(8))
    """The population register's two-character cause of it (events/deregistration_causes.toml)."""
    contact_person_for: Mapped[str | None] = mapped_column(String(100))
    """For a company's contact person: the company's customer id (None once they left)."""
    marketing_opt_outs: Mapped[str | None] = mapped_column(String(64))
    """Channels opted out of direct marketing on, sorted and comma-separated (ANY: all); None when there is none."""


class CustomerStateRow(Base):
    """The fold's full state per customer, so the projection can go on from it. Internal: never served."""

    __tablename__ = "customer_state"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[dict] = mapped_column(JSON)


class AddressHistoryRow(Base):
    """The customer's postal address over time (`events.customer.postal_history`): every address they gave, in the fold's
    order (by effective date; a late report of an older move sorts before), and the population register's as the postal
    rule made them the postal address, each from the day it did. The kinds themselves are in the fold's state.

    No rows while the customer has a protected identity, nor once erased.
    """

    __tablename__ = "address_history"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    """0 for the first address; the highest is the current one."""
    effective_date: Mapped[date] = mapped_column(Date)
    care_of: Mapped[str | None] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(300))
    postal_code: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    event_id: Mapped[str] = mapped_column(String(36))
    """The event that reported the address."""


class NameHistoryRow(Base):
    """Every name the person has had, in the fold's order. No rows while protected, nor once erased."""

    __tablename__ = "name_history"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    """0 for the first name; the highest is the current one."""
    effective_date: Mapped[date] = mapped_column(Date)
    given_names: Mapped[str] = mapped_column(String(200))
    surname: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str] = mapped_column(String(36))


class ConsentRow(Base):
    """The consents in force, one per purpose, channel and company."""

    __tablename__ = "consents"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    company: Mapped[str] = mapped_column(String(300), primary_key=True)
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When it was given (UTC; SQLite hands it back without a time zone)."""
    overrides_nix: Mapped[bool] = mapped_column(Boolean)
    valid_until: Mapped[date | None] = mapped_column(Date)
    lapses_on: Mapped[date | None] = mapped_column(Date)
    """First day it no longer applies, as the fold computed it; None if it never lapses by itself."""
    event_id: Mapped[str] = mapped_column(String(36))
    """The ConsentGiven event."""


class NixStatusRow(Base):
    """What the latest NIX register version read says about each of the customer's phone numbers."""

    __tablename__ = "nix_status"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    registered: Mapped[bool] = mapped_column(Boolean)
    as_of: Mapped[date] = mapped_column(Date)


class CompanyContactRow(Base):
    """A company's contact persons, present and past; the rows belong to the contact person's customer (their
    `contact_person_for`, and the companies they left)."""

    __tablename__ = "company_contacts"

    company_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    """The contact person's customer id."""
    left_on: Mapped[date | None] = mapped_column(Date)
    """The day they left the company; None while they are its contact person."""


class OutboxRow(Base):
    """Customers whose register row changed and has not yet been published downstream.

    Written in the projection's transaction, emptied by the downstream publisher
    once Kafka has acknowledged the customer's new snapshot.
    """

    __tablename__ = "downstream_outbox"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)


class OffsetRow(Base):
    """The next offset to read per partition, written in the same transaction as the rows it produced."""

    __tablename__ = "projection_offsets"

    projection: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


class QuarantineRow(Base):
    """A log record a projection could not open or write: skipped, kept in the log, and reported (`registervard status`)."""

    __tablename__ = "quarantine"

    projection: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    """TAMPERED, UNDECODABLE, UNWRITABLE ...: why it was skipped."""
    reason: Mapped[str] = mapped_column(String(500))
    """What is wrong, never the data."""
    quarantined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProjectionHealthRow(Base):
    """Each projection's heartbeat: when it last made progress or found nothing to do, and how far behind it was."""

    __tablename__ = "projection_health"

    projection: Mapped[str] = mapped_column(String(64), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lag: Mapped[int] = mapped_column(BigInteger)
    """Events in the log the projection had not applied yet, at `beat_at`."""


class IdentityLookupRow(Base):
    """Find a customer by identity number without storing it in clear here: a keyed hash (HMAC-SHA-256) of the 12 digits."""

    __tablename__ = "identity_lookup"

    lookup_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    """Several customers may share a number: the same person registered twice is a finding, not an error."""


class MergeRow(Base):
    """A customer merged into another as a duplicate (CustomersMerged): the dropped id, and where it points now.

    The merged customer has no other register row (no `customers` row, no history): reads of the id follow this
    pointer to the kept customer. A chain (merged into a customer later merged itself) is followed to its end."""

    __tablename__ = "customer_merges"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    """The customer merged away."""
    merged_into: Mapped[str] = mapped_column(String(100), index=True)
    """The customer it was merged into."""


REGISTER_TABLES: tuple[Table, ...] = (
    CustomerRow.__table__,
    CustomerStateRow.__table__,
    AddressHistoryRow.__table__,
    NameHistoryRow.__table__,
    ConsentRow.__table__,
    NixStatusRow.__table__,
    CompanyContactRow.__table__,
    OutboxRow.__table__,
    IdentityLookupRow.__table__,
    MergeRow.__table__,
)
"""Every table the register projection writes, all derived from the event log alone.

Its offsets are the `projection_offsets` rows where projection = 'register'
(that table is shared by every projection, so it is not listed here).
"""
