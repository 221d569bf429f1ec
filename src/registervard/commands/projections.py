"""`registervard projections ...`: maintenance of the read models."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from events.settings import Settings

projections_app = typer.Typer(help="Maintain the projections (read models).", no_args_is_help=True)


@projections_app.command("rebuild")
def rebuild(as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Rebuild the register from the event log into fresh tables and swap them in when caught up.

    The old tables keep serving reads, and `registervard project` may keep
    running: the swap takes the write lock, brings the rebuild up to the live
    projection's offsets, renames the tables and stores the offsets in one transaction.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from projections.rebuild import rebuild_register
    from registervard.cli import _run, advise_on_failure, console, errors

    labels = {"read": "Folding the log (events)", "write": "Writing fresh tables (customers)", "catch-up": "Catching up (events)", "swap": "Swapping (events under lock)"}

    @advise_on_failure
    def run() -> None:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=errors) as progress:
            tasks: dict[str, int] = {}

            def on_progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(labels.get(phase, phase), total=total)
                progress.update(tasks[phase], completed=done, total=total)

            report = _run(rebuild_register(Settings.from_env(), on_progress=on_progress))
        if as_json:
            console.print_json(json.dumps({
                "events": report.events,
                "customers": report.customers,
                "for_downstream": report.for_downstream,
                "caught_up_under_lock": report.caught_up_under_lock,
                "seconds": report.seconds,
            }))
            return
        console.print(
            f"Register rebuilt: {report.customers} customer(s) from {report.events} event(s); "
            f"{report.caught_up_under_lock} event(s) caught up under the lock; "
            f"{report.for_downstream} customer(s) waiting for downstream."
        )

    run()
