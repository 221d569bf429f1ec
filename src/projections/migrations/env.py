"""Alembic's environment for the register: the target is `projections.tables.Base.metadata`.

Run programmatically by `projections.migrations.upgrade_to_head` with the
caller's connection in `config.attributes["connection"]`; from the command
line (`alembic -c src/projections/alembic.ini ...`) it connects to
`sqlalchemy.url`, or else to REGISTERVARD_DATABASE_URL (default: the local register).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from projections.migrations import import_models
from projections.tables import Base

import_models()
if context.config.config_file_name and context.config.attributes.get("connection") is None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from events.settings import Settings

    return Settings.from_env().database_url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := context.config.attributes.get("connection")) is not None:
    _run(given)
else:
    engine = create_engine(_url())
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
