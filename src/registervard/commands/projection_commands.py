"""`registervard projections ...`: maintenance of the read models."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import TaskID

from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, progress, run

projections_app = typer.Typer(help="Maintain the projections (read models).", no_args_is_help=True)

PHASES = {
    "read": "Folding the log (events)",
    "write": "Writing fresh tables (customers)",
    "catch-up": "Catching up (events)",
    "swap": "Swapping (events under lock)",
}
"""The progress bar's label of each phase of a rebuild."""


@projections_app.command("rebuild")
@advise_on_failure
def rebuild(as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Rebuild the register from the event log into fresh tables and swap them in when caught up.

    The old tables keep serving reads, and `registervard project` may keep
    running: the swap takes the write lock, brings the rebuild up to the live
    projection's offsets, renames the tables and stores the offsets in one transaction.
    """
    # Imported here, not at the top: it imports the runner, whose metrics register in the default Prometheus
    # registry, which the worker's and the projections' processes serve (see commands/service.py).
    from projections.rebuild import rebuild_register

    services = bootstrap()
    with progress() as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        report = run(rebuild_register(services.settings, keys=services.keys, engine=services.engine, on_progress=on_progress))
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
