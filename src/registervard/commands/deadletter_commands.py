"""`registervard deadletters`: see what was refused, and send it again once the cause is fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from events.deadletters import DeadLetter, read_dead_letters, resend
from events.jsonlines import to_json
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, run

app = typer.Typer(help="Refused events on the dead-letter topic: list, export for correction, send again.", no_args_is_help=True)


def _letters(refs: list[str] | None = None, code: str | None = None) -> list[DeadLetter]:
    letters = run(read_dead_letters(bootstrap().settings))
    by_ref = {letter.ref: letter for letter in letters}
    unknown = [ref for ref in refs or [] if ref not in by_ref]
    if unknown:
        errors.print(f"[red]Error:[/red] no dead letter {', '.join(unknown)}; `registervard deadletters list` shows them as partition:offset.")
        raise typer.Exit(1)
    chosen = [by_ref[ref] for ref in refs] if refs else letters
    return [letter for letter in chosen if code is None or letter.reason_code == code]


@app.command("list")
@advise_on_failure
def list_letters(code: Annotated[str | None, typer.Option(help="Only this reason code.")] = None) -> None:
    """List dead letters with their reasons (no personal data is shown)."""
    letters = _letters(code=code)
    table = Table("ref", "rejected at", "code", "event type", "event id", "reason")
    for letter in letters:
        table.add_row(letter.ref, f"{letter.rejected_at:%Y-%m-%d %H:%M}", letter.reason_code, letter.event_type or "", letter.event_id or "", letter.reason)
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@app.command("export")
@advise_on_failure
def export(
    refs: Annotated[list[str], typer.Argument(help="Dead letters as partition:offset.")],
    output: Annotated[Path, typer.Option(help="JSON Lines file to write, to correct and publish again.")] = Path("corrected.jsonl"),
) -> None:
    """Write refused events as JSON Lines (same event ids), to correct and `registervard publish` again."""
    letters = _letters(refs)
    keys = bootstrap().keys
    lines, unreadable = [], []
    for letter in letters:
        event = letter.event(keys)  # unsealed: the operator corrects the event as it was sent
        (lines.append(to_json(event)) if event else unreadable.append(letter.ref))
    output.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    console.print(f"Wrote {len(lines)} event(s) to {output}; correct them, then run: registervard publish {output}")
    if unreadable:
        errors.print(f"Not decodable, so not exported (fix the producer and send them again): {', '.join(unreadable)}")


@app.command("retry")
@advise_on_failure
def retry(
    refs: Annotated[list[str] | None, typer.Argument(help="Dead letters as partition:offset; all (of --code) if none.")] = None,
    code: Annotated[str | None, typer.Option(help="Only dead letters with this reason code, e.g. UNKNOWN_CUSTOMER.")] = None,
) -> None:
    """Send refused events to the intake again unchanged: for when the cause was elsewhere (e.g. a registration that came late)."""
    letters = _letters(refs, code)
    if not letters:
        console.print("Nothing to send.")
        return
    services = bootstrap()
    sent = run(resend(services.settings, letters, services.keys))
    console.print(f"Sent {sent} event(s) to the intake again; the worker decides on them anew.")
