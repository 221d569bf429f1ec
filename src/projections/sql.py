"""Small SQL helpers shared by the projections, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, Insert, Table
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from projections.tables import Base


def upsert(db: Session | Connection, table: type[Base] | Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, replacing those with the same primary key: one multi-row statement (executemany), however many rows.

    The statement is built on the Core table even when given a mapped class: the ORM's bulk path would add
    per-row bookkeeping that the projections, which never read these rows back as objects, do not need.
    """
    if not rows:
        return
    target = table if isinstance(table, Table) else table.__table__
    dialect = db.get_bind().dialect.name if isinstance(db, Session) else db.dialect.name
    # Typed per dialect: left to itself mypy joins the two into core `insert`, whose Insert has no ON CONFLICT.
    inserts: dict[str, Callable[[Table], SqliteInsert | PostgresqlInsert]] = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
    statement = inserts[dialect](target)
    keys = [column.name for column in target.primary_key]
    replaced = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    if replaced:
        execute_rows(db, statement.on_conflict_do_update(index_elements=keys, set_=replaced), rows)
    else:
        execute_rows(db, statement.on_conflict_do_nothing(index_elements=keys), rows)


def execute_rows(db: Session | Connection, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """Execute an INSERT (or upsert) of one table for many rows, in one executemany.

    On SQLite the statement is compiled once and the driver's executemany gets
    the rows as SQLAlchemy would bind them (each column type's own bind
    processor), without SQLAlchemy's per-row bookkeeping, which cost more than
    SQLite's writing. Elsewhere SQLAlchemy executes it (on PostgreSQL as
    multi-row INSERTs, "insertmanyvalues").
    """
    if not rows:
        return
    connection = db.connection() if isinstance(db, Session) else db
    dialect = connection.dialect
    table = getattr(statement, "table", None)
    if dialect.name != "sqlite" or not isinstance(table, Table):
        connection.execute(statement, rows)
        return
    names = list(rows[0])
    compiled = statement.compile(dialect=dialect, column_keys=names)
    order = compiled.positiontup or []
    if set(order) - set(names):  # a parameter the rows do not give (not made by this module): let SQLAlchemy bind it
        connection.execute(statement, rows)
        return
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order]
    steps = list(zip(order, processors, strict=True))
    connection.exec_driver_sql(
        str(compiled), [tuple(process(row[name]) if process else row[name] for name, process in steps) for row in rows]
    )


def insert_fresh(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows into a table that holds none of them yet: COPY on PostgreSQL (psycopg), else one executemany INSERT.

    For the rebuild's fresh copies, where COPY is several times faster than
    INSERT; it runs on the connection's own transaction. Values are written as
    SQLAlchemy would bind them: JSON columns as JSON text, the rest as they are.
    """
    if not rows:
        return
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        execute_rows(connection, table.insert(), rows)
        return
    columns = [table.c[name] for name in rows[0]]
    as_json = [isinstance(column.type, JSON) for column in columns]
    preparer = connection.dialect.identifier_preparer
    names = ", ".join(preparer.quote(column.name) for column in columns)
    with driver.cursor() as cursor, cursor.copy(f"COPY {preparer.format_table(table)} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([json.dumps(row[c.name]) if j and row[c.name] is not None else row[c.name] for c, j in zip(columns, as_json, strict=True)])
