"""Connecting to the register database: an engine whose schema is migrated to the latest revision.

Apart from `tables.py` (what the tables are) and `migrations/` (how a database
comes to have them), so that neither of those imports the other's importer:
the migrations' env.py reads `tables.Base`, and this module runs the migrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from projections.migrations import upgrade_to_head


def connect(url: str) -> Engine:
    """An engine for the register, with its schema migrated to the latest revision (a no-op when it is)."""
    # hide_parameters: errors never print the values (personal data); pre_ping: a restarted database is reconnected to.
    engine = create_engine(url, hide_parameters=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    upgrade_to_head(engine)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers are not blocked while the projection writes
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
