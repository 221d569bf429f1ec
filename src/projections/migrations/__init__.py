"""The register's schema migrations (Alembic), and bringing a database to their head.

`projections.database.connect()` calls `upgrade_to_head(engine)` on every
connect: when the database is at `HEAD` that is one query, and Alembic is not
even imported; otherwise, under a lock (a PostgreSQL advisory lock, a lock file
beside a SQLite file), the revisions still missing run in one transaction on
the engine's own connection.

How to add a revision: README.md in this folder.
"""

from __future__ import annotations

import fcntl
import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import exc, inspect
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).resolve().parent

HEAD = "0008"
"""The latest revision. A new revision sets it (a test holds it to the scripts' head), so that a
database already at head is recognised with one query, without loading Alembic."""

_PG_LOCK_KEY = 0x52565F4D4947  # "RV_MIG": one advisory lock for every Registervård migration


class UnversionedDatabase(RuntimeError):
    """The database has register tables but no migration version: it was made before migrations existed."""


def config() -> Config:
    """Alembic's configuration for the register, without an ini file."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def import_models() -> list[str]:
    """Import every module of the `projections` package, so that `Base.metadata` holds every table defined on it.

    env.py (so autogenerate sees them) and the drift test call this; a table on
    `Base` anywhere in `projections` therefore needs a revision, or the drift
    test fails. Tables on `Base` outside this package are not seen: keep them here.
    """
    import projections

    names = [f"projections.{m.name}" for m in pkgutil.iter_modules(projections.__path__) if m.name != "migrations"]
    for name in names:
        importlib.import_module(name)
    return names


def script_heads() -> frozenset[str]:
    """The head revision(s) of the migration scripts, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(config()).get_heads())


def current_revisions(connection: Connection) -> frozenset[str]:
    """The revision(s) the database is at; empty for a database without `alembic_version`."""
    from alembic.runtime.migration import MigrationContext

    return frozenset(MigrationContext.configure(connection).get_current_heads())


def at_head(engine: Engine) -> bool:
    """Whether the database is at `HEAD`: one query, no Alembic."""
    with engine.connect() as connection:
        try:
            versions = {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
        except exc.DBAPIError:  # no alembic_version table: an empty or pre-migration database
            return False
    return versions == {HEAD}


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database's schema to the latest revision; quick and harmless when it is there already."""
    if at_head(engine):
        return
    with _lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        current = current_revisions(connection)
        if current == {HEAD}:
            return  # another process migrated it while we waited for the lock
        if not current:
            _refuse_unversioned(connection)
        from alembic import command

        cfg = config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _refuse_unversioned(connection: Connection) -> None:
    existing = set(inspect(connection).get_table_names())
    if existing & {"customers", "customer_state", "projection_offsets"}:
        raise UnversionedDatabase(
            f"{connection.engine.url.render_as_string(hide_password=True)} holds register tables but no alembic_version: "
            "it was created before migrations. The register is derived from the event log, so delete this database "
            "(or point REGISTERVARD_DATABASE_URL at a new one) and run `registervard project` to rebuild it."
        )


@contextmanager
def _lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (PostgreSQL uses an advisory lock instead)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
