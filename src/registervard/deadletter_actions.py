"""What operators do with dead letters, the same from the command line (`registervard deadletters`) and the console.

Reading them with their resolutions, naming their state, sending them again, marking them resolved, and correcting
one: the commands and the console's pages both call these, so a letter is open, retried or resolved by the same
rules whichever way an operator looked. The letters live on the dead-letter topic (`events.deadletters`), their
resolutions in the register database (`projections.deadletter_resolutions`).

A letter keeps the refused event's personal fields sealed. Inspecting one shows the plain fields only; a correction
is written over the plain fields, and each personal field left as `SEALED` is opened with the customer's key only
when the corrected event is sent, so the operator never sees it.

The coroutines here read and write the register database in the thread that runs them (an in-memory SQLite
register lives in one thread); the console runs them on a loop of their own in a worker thread
(`in_worker_thread`), so that neither Kafka nor the database holds up its event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from events.catalog import Event, SealedPersonalData
from events.deadletters import DeadLetter, read_dead_letters, resend
from events.jsonlines import parse_event, to_json
from events.publish import Publisher
from events.refusal import Refusal
from events.sealing import KeyStore, personal_fields
from events.settings import Settings
from events.topics import partitions_of
from projections.deadletter_resolutions import How, Resolution, resolutions, resolve

T = TypeVar("T")

READ_TIMEOUT = 15.0
"""Seconds the console and `registervard health` wait for the dead-letter topic before saying Kafka does not answer."""

SEALED = "(sealed)"
"""Stands for a personal field in a letter's correction form: sent as the letter holds it."""

CORRECTED_NOTE = "corrected in the console and sent again"
"""The note of a resolution by correction (kept in the register database, so in one language)."""


def state_of(resolution: Resolution | None) -> str:
    """A letter's state: open, retried (sent again, so resolved) or resolved (marked resolved)."""
    if resolution is None:
        return "open"
    return "retried" if resolution.how is How.RETRIED else "resolved"


def letter_document(letter: DeadLetter, resolution: Resolution | None) -> dict[str, Any]:
    """A letter as JSON-ready data: where it lies, when and why it was refused, the event it held, its state."""
    return {
        "ref": letter.ref,
        "partition": letter.partition,
        "offset": letter.offset,
        "rejected_at": letter.rejected_at.isoformat(),
        "reason_code": letter.reason_code,
        "event_type": letter.event_type,
        "event_id": letter.event_id,
        "reason": letter.reason,
        "state": "resolved" if resolution else "open",
        "resolution": resolution.as_dict() if resolution else None,
    }


def choose(letters: Sequence[DeadLetter], refs: Sequence[str] | None = None, code: str | None = None) -> tuple[list[DeadLetter], list[str]]:
    """The letters named by `refs` (all, if none), of reason `code` (any case) if given; and the refs no letter has."""
    by_ref = {letter.ref: letter for letter in letters}
    unknown = [ref for ref in refs or [] if ref not in by_ref]
    chosen = [by_ref[ref] for ref in refs if ref in by_ref] if refs else list(letters)
    wanted = code.upper() if code is not None else None  # reason codes are upper case; `--code unknown_customer` means the same
    return [letter for letter in chosen if wanted is None or letter.reason_code == wanted], unknown


@dataclass(frozen=True)
class Letters:
    """Every letter on the topic, oldest first within each partition, and the resolutions of those resolved."""

    letters: list[DeadLetter]
    resolved: dict[str, Resolution]

    def resolution(self, letter: DeadLetter) -> Resolution | None:
        return self.resolved.get(letter.ref)

    def find(self, ref: str) -> DeadLetter | None:
        return next((letter for letter in self.letters if letter.ref == ref), None)


async def read_letters(settings: Settings, engine: Engine, *, timeout: float = READ_TIMEOUT) -> Letters:
    """The letters on the dead-letter topic with their resolutions (none while the topic does not exist: no worker has
    run); TimeoutError when Kafka does not answer in `timeout` s."""
    if not await asyncio.wait_for(partitions_of(settings, settings.dead_letter_topic), timeout=timeout):
        return Letters([], {})
    letters = await asyncio.wait_for(read_dead_letters(settings), timeout=timeout)
    return Letters(letters, resolutions(engine, settings.dead_letter_topic, letters))


async def retry(settings: Settings, engine: Engine, keys: KeyStore, letters: Sequence[DeadLetter], *, by: str) -> list[DeadLetter]:
    """Send these letters' events to the intake again, unchanged, and mark each the broker took resolved (retried), also
    when a later one failed (the error then goes on up); return those sent."""
    sent: list[DeadLetter] = []
    try:
        await resend(settings, list(letters), keys, on_sent=sent.append)
    finally:
        if sent:
            resolve(engine, settings.dead_letter_topic, sent, How.RETRIED, by=by)
    return sent


# --- Inspecting and correcting one letter -----------------------------------------------------


def sealed_view(letter: DeadLetter) -> dict[str, Any] | None:
    """The letter's event as a JSON document, as the letter holds it: each sealed personal field is `SEALED`; None if
    the letter's bytes are no event."""
    event = letter.event(None)
    if event is None:
        return None
    document: dict[str, Any] = json.loads(to_json(event))
    for name in personal_fields(event):
        if isinstance(getattr(event, name), SealedPersonalData):
            document[name] = SEALED
    return document


def plain_fields(document: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The document's fields as (dotted name, value), nested records flattened; `SEALED` and None values kept."""
    found: list[tuple[str, Any]] = []
    for name, value in document.items():
        if isinstance(value, dict):
            found += plain_fields(value, f"{prefix}{name}.")
        else:
            found.append((f"{prefix}{name}", value))
    return found


class CorrectionError(ValueError):
    """Why a correction cannot be sent: `key` names the console's text for it, `values` fill it in (never a value sent)."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def corrected_event(letter: DeadLetter, text: str, keys: KeyStore, *, now: datetime | None = None) -> Event:
    """The event an operator's corrected JSON `text` describes, checked as `registervard publish` checks a line; each
    personal field left as `SEALED` is the letter's own, unsealed with `keys`. CorrectionError says what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorrectionError("deadletters.json_invalid", detail=f"{error.msg}, line {error.lineno}, column {error.colno}") from None
    if not isinstance(document, dict):
        raise CorrectionError("deadletters.not_object")
    try:
        original = letter.event(keys)
    except ValueError:  # a sealed field that does not verify: as good as gone
        original = None
    personal = set(personal_fields(original)) if original is not None else set()
    opened = json.loads(to_json(original)) if original is not None else {}
    for name, value in list(document.items()):
        if value != SEALED or name not in personal:
            continue
        if original is None or isinstance(getattr(original, name), SealedPersonalData):
            raise CorrectionError("deadletters.sealed_gone", field=name)
        document[name] = opened[name]
    try:
        return parse_event(document, now=now or datetime.now(UTC))
    except Refusal as refusal:
        raise CorrectionError("deadletters.refused", reason=str(refusal)) from None


async def send_corrected(settings: Settings, engine: Engine, letter: DeadLetter, event: Event, *, by: str) -> None:
    """Publish the corrected event to the intake (as `registervard publish` does), then mark the letter resolved."""
    async with Publisher(settings) as publisher:
        await publisher.publish([event])
    resolve(engine, settings.dead_letter_topic, [letter], How.MARKED, by=by, note=CORRECTED_NOTE)


async def in_worker_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run one of these coroutines to its end on a loop of its own in a worker thread, and wait for it."""
    return await run_in_threadpool(asyncio.run, work)


def mark_resolved(engine: Engine, topic: str, letters: Iterable[DeadLetter], *, by: str, note: str) -> dict[str, Resolution]:
    """Mark these letters resolved without sending them (`projections.deadletter_resolutions.resolve`, MARKED)."""
    return resolve(engine, topic, letters, How.MARKED, by=by, note=note)
