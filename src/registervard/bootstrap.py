"""What the entry points need from their settings, built once per process and handed down (after Cosmic Python's bootstrap).

A command asks `bootstrap()` for the register's engine and the customers' key
store instead of connecting by itself: the register database is connected, and
migrated to head, once per process however many times a command reads it, and
the key store is the one `projections.data_keys.key_store` keeps for these
settings. Both are built on first use, so a command that only talks to Kafka
(or only checks a file) never opens the database.

The CLI calls `close()` when a command ends; a process that never calls it
leaves the engine to the interpreter's exit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from events.sealing import BatchKeyStore
from events.settings import Settings
from projections.data_keys import key_store
from projections.database import connect


@dataclass
class Services:
    """An entry point's settings, and the engine and key store built from them on first use."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)
    _keys: BatchKeyStore | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def engine(self) -> Engine:
        """The register database (`settings.database_url`), connected and migrated to head on first use."""
        with self._lock:  # the API's threads may ask at once: connect (and migrate) once
            if self._engine is None:
                self._engine = connect(self.settings.database_url)
            return self._engine

    @property
    def keys(self) -> BatchKeyStore:
        """The customers' data keys (`settings.key_store_url`, wrapped with the master key), opened on first use."""
        with self._lock:
            if self._keys is None:
                self._keys = key_store(self.settings)
            return self._keys

    def close(self) -> None:
        """Return the engine's pooled connections (the key store belongs to `projections.data_keys`, which keeps it)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


_built: dict[Settings, Services] = {}
_built_lock = threading.Lock()


def bootstrap(settings: Settings | None = None) -> Services:
    """The process's services for `settings` (default: `Settings.from_env()`); the same object on every call with the same settings."""
    settings = Settings.from_env() if settings is None else settings
    with _built_lock:
        services = _built.get(settings)
        if services is None:
            services = _built[settings] = Services(settings)
        return services


def close() -> None:
    """Close every engine built here and forget the services, so that the next `bootstrap()` builds afresh.

    The CLI calls this when a command ends; tests that run several commands in
    one process with different settings rely on it too.
    """
    with _built_lock:
        built = list(_built.values())
        _built.clear()
    for services in built:
        services.close()
