"""`registervard publish`: validate a JSON Lines file of events and publish it to the intake topic (events/publish.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from events.publish import PublishInterrupted, publish_file
from registervard import exit_codes
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail, progress, run

REJECTED_EXIT_CODE = exit_codes.SOME_REFUSED
"""Exit status when a line was rejected: done, but some input was refused (registervard.exit_codes)."""


@advise_on_failure
def publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines file, one event per line.")],
    all_or_nothing: Annotated[bool, typer.Option(help="Publish nothing if any line is invalid.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Only validate FILE and report its bad lines: publish nothing, contact no broker.")] = False,
) -> None:
    """Validate the events in FILE and publish them to the intake topic.

    Every bad line is named on standard error, and the rest published; the command then exits 4 (done, but some input
    was refused). A Swedish postal code may be written "221 00", "S-221 00" or "SE-221 00": it is read as 22100."""
    settings = bootstrap().settings
    interrupted: PublishInterrupted | None = None
    with progress() as bar:
        task = bar.add_task("Checking" if check else "Publishing", total=None)
        try:
            report = run(
                publish_file(
                    file,
                    settings,
                    all_or_nothing=all_or_nothing,
                    check_only=check,
                    on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            )
        except PublishInterrupted as stopped:
            interrupted, report = stopped, stopped.report
    for line_number, error in report.rejected:  # plain text: a field name may come from the file
        errors.print(f"line {line_number}: {error} [{error.code}]", markup=False, highlight=False, soft_wrap=True)
    if interrupted is not None:
        fail(
            f"{interrupted} (Kafka at {settings.kafka}). Send the file again when the broker is back: "
            "events already published keep their ids and take effect once."
        )
    if check:
        console.print(f"{report.valid} event(s) valid, {len(report.rejected)} line(s) rejected (nothing published: --check).")
    else:
        held_back = " (nothing published: --all-or-nothing)" if all_or_nothing and report.rejected else ""
        console.print(f"{report.accepted} event(s) published, {len(report.rejected)} line(s) rejected{held_back}.")
    if report.rejected:
        raise typer.Exit(REJECTED_EXIT_CODE)
