"""The default key store: each customer's data key in `data_keys`, wrapped by the master key.

* **Master key**: `REGISTERVARD_MASTER_KEY`, base64 of 32 bytes. Without it a
  fixed development key is used and a warning is logged when the store starts:
  never run production like that.
* **Wrapping**: AES key wrap (RFC 3394) of the 32-byte data key with the master
  key; `wrapped_key` holds the 40 wrapped bytes. Destroying sets it to NULL (and
  `destroyed_at`); the row stays so the key is never created again for that
  customer.
* **Where**: `Settings.key_store_url`, the register database unless
  `REGISTERVARD_KEYSTORE_URL` says otherwise. The worker, the projections,
  replay, rebuild and the CLI must all use the same one.
* **Cache**: unwrapped keys are kept in memory (bounded, least recently used
  first out) for `ttl` seconds, so a key destroyed by the worker is forgotten by
  every other process within that time; readers also forget a customer's key
  as soon as they read their CustomerErased (`events.sealing.unseal_all`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime

import structlog
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from events.sealing import DataKey
from events.settings import Settings
from projections.access import DataKeyRow
from projections.database import connect

log = structlog.get_logger(__name__)

MASTER_KEY_ENV = "REGISTERVARD_MASTER_KEY"
_DEVELOPMENT_MASTER_KEY = hashlib.sha256(b"registervard development master key: not for production").digest()
_warned = False


class MasterKeyError(RuntimeError):
    """REGISTERVARD_MASTER_KEY is not base64 of 32 bytes."""


def master_key(configured: str | None) -> bytes:
    """The master key from its base64 setting (`Settings.master_key`), or the development key (with a warning, once)."""
    global _warned
    if not configured:
        if not _warned:
            log.warning("development_master_key", reason=f"{MASTER_KEY_ENV} is not set; customers' data keys are wrapped with a fixed development key")
            _warned = True
        return _DEVELOPMENT_MASTER_KEY
    try:
        key = base64.b64decode(configured, validate=True)
    except binascii.Error:
        raise MasterKeyError(f"{MASTER_KEY_ENV} is not valid base64") from None
    if len(key) != 32:
        raise MasterKeyError(f"{MASTER_KEY_ENV} must be 32 bytes (base64), not {len(key)}")
    return key


class DatabaseKeyStore:
    """Customers' data keys in the `data_keys` table, wrapped by the master key, with a bounded in-memory cache."""

    def __init__(self, engine: Engine, *, master: bytes | None = None, cache_size: int = 100_000, ttl: float = 30.0) -> None:
        self.engine = engine
        self.master = master if master is not None else master_key(None)
        self.cache_size = cache_size
        self.ttl = ttl
        self._cache: OrderedDict[str, tuple[float, DataKey | None]] = OrderedDict()
        self._lock = threading.Lock()

    # --- the KeyStore protocol ---

    def key_for(self, customer_id: str, create: bool = False) -> DataKey | None:
        cached = self._cached(customer_id)
        if cached is not False:
            return cached  # type: ignore[return-value]
        with Session(self.engine) as session:
            row = session.get(DataKeyRow, customer_id)
            if row is None and create:
                return self._create(customer_id)
        if row is None:
            return None
        key = self._unwrap(row)
        self._remember(customer_id, key)
        return key

    def destroy(self, customer_id: str) -> bool:
        with Session(self.engine) as session, session.begin():
            row = session.get(DataKeyRow, customer_id)
            now = datetime.now(UTC)
            if row is None:  # never had one: make sure none is ever created
                session.add(DataKeyRow(customer_id=customer_id, key_id=os.urandom(16).hex(), wrapped_key=None, created_at=now, destroyed_at=now))
                existed = False
            else:
                existed = row.wrapped_key is not None
                if existed:
                    session.execute(
                        update(DataKeyRow).where(DataKeyRow.customer_id == customer_id).values(wrapped_key=None, destroyed_at=now)
                    )
        self._remember(customer_id, None)
        return existed

    def is_destroyed(self, customer_id: str) -> bool:
        with Session(self.engine) as session:
            row = session.get(DataKeyRow, customer_id)
        return row is not None and row.wrapped_key is None

    # --- more ---

    def warm(self, customer_ids: Iterable[str]) -> None:
        """Read the keys of these customers into the cache, a few queries for all of them (a reader's batch)."""
        self.ensure(customer_ids, create=False)

    def ensure(self, customer_ids: Iterable[str], create: bool = True) -> None:
        """Cache these customers' keys; with `create`, make keys for those that have none, in one transaction (a batch of the worker)."""
        missing = [c for c in dict.fromkeys(customer_ids) if self._cached(c) is False]
        if not missing:
            return
        rows: dict[str, DataKeyRow] = {}
        with Session(self.engine) as session:
            for start in range(0, len(missing), 500):
                part = missing[start : start + 500]
                rows.update({r.customer_id: r for r in session.scalars(select(DataKeyRow).where(DataKeyRow.customer_id.in_(part)))})
        for customer_id, row in rows.items():
            self._remember(customer_id, self._unwrap(row))
        new = [c for c in missing if c not in rows]
        if not new or not create:
            return
        now = datetime.now(UTC)
        keys = {c: DataKey(os.urandom(16).hex(), os.urandom(32)) for c in new}
        try:
            with Session(self.engine) as session, session.begin():
                session.execute(
                    insert(DataKeyRow),
                    [dict(customer_id=c, key_id=k.key_id, wrapped_key=aes_key_wrap(self.master, k.key), created_at=now) for c, k in keys.items()],
                )
        except IntegrityError:  # another process created some meanwhile: fall back to one at a time
            for c in new:
                self.key_for(c, create=True)
            return
        for c, k in keys.items():
            self._remember(c, k)

    def forget(self, customer_id: str) -> None:
        """Drop the customer's key from the cache (it may have been destroyed elsewhere)."""
        with self._lock:
            self._cache.pop(customer_id, None)

    def _create(self, customer_id: str) -> DataKey | None:
        key = DataKey(os.urandom(16).hex(), os.urandom(32))
        try:
            with Session(self.engine) as session, session.begin():
                session.add(
                    DataKeyRow(customer_id=customer_id, key_id=key.key_id, wrapped_key=aes_key_wrap(self.master, key.key), created_at=datetime.now(UTC))
                )
        except IntegrityError:
            return self.key_for(customer_id, create=False)
        self._remember(customer_id, key)
        return key

    def _unwrap(self, row: DataKeyRow) -> DataKey | None:
        if row.wrapped_key is None:
            return None
        return DataKey(row.key_id, aes_key_unwrap(self.master, row.wrapped_key))

    def _cached(self, customer_id: str) -> DataKey | bool | None:
        """The cached key (None: destroyed), or False when not cached or expired."""
        with self._lock:
            entry = self._cache.get(customer_id)
            if entry is None:
                return False
            at, key = entry
            if key is not None and time.monotonic() - at > self.ttl:
                del self._cache[customer_id]
                return False
            self._cache.move_to_end(customer_id)
            return key

    def _remember(self, customer_id: str, key: DataKey | None) -> None:
        with self._lock:
            self._cache[customer_id] = (time.monotonic(), key)
            self._cache.move_to_end(customer_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)


_stores: dict[str, DatabaseKeyStore] = {}
_stores_lock = threading.Lock()


def key_store(settings: Settings) -> DatabaseKeyStore:
    """The process's key store for these settings (one per database URL)."""
    url = settings.key_store_url
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = DatabaseKeyStore(connect(url), master=master_key(settings.master_key))
        return store


def key_store_for_engine(engine: Engine) -> DatabaseKeyStore:
    """A key store on an engine already open (the register's, when no settings are at hand)."""
    url = engine.url.render_as_string(hide_password=False)
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = DatabaseKeyStore(engine)
        return store
