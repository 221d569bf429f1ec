"""Duplicate customers in the console: the likely pairs, and merging one customer of a pair into the other.

`/console/duplicates` lists what `registervard duplicates find` lists (`projections.duplicates.register_duplicates`):
pairs with a score and the reasons, best first, at or above a minimum score. The search compares the whole register
(about a second for 100,000 customers, 20 s for a million), so it runs only when the operator asks, and the page says
it may take a while. A pair with a protected identity is listed by ids alone, as the command lists it. Every customer
of a listed pair is recorded as disclosed (channel `console`), as `GET /duplicates` records them.

Merging is two steps. The pair's form chooses the customer to keep and opens `/console/duplicates/merge`, which checks
the merge with the register (`duplicate_merge.merge_check`, as `POST /customers/{id}/merge` and `duplicates merge`
do) and shows what will happen, or why it may not (the refusal's code and reason, with advice). Confirming POSTs the
same choice with the session's CSRF token; the check runs again (the register may have changed meanwhile), then the
merge is published (`duplicate_merge.publish_merge`) and the operator lands on a page that says so and links to the
kept customer. The worker carries the merge out; the dropped id then points to the kept customer.

Roles: the list needs `duplicates_find`, the merge pages `duplicates_merge` (both the admin's).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from events.refusal import Refusal
from events.validation import is_identity_number
from projections.duplicates import DEFAULT_LIMIT, DEFAULT_MIN_SCORE, register_duplicates
from registervard.duplicate_merge import NOT_IN_REGISTER, MergePlan, merge_check, merge_done, publish_merge
from registervard.web.customer_pages import badges
from registervard.web.session import PREFIX, ConsoleUser, console_user, may, record_disclosure, render, require_csrf
from registervard.web.texts import texts
from registervard.web.wording import say

log = structlog.get_logger("registervard.console")

router = APIRouter()

MAX_ID = 100
"""The longest customer id a merge form takes (the API's `MergeRequest` takes as long)."""
FORCEABLE = frozenset({"IDENTITY_NUMBERS_DIFFER", "STATUS_DIFFERS"})
"""Refusals a forced merge overrides (`events.merging.pair_refusal`)."""
STATUS_OF_REFUSAL = {NOT_IN_REGISTER: 404, "INVALID_CUSTOMER_ID": 422}
"""The page's status for a refusal, as the API answers it; every other refusal is 409."""

CustomerId = Annotated[str, Query(max_length=MAX_ID)]


def _min_score(text: str) -> int | None:
    """The minimum score asked for, or None when it is not a whole number from 1 to 100."""
    text = text.strip()
    if not text.isdigit() or not 1 <= int(text) <= 100:
        return None
    return int(text)


@router.get("/duplicates")
def duplicates(
    request: Request, user: ConsoleUser = console_user("duplicates_find"), min_score: Annotated[str | None, Query(max_length=10)] = None
) -> HTMLResponse:
    """The search form; with `min_score`, the likely pairs scoring at least that, best first (at most DEFAULT_LIMIT)."""
    words = texts(user.lang)
    context: dict[str, Any] = {"min_score": min_score if min_score is not None else str(DEFAULT_MIN_SCORE), "limit": DEFAULT_LIMIT}
    if min_score is None:
        return render(request, user, "duplicates.html", **context)
    wanted = _min_score(min_score)
    if wanted is None:
        return render(request, user, "duplicates.html", 422, advice=words["duplicates.bad_min_score"], **context)
    report = register_duplicates(request.app.state.database.engine(), min_score=wanted, limit=DEFAULT_LIMIT)
    record_disclosure(request, user, report.customer_ids, "duplicates")  # before anything of them is shown
    skipped = [say(words, "duplicates.skipped", count=count, shared=words[f"duplicates.block.{block.value}"]) for block, count in report.skipped.items()]
    return render(
        request,
        user,
        "duplicates.html",
        report=report,
        skipped=skipped,
        may_merge=may(user.role, "duplicates_merge"),
        **{**context, "min_score": str(wanted)},
    )


def _pair(a: str, b: str, keep: str) -> tuple[str, str] | None:
    """(kept, dropped) of the pair `a`, `b` as the operator chose; None when an id is missing or `keep` is neither
    (the same id twice is left to `merge_check`, which names the rule)."""
    a, b, keep = a.strip(), b.strip(), keep.strip()
    if not a or not b or keep not in (a, b):
        return None
    return (a, b) if keep == a else (b, a)


def _back(min_score: str) -> str:
    """The list the operator came from (searched again), or the empty search form."""
    wanted = _min_score(min_score)
    return f"{PREFIX}/duplicates" + (f"?{urlencode({'min_score': wanted})}" if wanted is not None else "")


def _merge_link(kept: str, dropped: str, *, force: bool, min_score: str) -> str:
    """The confirmation page for keeping `kept` and merging `dropped` into it."""
    query = {"a": kept, "b": dropped, "keep": kept, **({"force": "1"} if force else {}), **({"min_score": min_score} if _min_score(min_score) else {})}
    return f"{PREFIX}/duplicates/merge?{urlencode(query)}"


def _merge_page(
    request: Request,
    user: ConsoleUser,
    pair: tuple[str, str] | None,
    plan: MergePlan | Refusal | None,
    *,
    force: bool,
    min_score: str,
) -> HTMLResponse:
    """The confirmation page: what the merge will do and the form that makes it, or why it may not be made."""
    words = texts(user.lang)
    back = _back(min_score)
    if pair is None:
        return render(request, user, "duplicate_merge.html", 422, advice=words["duplicates.choose"], back=back)
    kept, dropped = pair
    context: dict[str, Any] = {
        "kept_id": kept,
        "dropped_id": dropped,
        "force": force,
        "min_score": min_score if _min_score(min_score) else "",
        "back": back,
        "swap": _merge_link(dropped, kept, force=force, min_score=min_score),
    }
    if isinstance(plan, Refusal):
        # An id that is an identity number is personal data: the page does not repeat it (as the API's error does not).
        context["show_ids"] = plan.code != "INVALID_CUSTOMER_ID"
        key = f"duplicates.refused.{plan.code}"
        who = kept if plan.field == "kept_customer_id" else dropped
        advice = say(words, key if key in words else "duplicates.refused.other", kept=kept, dropped=dropped, who=who)
        forced = _merge_link(kept, dropped, force=True, min_score=min_score) if plan.code in FORCEABLE and not force else None
        return render(request, user, "duplicate_merge.html", STATUS_OF_REFUSAL.get(plan.code, 409), refusal=plan, advice=advice, forced=forced, **context)
    assert plan is not None
    record_disclosure(request, user, [kept, dropped], "duplicates_merge")  # both customers are named on the page
    return render(
        request,
        user,
        "duplicate_merge.html",
        kept=plan.kept,
        dropped=plan.dropped,
        show_ids=True,
        badges_of=lambda found: badges(found.status, found.protected),
        **context,
    )


@router.get("/duplicates/merge")
def confirm_merge(
    request: Request,
    user: ConsoleUser = console_user("duplicates_merge"),
    a: CustomerId = "",
    b: CustomerId = "",
    keep: CustomerId = "",
    force: bool = False,
    min_score: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    """What merging the pair `a`, `b` into `keep` will do, checked with the register; or why it may not be done."""
    pair = _pair(a, b, keep)
    plan = merge_check(request.app.state.database.engine(), *pair, force=force, source=_source(user)) if pair else None
    return _merge_page(request, user, pair, plan, force=force, min_score=min_score)


@router.post("/duplicates/merge")
async def merge(
    request: Request,
    user: ConsoleUser = console_user("duplicates_merge"),
    a: Annotated[str, Form(max_length=MAX_ID)] = "",
    b: Annotated[str, Form(max_length=MAX_ID)] = "",
    keep: Annotated[str, Form(max_length=MAX_ID)] = "",
    force: Annotated[bool, Form()] = False,
    min_score: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Merge the pair as confirmed: checked again, then published; on to the page that says so."""
    await require_csrf(request, user)
    pair = _pair(a, b, keep)
    if pair is None:
        return _merge_page(request, user, None, None, force=force, min_score=min_score)
    plan = await run_in_threadpool(merge_check, request.app.state.database.engine(), *pair, force=force, source=_source(user))
    if not isinstance(plan, MergePlan):
        log.info("console_merge_refused", code=plan.code, key_id=user.key_id)
        return await run_in_threadpool(_merge_page, request, user, pair, plan, force=force, min_score=min_score)
    try:
        await publish_merge(request.app.state.settings, plan.event)
    except Exception as error:  # Kafka unreachable or refusing: nothing was published, so nothing is merged
        log.warning("console_merge_not_published", error_type=type(error).__name__, key_id=user.key_id)
        words = texts(user.lang)
        return render(request, user, "error.html", 503, message=words["duplicates.not_published"], back=_back(min_score))
    log.info("console_merge_published", event_id=str(plan.event.event_id), key_id=user.key_id, forced=force)
    kept, dropped = pair
    query = {"keep": kept, "drop": dropped, **({"min_score": min_score} if _min_score(min_score) else {})}
    return RedirectResponse(f"{PREFIX}/duplicates/merged?{urlencode(query)}", status_code=303)


@router.get("/duplicates/merged")
def merged(
    request: Request,
    user: ConsoleUser = console_user("duplicates_merge"),
    keep: CustomerId = "",
    drop: CustomerId = "",
    min_score: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    """The merge was published: whether the register shows it yet, and a link to the kept customer."""
    keep, drop = keep.strip(), drop.strip()
    if not keep or not drop or is_identity_number(keep) or is_identity_number(drop):  # a number is never repeated on a page
        return render(request, user, "error.html", 404, message=texts(user.lang)["error.not_found"], back=f"{PREFIX}/duplicates")
    done = merge_done(request.app.state.database.engine(), keep, drop)
    return render(request, user, "duplicate_merged.html", kept_id=keep, dropped_id=drop, done=done, back=_back(min_score))


def _source(user: ConsoleUser) -> str:
    """The merge event's source: the console and the operator's key, as the API names its caller's key."""
    return f"CONSOLE:{user.key_id}"
