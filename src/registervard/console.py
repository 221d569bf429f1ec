"""What every command prints with, and how it fails: the two consoles, `fail`, `progress`, `run`, `advise_on_failure`.

Commands import these from here (never from `registervard.cli`, which only
assembles the app), so that a failure reads the same whichever command met it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import wraps
from typing import Any, NoReturn, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError

from events.retry import GaveUp
from events.settings import Settings
from registervard import exit_codes

T = TypeVar("T")

console = Console()
"""Standard output: the answer a command gives."""
errors = Console(stderr=True)
"""Standard error: errors, advice, notes and progress bars, so that standard output stays the answer alone."""


def fail(message: str) -> NoReturn:
    """Print `message` as an error on standard error and exit with `exit_codes.ERROR`."""
    errors.print(f"[red]Error:[/red] {message}")
    raise typer.Exit(exit_codes.ERROR)


def progress() -> Progress:
    """A progress bar on standard error: description, bar, done of total, time elapsed."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=errors)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a new event loop, as a command's body does."""
    return asyncio.run(coroutine)


def parse_moment(at: str | None) -> datetime:
    """The moment an `--at` option names (ISO 8601 with a time zone), or now to the second; a bad one fails with advice."""
    if at is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        fail(f"--at {at!r} is not an ISO 8601 time, e.g. 2025-06-01T10:00:00Z.")
    if moment.tzinfo is None:
        fail(f"--at {at!r} needs a time zone, e.g. 2025-06-01T10:00:00Z or +02:00.")
    return moment


def advise_on_failure(command: Callable[..., T]) -> Callable[..., T]:
    """Turn the failures a user can fix (Kafka or the register database unreachable, retries given up) into advice and exit 1.

    Every command that touches Kafka or the database is decorated with it, so
    none of them shows a traceback for a broker or database that is down.
    """

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        settings = Settings.from_env()
        try:
            return command(*args, **kwargs)
        except KafkaConnectionError:
            fail(f"Cannot reach Kafka at {settings.kafka}. Start it with `bash infra/kafka.sh start`, or point REGISTERVARD_KAFKA at your broker.")
        except KafkaError as error:
            fail(f"Kafka refused the request ({type(error).__name__}). Check the broker at {settings.kafka} and its log.")
        except OperationalError as error:
            fail(f"Cannot use the register database ({error.orig.__class__.__name__}). Check REGISTERVARD_DATABASE_URL.")
        except GaveUp as error:
            fail(f"{error}. Check that Kafka ({settings.kafka}) and the register database are up; a supervisor may start this again.")

    return wrapper
