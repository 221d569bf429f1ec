"""Dead letters in the console: the list by code with counts, one letter inspected, corrected and sent, sent again
unchanged, or marked resolved. What `registervard deadletters list / export / retry / resolve` do, by the same code
(`registervard.deadletter_actions`).

Role: those the roles table gives `deadletters` (admin). Every POST carries the session's CSRF token. A letter's
personal fields stay sealed on every page: the inspect page shows the plain fields, and a correction restores each
sealed field from the letter itself when it is sent (`deadletter_actions.corrected_event`). A resolution names the
operator by their key's name, marked as made in the console.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Annotated, Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from events.deadletters import DeadLetter
from projections.data_keys import key_store
from projections.deadletter_resolutions import MAX_NOTE
from registervard.deadletter_actions import (
    SEALED,
    CorrectionError,
    Letters,
    corrected_event,
    in_worker_thread,
    mark_resolved,
    plain_fields,
    read_letters,
    retry,
    sealed_view,
    send_corrected,
    state_of,
)
from registervard.web.session import PREFIX, ConsoleUser, console_user, render, require_csrf
from registervard.web.texts import texts
from registervard.web.wording import say

log = structlog.get_logger("registervard.console")

router = APIRouter()

REF = re.compile(r"\d{1,9}:\d{1,19}")
"""A letter's ref: partition:offset on the dead-letter topic."""
MAX_DOCUMENT = 200_000
"""The most characters a corrected event may have (a line may be 131,072 bytes: room to spare)."""
DONE = ("retried", "corrected", "marked")


def _by(user: ConsoleUser) -> str:
    """Who resolved it, as the resolution records it: the key's name, in the console."""
    return f"{user.name} (console)"[:100]


async def _letters(request: Request, user: ConsoleUser) -> Letters | Response:
    """Every letter with its resolution, or the page that says Kafka does not answer."""
    try:
        return await in_worker_thread(read_letters(request.app.state.settings, request.app.state.database.engine()))
    except Exception as error:
        log.warning("console_dead_letters_unread", error_type=type(error).__name__, key_id=user.key_id)
        return render(request, user, "error.html", 503, message=texts(user.lang)["deadletters.unreachable"], back=f"{PREFIX}/deadletters")


@router.get("/deadletters")
async def dead_letters(
    request: Request,
    user: ConsoleUser = console_user("deadletters"),
    code: Annotated[str, Query(max_length=64)] = "",
    show_all: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    """The dead letters by code (open, resolved, total), and the open ones (`all`: every one) of a code or of all."""
    found = await _letters(request, user)
    if not isinstance(found, Letters):
        return found
    wanted = code.strip().upper()
    open_codes: Counter[str] = Counter()
    resolved_codes: Counter[str] = Counter()
    for letter in found.letters:
        (resolved_codes if found.resolution(letter) else open_codes)[letter.reason_code] += 1
    counts = [(c, open_codes[c], resolved_codes[c], open_codes[c] + resolved_codes[c]) for c in sorted(set(open_codes) | set(resolved_codes))]
    shown = [
        (letter, state_of(found.resolution(letter)))
        for letter in reversed(found.letters)  # the latest first
        if (not wanted or letter.reason_code == wanted) and (show_all or found.resolution(letter) is None)
    ]
    return render(
        request,
        user,
        "deadletters.html",
        counts=counts,
        shown=shown,
        code=wanted,
        show_all=show_all,
        link=lambda **query: f"{PREFIX}/deadletters" + (f"?{urlencode({k: v for k, v in query.items() if v})}" if any(query.values()) else ""),
    )


async def _letter(request: Request, user: ConsoleUser, ref: str) -> tuple[Letters, DeadLetter] | Response:
    if not REF.fullmatch(ref):
        return _not_found(request, user, ref)
    found = await _letters(request, user)
    if not isinstance(found, Letters):
        return found
    letter = found.find(ref)
    if letter is None:
        return _not_found(request, user, ref)
    return found, letter


def _not_found(request: Request, user: ConsoleUser, ref: str) -> HTMLResponse:
    message = say(texts(user.lang), "deadletters.not_found", ref=ref if REF.fullmatch(ref) else "")
    return render(request, user, "error.html", 404, message=message, back=f"{PREFIX}/deadletters")


def _letter_page(
    request: Request, user: ConsoleUser, found: Letters, letter: DeadLetter, *, status_code: int = 200, document: str | None = None, **context: Any
) -> HTMLResponse:
    view = sealed_view(letter)
    if document is None and view is not None:
        document = json.dumps(view, ensure_ascii=False, indent=2)
    resolution = found.resolution(letter)
    return render(
        request,
        user,
        "deadletter.html",
        status_code,
        letter=letter,
        resolution=resolution,
        state=state_of(resolution),
        fields=plain_fields(view) if view is not None else None,
        sealed=SEALED,
        document=document,
        max_note=MAX_NOTE,
        **context,
    )


@router.get("/deadletters/{ref}")
async def dead_letter(request: Request, ref: str, user: ConsoleUser = console_user("deadletters"), done: Annotated[str, Query(max_length=16)] = "") -> Response:
    """One letter: why it was refused, the event's plain fields (personal ones sealed), and what can be done with it."""
    found = await _letter(request, user, ref)
    if not isinstance(found, tuple):
        return found
    words = texts(user.lang)
    notice = words[f"deadletters.{done}"] if done in DONE else None
    return _letter_page(request, user, *found, notice=notice)


def _done(ref: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/deadletters/{ref}?done={what}", status_code=303)


@router.post("/deadletters/{ref}/retry")
async def retry_letter(request: Request, ref: str, user: ConsoleUser = console_user("deadletters")) -> Response:
    """Send the letter's event to the intake again, unchanged, and mark it resolved (retried)."""
    await require_csrf(request, user)
    found = await _letter(request, user, ref)
    if not isinstance(found, tuple):
        return found
    letters, letter = found
    if letters.resolution(letter) is not None:
        return _letter_page(request, user, letters, letter, status_code=409, advice=texts(user.lang)["deadletters.already"])
    settings = request.app.state.settings
    try:
        await in_worker_thread(retry(settings, request.app.state.database.engine(), key_store(settings), [letter], by=_by(user)))
    except Exception as error:
        log.warning("console_dead_letter_not_sent", error_type=type(error).__name__, key_id=user.key_id)
        return _letter_page(request, user, letters, letter, status_code=503, advice=texts(user.lang)["deadletters.send_failed"])
    log.info("console_dead_letter_retried", ref=ref, code=letter.reason_code, key_id=user.key_id)
    return _done(ref, "retried")


@router.post("/deadletters/{ref}/correct")
async def correct_letter(
    request: Request, ref: str, user: ConsoleUser = console_user("deadletters"), document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = ""
) -> Response:
    """Send the event as the operator corrected it (checked as `registervard publish` checks a line; each field left
    sealed taken from the letter), then mark the letter resolved."""
    await require_csrf(request, user)
    found = await _letter(request, user, ref)
    if not isinstance(found, tuple):
        return found
    letters, letter = found
    words = texts(user.lang)
    if letters.resolution(letter) is not None:
        return _letter_page(request, user, letters, letter, status_code=409, advice=words["deadletters.already"])
    settings = request.app.state.settings
    try:
        event = await run_in_threadpool(corrected_event, letter, document, key_store(settings))
    except CorrectionError as error:
        return _letter_page(request, user, letters, letter, status_code=422, document=document, advice=say(words, error.key, **error.values))
    try:
        await in_worker_thread(send_corrected(settings, request.app.state.database.engine(), letter, event, by=_by(user)))
    except Exception as error:
        log.warning("console_dead_letter_not_sent", error_type=type(error).__name__, key_id=user.key_id)
        return _letter_page(request, user, letters, letter, status_code=503, document=document, advice=words["deadletters.send_failed"])
    log.info("console_dead_letter_corrected", ref=ref, code=letter.reason_code, key_id=user.key_id)
    return _done(ref, "corrected")


@router.post("/deadletters/{ref}/resolve")
async def resolve_letter(
    request: Request, ref: str, user: ConsoleUser = console_user("deadletters"), note: Annotated[str, Form(max_length=10_000)] = ""
) -> Response:
    """Mark the letter resolved without sending it, with the operator's note."""
    await require_csrf(request, user)
    found = await _letter(request, user, ref)
    if not isinstance(found, tuple):
        return found
    letters, letter = found
    words = texts(user.lang)
    if letters.resolution(letter) is not None:
        return _letter_page(request, user, letters, letter, status_code=409, advice=words["deadletters.already"])
    note = note.strip()
    if not note or len(note) > MAX_NOTE:
        key = "deadletters.note_empty" if not note else "deadletters.note_too_long"
        return _letter_page(request, user, letters, letter, status_code=422, advice=words[key], note=note)
    settings = request.app.state.settings
    await run_in_threadpool(mark_resolved, request.app.state.database.engine(), settings.dead_letter_topic, [letter], by=_by(user), note=note)
    log.info("console_dead_letter_resolved", ref=ref, code=letter.reason_code, key_id=user.key_id)
    return _done(ref, "marked")
