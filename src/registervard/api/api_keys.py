"""API keys: created once and shown once, stored only as their SHA-256, revocable.

A key is `rv_` followed by 43 URL-safe characters (32 random bytes). The
database holds its SHA-256 (hex) and a key id; logs and listings use the key
id, never the key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from projections.access import ApiKeyRow
from registervard.api.roles import ROLES

KEY_PREFIX = "rv_"


@dataclass(frozen=True)
class ApiKey:
    """A key's public facts: never the key itself."""

    key_id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def key_hash(key: str) -> str:
    """SHA-256 (hex) of a key, as stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engine: Engine, name: str, role: str) -> tuple[ApiKey, str]:
    """Store a new key for `name` with `role`; returns its facts and the key, which is not stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("the key's name must be 1 to 200 characters (it names the recipient in the disclosure record)")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        key_id=secrets.token_hex(8), name=name, role=role, key_hash=key_hash(key), created_at=datetime.now(UTC), revoked_at=None
    )
    with Session(engine) as session, session.begin():
        session.add(row)
        session.flush()
        facts = _facts(row)
    return facts, key


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    with Session(engine) as session:
        return [_facts(row) for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.key_id))]


def revoke_key(engine: Engine, key_id: str) -> ApiKey | None:
    """Revoke a key (at once: every request looks its key up). None if there is no such key; revoking twice keeps the first time."""
    with Session(engine) as session, session.begin():
        row = session.get(ApiKeyRow, key_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        session.flush()
        return _facts(row)


_BY_HASH = select(ApiKeyRow.key_id, ApiKeyRow.name, ApiKeyRow.role, ApiKeyRow.created_at, ApiKeyRow.revoked_at).where(
    ApiKeyRow.key_hash == bindparam("key_hash")
)
"""Built once, columns not ORM objects: every API request runs it (a fifth of the cost of an ORM query on a Session)."""


def find_key(session: Session | Connection, key: str) -> ApiKey | None:
    """The stored key matching `key`, revoked or not; None if it is unknown."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = session.execute(_BY_HASH, {"key_hash": key_hash(key)}).first()
    return _facts(row) if row is not None else None


def _facts(row: Any) -> ApiKey:
    """An ApiKeyRow, or a row of its columns."""
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    revoked = row.revoked_at.replace(tzinfo=UTC) if row.revoked_at is not None and row.revoked_at.tzinfo is None else row.revoked_at
    return ApiKey(key_id=row.key_id, name=row.name, role=row.role, created_at=created, revoked_at=revoked)
