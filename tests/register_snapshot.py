"""The register's content as comparable data: what a test holds a rebuild (or a recovery) against."""

from __future__ import annotations

import json

import sqlalchemy
from sqlalchemy import select

from projections.rebuild import register_tables


def snapshot(database_url: str) -> dict[str, list[tuple]]:
    """Every register table's rows, without updated_at, in primary key order."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            result = {}
            for table in register_tables():
                columns = [c for c in table.columns if c.name != "updated_at"]
                rows = connection.execute(select(*columns).order_by(*table.primary_key.columns))
                result[table.name] = [tuple(json.dumps(v, sort_keys=True, default=str) for v in row) for row in rows]
            return result
    finally:
        engine.dispose()
