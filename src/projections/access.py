"""Tables of the read side and of key management that are not derived from the event log.

They are never rebuilt from the log, so they are not among `REGISTER_TABLES`:
API keys, the record of who received a customer's data (for the register
extract and GDPR Art. 19), and the customers' data keys (crypto-shredding).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from projections.tables import Base


class ApiKeyRow(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once, when created."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DisclosureRow(Base):
    """Someone outside the register received a customer's data: who, how, when."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    """Who received it: an API key's name, a downstream topic, an export file's requester."""
    channel: Mapped[str] = mapped_column(String(32))
    """api, downstream-topic, export, extract."""
    purpose: Mapped[str | None] = mapped_column(String(200))
    disclosed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DataKeyRow(Base):
    """A customer's data key, wrapped by the master key. Destroying it erases the customer's sealed data everywhere."""

    __tablename__ = "data_keys"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    """None once destroyed."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
