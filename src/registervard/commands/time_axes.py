"""The two time axes as command options: `--valid-at` (the moment in the world) and `--known-at` (the moment of the
register's knowledge), each a date (the end of that day, UTC) or an ISO timestamp with a time zone; default now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from projections.replay import parse_as_of
from registervard.console import fail

VALID_AT_HELP = (
    "The moment in the world asked about (effective dates): YYYY-MM-DD (the end of that day, UTC) or an ISO timestamp "
    "with a zone (2025-06-01T10:00:00Z); default now."
)
KNOWN_AT_HELP = "The moment of the register's knowledge: only events recorded by then count (recorded_at). Written as --valid-at; default now."

ValidAt = Annotated[str | None, typer.Option("--valid-at", help=VALID_AT_HELP)]
KnownAt = Annotated[str | None, typer.Option("--known-at", help=KNOWN_AT_HELP)]


def moment_option(name: str, text: str | None) -> datetime | None:
    """The moment an option names (`projections.replay.parse_as_of`), None when not given; a bad one fails with advice
    naming the option (exit 1)."""
    if text is None:
        return None
    try:
        return parse_as_of(text)
    except ValueError as error:
        fail(f"{name}: {error}.")
