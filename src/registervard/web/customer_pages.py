"""The search page and the customer page, now or as of a date.

Search is a POST form: what is searched for (an identity number, a name, a phone number) stays out of URLs,
browser history and access logs, as `POST /customers/find` keeps it out. It reads the text as
`registervard customer find` does (`projections.search`). A role that may open a customer (`customer`) but not
search (`find`) gets a box for a customer id only.

The customer page shows what the role may see, as the API would give the same key: the record (`customer`, without
consent and NIX detail for the roles `roles.ROLE_HIDDEN_FIELDS` names); the timeline, names and addresses over time,
recipients and the view as of a date (`history`); contactability (`contactability`). A section the role may not see
is left out, not shown empty. Each page that shows a customer's data records the disclosure first (channel `console`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from events.contactability import load_rules
from events.validation import is_opaque_customer_id
from projections.data_keys import key_store
from projections.merges import merged_into
from projections.replay import parse_as_of
from projections.search import DEFAULT_LIMIT, MAX_QUERY_LENGTH, SearchQueryError, customer_summary, find_customers, read_query
from registervard.api.roles import ROLE_HIDDEN_FIELDS
from registervard.web.customer_view import RECIPIENTS_SHOWN, Moments, NotRegisteredThen, contact_grid, customer_at, customer_now, recipients
from registervard.web.session import PREFIX, ConsoleUser, console_user, forbidden, may, record_disclosure, render, require_csrf
from registervard.web.texts import texts

router = APIRouter()

MAX_COMPANY_LENGTH = 300


def _searcher(request: Request, user: ConsoleUser = console_user(None)) -> ConsoleUser:
    """Who may use the search page: a role that may search (`find`), or open a customer by id (`customer`)."""
    if not (may(user.role, "find") or may(user.role, "customer")):
        raise forbidden(request, user, "find")
    return user


Searcher = Annotated[ConsoleUser, Depends(_searcher)]


@router.get("/search")
def search_form(request: Request, user: Searcher) -> HTMLResponse:
    """The search box (empty)."""
    return _search_page(request, user)


@router.post("/search")
async def search(request: Request, user: Searcher, q: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """The customers the text finds, or advice when it cannot be read; a role without `find` opens a customer by id."""
    await require_csrf(request, user)  # async (it reads the form); the search itself waits on the database in a thread
    return await run_in_threadpool(_search_sync, request, user, q)


def _search_sync(request: Request, user: ConsoleUser, q: str) -> Response:
    words = texts(user.lang)
    engine = request.app.state.database.engine()
    text = q.strip()
    request.state.searched_for = text[:MAX_QUERY_LENGTH]  # shown again in the box, to refine it (this page is never cached)
    if not may(user.role, "find"):
        summary = customer_summary(engine, text) if is_opaque_customer_id(text) else None
        if summary is None:
            return _search_page(request, user, advice=words["search.none"], status_code=404)
        return RedirectResponse(f"{PREFIX}/customers/{summary.customer_id}", status_code=303)
    if len(text) > MAX_QUERY_LENGTH:
        return _search_page(request, user, advice=words["search.too_long"].replace("{max}", str(MAX_QUERY_LENGTH)), status_code=422)
    try:
        query = read_query(text, lookup_key=request.app.state.settings.lookup_key)
    except SearchQueryError as error:
        # The reason names the rule broken, never a character of the text (projections.search holds it to that).
        return _search_page(request, user, advice=words["search.unreadable"], detail=str(error), status_code=422)
    result = find_customers(engine, query, limit=DEFAULT_LIMIT)
    record_disclosure(request, user, [found.customer_id for found in result.customers], "search")
    return _search_page(request, user, results=result.customers, more=result.more, searched=True, notes=query.notes)


def _search_page(request: Request, user: ConsoleUser, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("results", [])
    context.setdefault("q", getattr(request.state, "searched_for", ""))
    return render(
        request,
        user,
        "search.html",
        status_code,
        id_only=not may(user.role, "find"),
        limit=DEFAULT_LIMIT,
        badges_of=lambda found: badges(found.status, found.protected),
        **context,
    )


@router.get("/customers/{customer_id}")
def customer_page(
    request: Request,
    customer_id: str,
    user: ConsoleUser = console_user("customer"),
    valid_at: Annotated[str, Query(max_length=40)] = "",
    known_at: Annotated[str, Query(max_length=40)] = "",
    company: Annotated[str, Query(max_length=MAX_COMPANY_LENGTH)] = "",
) -> Response:
    """The customer's page: now, or as of `valid_at` (a date: the end of that day) as known at `known_at`. Today's page of
    a customer merged into another as a duplicate is the page of the customer it was merged into; a past moment's
    page shows the customer as they were then."""
    words = texts(user.lang)
    settings = request.app.state.settings
    engine = request.app.state.database.engine()
    as_of = {"valid_at": valid_at.strip(), "known_at": known_at.strip()}
    sections = _sections(user.role)
    moments = None
    if as_of["valid_at"] or as_of["known_at"]:
        if not sections["history"]:
            raise forbidden(request, user, "history")  # a past record is the customer's history, as for the API
        try:
            moments = _moments(as_of["valid_at"], as_of["known_at"])
        except ValueError:
            return _customer_problem(request, user, customer_id, words["as_of.bad_date"], 422, as_of)
    if moments is None:
        with Session(engine) as session:
            kept = merged_into(session, customer_id)
        if kept is not None:  # merged away as a duplicate: the customer it was merged into answers, as the API's 308 does
            asked = {name: value for name, value in {**as_of, "company": company.strip()}.items() if value}
            return RedirectResponse(f"{PREFIX}/customers/{quote(kept, safe='')}" + (f"?{urlencode(asked)}" if asked else ""), status_code=303)
    keys = key_store(settings)
    try:
        view = customer_at(engine, customer_id, moments, keys) if moments else customer_now(engine, customer_id, keys)
    except NotRegisteredThen:
        return _customer_problem(request, user, customer_id, words["customer.not_registered_then"], 404, as_of)
    if view is None:
        return render(request, user, "error.html", 404, message=words["customer.not_found"])
    grid = None
    company = company.strip()
    if sections["contactability"] and company:
        grid = contact_grid(view, company, load_rules(settings.contact_rules))
    record_disclosure(request, user, [customer_id], "customer")  # before anything of it is shown
    shown = recipients(engine, customer_id, moments.known_at if moments and moments.known_given else None) if sections["history"] else None
    hidden = ROLE_HIDDEN_FIELDS.get(user.role, frozenset())
    record = {k: v for k, v in view.record.items() if k not in hidden}
    return render(
        request,
        user,
        "customer.html",
        view=view,
        record=record,
        sections=sections,
        as_of=as_of,
        company=company,
        grid=grid,
        recipients=shown,
        badges=badges(str(view.record.get("status") or ""), bool(view.record.get("protected"))),
        recipients_shown=RECIPIENTS_SHOWN,
    )


def _customer_problem(request: Request, user: ConsoleUser, customer_id: str, message: str, status: int, as_of: dict[str, str]) -> HTMLResponse:
    """The as-of form again, with advice instead of the customer (nothing of them is shown, so nothing is disclosed)."""
    return render(request, user, "customer_problem.html", status, customer_id=customer_id, message=message, as_of=as_of, sections=_sections(user.role))


def _sections(role: str) -> dict[str, bool]:
    """Which parts of the customer page `role` sees: the API's endpoints and hidden fields decide."""
    hidden = ROLE_HIDDEN_FIELDS.get(role, frozenset())
    return {
        "history": may(role, "history"),
        "contactability": may(role, "contactability"),
        "consents": "active_consents" not in hidden,
        "nix": "nix_registered" not in hidden,
    }


def _moments(valid_at: str, known_at: str) -> Moments:
    """The moments asked about: each a date (the end of that day, UTC) or an ISO timestamp with a zone; empty is now."""
    now = datetime.now(UTC).replace(microsecond=0)
    valid = parse_as_of(valid_at) if valid_at else now
    known = parse_as_of(known_at) if known_at else now
    return Moments(valid_at=valid, known_at=known, known_given=bool(known_at))


def badges(status: str, protected: bool) -> list[str]:
    """The status badges of a customer: their status (active, deceased, emigrated, erased, merged...) and, for a
    protected identity, `protected` (an active protected identity shows only that)."""
    status = status.lower()
    if protected:
        return ["protected"] if status == "active" else [status, "protected"]
    return [status] if status else []
