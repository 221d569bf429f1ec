"""The register's tables (SQLAlchemy 2), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Integer, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


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
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    civil_status: Mapped[str | None] = mapped_column(String(32))
    deceased_on: Mapped[date | None] = mapped_column(Date)
    emigrated_on: Mapped[date | None] = mapped_column(Date)
    active_consents: Mapped[int] = mapped_column(Integer, default=0)
    nix_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    events_applied: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CustomerStateRow(Base):
    """The fold's full state per customer, so the projection can go on from it. Internal: never served."""

    __tablename__ = "customer_state"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[dict] = mapped_column(JSON)


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


def connect(url: str) -> Engine:
    """An engine for the register, with its tables created if missing."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    return engine


def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers are not blocked while the projection writes
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
