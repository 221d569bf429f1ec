"""`registervard deadletters`: see what was refused, send it again once the cause is fixed, and mark it resolved.

A dead letter is resolved when it was sent again (`retry`, once the broker has
it: a refusal again is a new dead letter) or marked resolved by an operator
(`resolve`, for one fixed another way). Resolved letters stay on the topic and
their resolution is kept (`projections.deadletter_resolutions`); `list` shows the
open ones, `list --all` every one with its state.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from events.deadletters import DeadLetter, read_dead_letters
from events.jsonlines import to_json
from projections.deadletter_resolutions import MAX_NOTE, Resolution, resolutions
from registervard import exit_codes
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail, run
from registervard.deadletter_actions import choose, letter_document, mark_resolved, state_of
from registervard.deadletter_actions import retry as retry_letters
from registervard.listings import folded, whole

app = typer.Typer(help="Refused events on the dead-letter topic: list, export for correction, send again, mark resolved.", no_args_is_help=True)

EVENT_ID_WIDTH = 36
"""An event id (a UUID) in full: the column that holds it is never narrower."""


def _letters(refs: list[str] | None = None, code: str | None = None) -> list[DeadLetter]:
    letters = run(read_dead_letters(bootstrap().settings))
    chosen, unknown = choose(letters, refs, code)
    if unknown:
        fail(f"no dead letter {', '.join(unknown)}; `registervard deadletters list --all` shows them as partition:offset.")
    return chosen


def _resolutions(letters: list[DeadLetter]) -> dict[str, Resolution]:
    services = bootstrap()
    return resolutions(services.engine, services.settings.dead_letter_topic, letters)


def _operator() -> str:
    """Who is resolving: the operating-system user, recorded with the resolution."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"


@app.command("list")
@advise_on_failure
def list_letters(
    code: Annotated[str | None, typer.Option(help="Only this reason code, e.g. UNKNOWN_CUSTOMER (any case).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Resolved dead letters too, with a state column.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: one object per dead letter, with its state and resolution.")] = False,
) -> None:
    """List the open dead letters with their reasons (no personal data is shown); --all lists the resolved ones too."""
    letters = _letters(code=code)
    resolved = _resolutions(letters)
    shown = letters if show_all else [letter for letter in letters if letter.ref not in resolved]
    if as_json:
        print(json.dumps([letter_document(letter, resolved.get(letter.ref)) for letter in shown]))
        return
    if shown:
        console.print(_table(shown, resolved if show_all else None))
    if shown and show_all:
        console.print("State: open; retried (sent again, so resolved); resolved (marked resolved with `deadletters resolve`).")
    open_count = sum(letter.ref not in resolved for letter in letters)
    if show_all:
        console.print(f"{open_count} open and {len(resolved)} resolved dead letter(s)")
    else:
        console.print(f"{open_count} open dead letter(s)" + (f"; {len(resolved)} resolved (--all shows them)" if resolved else ""))


def _table(letters: list[DeadLetter], resolved: dict[str, Resolution] | None) -> Table:
    """Ref, code and event id whole (an operator types them back); the reason wraps below the event.

    At 80 columns (a pipe) a row cannot hold a reason beside the ids, so the
    cells stack: the ref over its state, the code over the rejection time, the
    event type and id over the reason.
    """
    refs = [letter.ref + (f"\n{_state(resolved.get(letter.ref))}" if resolved is not None else "") for letter in letters]
    codes = [f"{letter.reason_code}\n{letter.rejected_at:%Y-%m-%d %H:%M}" for letter in letters]
    table = Table(
        whole("ref" if resolved is None else "ref\nstate", refs),
        whole("code\nrejected at", codes),
        folded("event\nreason", min_width=EVENT_ID_WIDTH, ratio=1),
        box=box.SIMPLE_HEAD,
    )
    for letter, ref, code in zip(letters, refs, codes, strict=True):
        event = " ".join(part for part in (letter.event_type, letter.event_id) if part) or "(not decodable)"
        cell = f"{event}\n{escape(letter.reason)}"
        resolution = resolved.get(letter.ref) if resolved is not None else None
        if resolution is not None:
            note = f": {resolution.note}" if resolution.note else ""
            cell += f"\n[dim]{_state(resolution)} {resolution.resolved_at:%Y-%m-%d %H:%M} by {escape(resolution.resolved_by + note)}[/dim]"
        table.add_row(ref, code, cell)
    return table


def _state(resolution: Resolution | None) -> str:
    return state_of(resolution)


@app.command("export")
@advise_on_failure
def export(
    refs: Annotated[list[str], typer.Argument(help="Dead letters as partition:offset.")],
    output: Annotated[Path, typer.Option(help="JSON Lines file to write, to correct and publish again.")] = Path("corrected.jsonl"),
) -> None:
    """Write refused events as JSON Lines (same event ids), to correct and `registervard publish` again.

    A dead letter whose bytes cannot be decoded is named and left out; the command then exits 4 (done, but some
    input was refused)."""
    letters = _letters(refs)
    keys = bootstrap().keys
    lines, unreadable = [], []
    for letter in letters:
        event = letter.event(keys)  # unsealed: the operator corrects the event as it was sent
        (lines.append(to_json(event)) if event else unreadable.append(letter.ref))
    output.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    console.print(
        f"Wrote {len(lines)} event(s) to {output}; correct them, then run: registervard publish {output}\n"
        f"Then mark them resolved: registervard deadletters resolve {' '.join(letter.ref for letter in letters)} --note 'corrected and published'"
    )
    if unreadable:
        errors.print(f"Not decodable, so not exported (fix the producer and send them again): {', '.join(unreadable)}")
        raise typer.Exit(exit_codes.SOME_REFUSED)


@app.command("retry")
@advise_on_failure
def retry(
    refs: Annotated[list[str] | None, typer.Argument(help="Dead letters as partition:offset; every open one (of --code) if none.")] = None,
    code: Annotated[str | None, typer.Option(help="Only dead letters with this reason code, e.g. UNKNOWN_CUSTOMER (any case).")] = None,
) -> None:
    """Send refused events to the intake again unchanged: for when the cause was elsewhere (e.g. a registration that came late).

    Each letter the broker takes is marked resolved (retried); if the worker
    refuses the event again, that is a new dead letter.
    """
    letters = _letters(refs, code)
    services = bootstrap()
    topic = services.settings.dead_letter_topic
    if not refs:
        already = resolutions(services.engine, topic, letters)
        letters = [letter for letter in letters if letter.ref not in already]
    if not letters:
        console.print("Nothing to send: no open dead letter" + (f" with code {code}." if code else "."))
        return
    # Those the broker took are resolved, also when a later one failed.
    sent = run(retry_letters(services.settings, services.engine, services.keys, letters, by=_operator()))
    console.print(
        f"Sent {len(sent)} event(s) to the intake again; the worker decides on them anew. Marked resolved (retried): "
        f"{', '.join(letter.ref for letter in sent)}. A refusal again shows as a new dead letter in `registervard deadletters list`."
    )


@app.command("resolve")
@advise_on_failure
def resolve_letters(
    refs: Annotated[list[str], typer.Argument(help="Dead letters as partition:offset.")],
    note: Annotated[
        str, typer.Option(help=f"Why it is resolved, e.g. 'corrected and published as a new line' (at most {MAX_NOTE} characters; no personal data).")
    ],
) -> None:
    """Mark dead letters resolved without sending them again: for one fixed another way (corrected and published anew, or not to be sent at all).

    The dead letter stays on the topic; `deadletters list --all` shows it with its state.
    """
    if not note.strip():
        fail("--note is empty: say why the dead letter is resolved.")
    if len(note) > MAX_NOTE:
        fail(f"--note is longer than {MAX_NOTE} characters.")
    letters = _letters(refs)
    services = bootstrap()
    topic = services.settings.dead_letter_topic
    earlier = resolutions(services.engine, topic, letters)
    recorded = mark_resolved(services.engine, topic, letters, by=_operator(), note=note.strip())
    for letter in letters:
        if letter.ref in earlier:
            was = earlier[letter.ref]
            errors.print(f"{letter.ref} was resolved already ({_state(was)} on {was.resolved_at:%Y-%m-%d %H:%M} UTC by {was.resolved_by}); left as it was.")
    marked = [letter.ref for letter in letters if letter.ref not in earlier and letter.ref in recorded]
    if marked:
        console.print(f"Marked resolved: {', '.join(marked)}. `registervard deadletters list --all` shows them with their state.")
