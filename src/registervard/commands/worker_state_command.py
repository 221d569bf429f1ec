"""`registervard worker-state ...`: the table state of a worker with REGISTERVARD_WORKER_STATE=table."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import TaskID

from events.event_log import Quarantined
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail, progress, run

app = typer.Typer(help="The worker's state tables (REGISTERVARD_WORKER_STATE=table).", no_args_is_help=True)


@app.command("rebuild")
@advise_on_failure
def rebuild(
    partition: Annotated[
        list[int] | None, typer.Option("--partition", help="Rebuild only this partition of the intake topic (repeatable); default: every one.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Rebuild the worker's table state from the event log, while no worker runs.

    Folds the log's records of the partitions, appends the consequences the log
    lacks (as a worker that folds the log at start does), replaces those
    partitions of both changelog topics with the rebuilt states (tombstones for
    what the rebuild has not), and deletes this machine's local stores of them,
    so that the next `registervard worker` recovers them from the changelogs.
    Run it after a change to the stored state's version, or when the worker
    stops saying it cannot read the stored customer state.
    """
    # Imported here, not at the top: it imports the worker's app, whose metrics register in the default Prometheus
    # registry, which the worker's and the projections' processes serve (see commands/service.py).
    from processors.state_rebuild import STAGES, RebuildRefused, rebuild_worker_state, refuse_if_running

    services = bootstrap()
    settings = services.settings
    try:
        run(refuse_if_running(settings))  # before asking: no point confirming what will be refused
    except RebuildRefused as error:
        fail(f"{error}.")
    which = f"partition(s) {', '.join(map(str, sorted(set(partition))))}" if partition else "every partition"
    if not yes:
        typer.confirm(
            f"Replace the worker's table state of {which} (topic prefix {settings.topic_prefix}) with the fold of the event log?", abort=True
        )
    if settings.worker_state != "table":
        errors.print("[yellow]Note:[/yellow] REGISTERVARD_WORKER_STATE is not `table` here; the rebuilt tables are used by a worker that runs with it.")

    quarantined: list[Quarantined] = []
    with progress() as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            report = run(rebuild_worker_state(settings, services.keys, partition, on_progress=on_progress, on_quarantine=quarantined.append))
        except RebuildRefused as error:
            fail(f"{error}.")
    if quarantined:
        errors.print(f"[yellow]Note:[/yellow] {len(quarantined)} log record(s) skipped as unreadable; `registervard quarantine` lists them.")
    console.print(
        f"Worker state rebuilt for partition(s) {', '.join(map(str, report.partitions))} in {report.seconds} s: "
        f"{report.customers} customer(s) written ({report.lapse_entries} with consents that lapse), {report.tombstones} tombstone(s), "
        f"from {report.log_records} log record(s); {report.appended} missing consequence(s) appended to the log, "
        f"{report.keys_destroyed} data key(s) of erased customers destroyed."
    )
    if report.stores_kept:
        errors.print(
            "[yellow]Warning:[/yellow] a worker joined while the rebuild ran, so this machine's local stores were kept "
            "and that worker may hold states from before the rebuild: stop every worker and run this command again."
        )
    else:
        console.print(f"Removed {len(report.stores_removed)} local store(s); the next `registervard worker` recovers them from the changelogs.")
