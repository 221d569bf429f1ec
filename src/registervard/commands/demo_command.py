"""`registervard demo generate`: a demo register's life as a JSON Lines file, or a demo register to import as CSV
(registervard/demo.py writes both)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from registervard.console import console
from registervard.demo import MAX_IMPORT_ROWS, demo_events, write_import_csv


def demo_generate(
    customers: Annotated[int, typer.Option(help="How many customers.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 7,
    output: Annotated[Path, typer.Option(help="Where to write the JSON Lines file.")] = Path("demo-events.jsonl"),
    csv: Annotated[
        Path | None,
        typer.Option("--csv", dir_okay=False, help="Instead: write a register of CUSTOMERS rows to import (`registervard import FILE`), as ;-separated CSV."),
    ] = None,
) -> None:
    """Write a demo register's life as JSON Lines: registrations, moves, marriages, deaths, consents, NIX.

    With --csv, write instead a customer register as `registervard import` reads it, one row per customer, each with
    its own customer id and identity number; written row by row, so a million customers take little memory.
    """
    if csv is not None:
        if customers > MAX_IMPORT_ROWS:
            raise typer.BadParameter(f"at most {MAX_IMPORT_ROWS:,} with --csv (every row a distinct person or company)", param_hint="--customers")
        rows = write_import_csv(csv, customers=customers, seed=seed)
        console.print(f"Wrote {rows} customers to {csv}")
        return
    lines = demo_events(customers=customers, seed=seed)
    output.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    console.print(f"Wrote {len(lines)} events for {customers} customers to {output}")
