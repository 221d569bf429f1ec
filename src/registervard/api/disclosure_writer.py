"""The record of each disclosure, written by group commit: requests that disclose at the same time share one transaction.

Every response that carries a customer's data is recorded in `disclosures`
before it is sent (GDPR Art. 15 and 19: the register extract lists who received
the data). Writing that row in the request's own transaction costs each request a
write transaction of its own, and concurrent requests queue for the database's
write lock one by one. Here (a leader/follower group commit) a request adds its
rows to the pending ones; if no commit is under way it becomes the leader: it
takes every pending row, its own and those of requests that came meanwhile,
inserts them in one transaction, commits once, and wakes their requests. A
request that comes while a commit is under way waits; when that commit ends,
its rows are either in it or it leads the next one. Alone, a request commits
its own rows in its own thread with no hand-over; under concurrency the commits
are shared.

No row waits in memory without its request waiting for it: durability is as
before (nothing is sent that is not recorded, and a crash can lose no
disclosure a client received; at worst a recorded disclosure whose response
never went out). `close` waits for the commit under way and the requests
waiting on it, so shutdown loses nothing either. A chosen trade-off against
answering first and writing later: a crash would lose disclosures already
made, which the register extract (GDPR Art. 15) must list.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from projections.access import DisclosureRow

log = structlog.get_logger("registervard.api")

MAX_ROWS_PER_COMMIT = 5000
"""Rows one transaction takes at most; a larger backlog is written in several."""

Rows = list[dict[str, Any]]
_INSERT = insert(DisclosureRow)  # built once: the engine's compiled cache keys on it


def disclosure_rows(recipient: str, customer_ids: Iterable[str], purpose: str, channel: str = "api") -> Rows:
    """One `disclosures` row per customer (each once), disclosed now to `recipient` through `channel` for `purpose`."""
    now = datetime.now(UTC)
    return [
        {"customer_id": c, "recipient": recipient, "channel": channel, "purpose": purpose, "disclosed_at": now} for c in dict.fromkeys(customer_ids)
    ]


@dataclass(eq=False)
class _Request:
    rows: Rows
    done: bool = False
    error: BaseException | None = None


class DisclosureWriter:
    """Group commit of the disclosure rows recorded at the same time (see the module's docstring)."""

    def __init__(self, engine: Callable[[], Engine], max_rows: int = MAX_ROWS_PER_COMMIT) -> None:
        self._engine = engine
        self._max_rows = max_rows
        self._pending: list[_Request] = []
        self._committing = False
        self._changed = threading.Condition()

    def record(self, rows: Rows) -> None:
        """Write `rows` and return once they are committed; raises (and the caller must not disclose) if they could not be."""
        if not rows:
            return
        mine = _Request(rows)
        with self._changed:
            self._pending.append(mine)
            while not mine.done and self._committing:
                self._changed.wait()
            if mine.done:
                if mine.error is not None:
                    raise mine.error
                return
            self._committing = True  # the leader: commit what is pending (mine first in line or among them)
            batch = self._take()
        while True:
            error = self._commit(batch)
            with self._changed:
                for request in batch:
                    request.done, request.error = True, error
                if mine.done or not self._pending:
                    self._committing = False
                    self._changed.notify_all()
                    break
                batch = self._take()  # mine is still pending behind a full batch
        if mine.error is not None:
            raise mine.error

    def close(self) -> None:
        """Wait until the commit under way, and every request waiting on it, is written."""
        with self._changed:
            while self._committing or self._pending:
                self._changed.wait()

    def _take(self) -> list[_Request]:
        """Pending requests up to `max_rows` rows (at least one), oldest first; called holding the lock."""
        count, taken = 0, 0
        for request in self._pending:
            if taken and count + len(request.rows) > self._max_rows:
                break
            count += len(request.rows)
            taken += 1
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        return batch

    def _commit(self, batch: list[_Request]) -> BaseException | None:
        try:
            with self._engine().begin() as connection:
                connection.execute(_INSERT, [row for request in batch for row in request.rows])
        except Exception as error:
            log.error("disclosures_not_recorded", requests=len(batch), error_type=type(error).__name__)
            return error
        return None
