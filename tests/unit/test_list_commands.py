"""Every command that lists things answers JSON too, and the tables never cut what an operator types back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table
from typer.main import get_command

from registervard.cli import app
from registervard.listings import folded, whole

LISTING = {"list", "find", "due", "quarantine", "contacts"}
"""Names of the commands that list rows."""


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of the app (typer's own click: a group is what has `commands`), by its path of names."""
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from commands(command, (*path, name))
    else:
        yield path, group


def test_every_list_command_has_json():
    listing = {path: command for path, command in commands(get_command(app)) if path[-1] in LISTING}
    assert {("deadletters", "list"), ("apikeys", "list"), ("customer", "find"), ("retention", "due"), ("quarantine",)} <= set(listing)
    without = [" ".join(path) for path, command in listing.items() if not any("--json" in p.opts for p in command.params)]
    assert without == []


def test_a_whole_column_keeps_its_values_whole_at_any_width_and_a_folded_one_wraps():
    ids = ["0123456789abcdef", "fedcba9876543210"]
    table = Table(whole("key id", ids), folded("name"), whole("role", ["customer_service"]), folded("created"), folded("revoked"))
    for key_id in ids:
        table.add_row(key_id, "the billing system of a company with a long name", "customer_service", "2025-01-01 10:00", "2025-01-02 11:00")
    console = Console(width=60, record=True)
    console.print(table)
    text = console.export_text()
    assert "…" not in text and all(key_id in text.split() for key_id in ids) and "customer_service" in text.split()
