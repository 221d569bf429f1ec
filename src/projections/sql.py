"""Small SQL helpers shared by the projections, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from projections.tables import Base


def upsert(session: Session, table: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert rows, replacing those with the same primary key."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    # Typed per dialect: left to itself mypy joins the two into core `insert`, whose Insert has no ON CONFLICT.
    inserts: dict[str, Callable[[type[Base]], SqliteInsert | PostgresqlInsert]] = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
    statement = inserts[dialect](table)
    keys = [column.name for column in table.__table__.primary_key]
    replaced = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    if replaced:
        session.execute(statement.on_conflict_do_update(index_elements=keys, set_=replaced), rows)
    else:
        session.execute(statement.on_conflict_do_nothing(index_elements=keys), rows)
