"""Riding out a database or broker that is down for a while: retry with backoff, then give up loudly.

The worker and the projections call their database and Kafka through
`with_retry`. A transient fault (the server restarting, a connection refused,
a lock) is retried after 0.5 s, 1 s, 2 s ... up to 5 s between attempts; once
`budget` seconds have passed without success, `GaveUp` is raised and the
process exits non-zero so that its supervisor starts it again. Any other error
is not retried: it is a bug or bad data, and waiting would not mend it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = structlog.get_logger(__name__)
T = TypeVar("T")

FIRST_DELAY = 0.5
MAX_DELAY = 5.0


class GaveUp(RuntimeError):
    """A transient fault lasted longer than the retry budget."""

    def __init__(self, what: str, seconds: float, cause: BaseException) -> None:
        self.what = what
        super().__init__(f"{what}: still failing after {seconds:.0f} s ({type(cause).__name__}); giving up")


def is_transient(error: BaseException) -> bool:
    """Whether `error` says a server is unreachable or busy, rather than that something is wrong with the data."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError, ConnectionError))


async def with_retry(attempt: Callable[[], Awaitable[T]], *, what: str, budget: float) -> T:
    """The result of `attempt()`, calling it again after transient faults until `budget` seconds have passed."""
    started = time.monotonic()
    delay = FIRST_DELAY
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except Exception as error:
            if not is_transient(error):
                raise
            waited = time.monotonic() - started
            if waited + delay > budget:
                raise GaveUp(what, waited, error) from error
            log.warning("retrying", what=what, reason=type(error).__name__, attempt=tries, next_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)


async def in_thread_with_retry(function: Callable[..., T], *args: object, what: str, budget: float) -> T:
    """`function(*args)` in a worker thread (it blocks on a database), retried like `with_retry`."""
    return await with_retry(lambda: asyncio.to_thread(function, *args), what=what, budget=budget)
