"""`registervard demo generate`: a demo register's life as a JSON Lines file (registervard/demo.py writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from registervard.console import console
from registervard.demo import demo_events


def demo_generate(
    customers: Annotated[int, typer.Option(help="How many customers.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 7,
    output: Annotated[Path, typer.Option(help="Where to write the JSON Lines file.")] = Path("demo-events.jsonl"),
) -> None:
    """Write a demo register's life as JSON Lines: registrations, moves, marriages, deaths, consents, NIX."""
    lines = demo_events(customers=customers, seed=seed)
    output.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    console.print(f"Wrote {len(lines)} events for {customers} customers to {output}")
