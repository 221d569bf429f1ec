"""Who is signed in to the console, and the page rendering every console page shares.

An operator signs in with an API key once; the console then keeps a signed
session cookie (itsdangerous, with `Settings.console_secret`) that holds the
key's id and the session's CSRF token, never the key. The cookie is HttpOnly,
SameSite=Strict, Secure over https and lasts `SESSION_SECONDS`. Every request
looks the key up again by its id, so a revoked key ends its sessions at once
(one primary-key read, as cheap as the API's own key check).

The role check is the API's: `roles.may_call(user.role, endpoint)` with the
same endpoint names, so the console never shows what the same key could not
fetch from the API.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from projections.access import ApiKeyRow
from registervard.api.api_keys import ApiKey
from registervard.api.disclosure_writer import DisclosureWriter, disclosure_rows
from registervard.api.errors import route_template
from registervard.api.roles import ENDPOINTS, may_call
from registervard.web.formatting import FILTERS
from registervard.web.texts import DEFAULT_LANGUAGE, language, texts

log = structlog.get_logger("registervard.console")

PREFIX = "/console"
SESSION_COOKIE = "rv_console"
LANGUAGE_COOKIE = "rv_lang"
SESSION_SECONDS = 8 * 60 * 60
"""A session lasts a working day; then the operator signs in again."""
DISCLOSURE_CHANNEL = "console"

templates = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(FILTERS)

NAV: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("nav.search", ("find", "customer"), f"{PREFIX}/search"),
    ("nav.deadletters", ("deadletters",), f"{PREFIX}/deadletters"),
    ("nav.audit", ("audit", "audit_verify"), f"{PREFIX}/audit"),
    ("nav.health", ("health_report",), f"{PREFIX}/health"),
    ("nav.duplicates", ("duplicates_find",), f"{PREFIX}/duplicates"),
)
"""The header's links: label key, the endpoints of which the role may call any (unknown names count as no), path."""


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in operator: their API key's id, name (the recipient in the disclosure record) and role, the
    session's CSRF token, and the language they read the console in."""

    key_id: str
    name: str
    role: str
    csrf: str
    lang: str


class ConsoleResponse(Exception):
    """A finished response (a redirect, a refusal page) raised from a dependency; `install_console` sends it as is."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def may(role: str, endpoint: str) -> bool:
    """`roles.may_call`, but False (not KeyError) for an endpoint name the roles table does not have (yet)."""
    return endpoint in ENDPOINTS and may_call(role, endpoint)


def render(request: Request, user: ConsoleUser | None, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `web/templates/<template>` (which extends base.html) with `user`, `t` (its texts) and `context`."""
    lang = user.lang if user is not None else request_language(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = templates.get_template(template).render(
        request=request,
        user=user,
        t=texts(lang),
        lang=lang,
        here=here,
        here_quoted=quote(here, safe=""),
        nav=[(label, path) for label, endpoints, path in NAV if user is not None and any(may(user.role, e) for e in endpoints)],
        may=(lambda endpoint: user is not None and may(user.role, endpoint)),
        **context,
    )
    response = HTMLResponse(page, status_code=status_code)
    # Pages carry personal data: no shared cache keeps them, and no other site frames them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def request_language(request: Request) -> str:
    """The language chosen with the header's link (a cookie), Swedish by default."""
    return language(request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE))


def serializer(request: Request, purpose: str) -> URLSafeTimedSerializer:
    """Signs and checks the console's cookies and tokens for one `purpose` (a salt, so one cannot stand for another)."""
    return URLSafeTimedSerializer(request.app.state.console_secret, salt=f"registervard-console-{purpose}")


def start_session(request: Request, response: Response, key: ApiKey) -> None:
    """Set the session cookie for `key` (its id and a new CSRF token, signed) on `response`."""
    token = serializer(request, "session").dumps({"k": key.key_id, "c": secrets.token_urlsafe(24)})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def end_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")


def session_user(request: Request) -> ConsoleUser | None:
    """The signed-in operator, or None: no cookie, a forged or expired one, or a key that is unknown or revoked now."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        data = serializer(request, "session").loads(cookie, max_age=SESSION_SECONDS)
        key_id, csrf = str(data["k"]), str(data["c"])
    except (BadSignature, KeyError, TypeError):
        return None
    with request.app.state.database.engine().connect() as connection:
        row = connection.execute(select(ApiKeyRow.name, ApiKeyRow.role, ApiKeyRow.revoked_at).where(ApiKeyRow.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    request.state.key_id = key_id  # the request log names the key, as for the API
    return ConsoleUser(key_id=key_id, name=row.name, role=row.role, csrf=csrf, lang=request_language(request))


def sign_in_redirect(request: Request) -> RedirectResponse:
    """303 to the sign-in page, which returns here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(here, safe='')}", status_code=303)


def console_user(endpoint: str | None) -> Any:
    """A dependency returning the signed-in ConsoleUser: 303 to the sign-in page without a valid session, a 403 page
    when the role may not call `endpoint` (a key of roles.ENDPOINTS; None: any signed-in operator)."""
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise KeyError(f"unknown endpoint {endpoint!r}: add it to registervard.api.roles.ENDPOINTS")

    def dependency(request: Request) -> ConsoleUser:
        user = session_user(request)
        if user is None:
            raise ConsoleResponse(sign_in_redirect(request))
        if endpoint is not None and not may_call(user.role, endpoint):
            raise forbidden(request, user, endpoint)
        return user

    dependency.endpoint = endpoint  # type: ignore[attr-defined]  # lets a test check which endpoint a page needs
    return Depends(dependency)


def forbidden(request: Request, user: ConsoleUser, endpoint: str) -> ConsoleResponse:
    """The 403 page for a role that may not see `endpoint`, logged as the API logs its refusals (no personal data)."""
    log.warning("console_request_refused", status=403, reason="FORBIDDEN_FOR_ROLE", key_id=user.key_id, role=user.role, path=route_template(request))
    return ConsoleResponse(render(request, user, "forbidden.html", 403, endpoint=endpoint))


async def require_csrf(request: Request, user: ConsoleUser) -> None:
    """Refuse (a 403 page) a POST whose form field `csrf` is not this session's token."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), user.csrf.encode()):
        log.warning("console_request_refused", status=403, reason="CSRF_TOKEN", key_id=user.key_id, role=user.role, path=route_template(request))
        raise ConsoleResponse(render(request, user, "error.html", 403, message=texts(user.lang)["error.csrf"]))


def record_disclosure(request: Request, user: ConsoleUser, customer_ids: list[str], page: str) -> None:
    """Record that the operator saw these customers' data on `page` (channel `console`); returns once committed, so
    nothing is shown unrecorded (raises, and nothing is shown, if it cannot be)."""
    writer: DisclosureWriter = request.app.state.disclosures
    writer.record(disclosure_rows(user.name, customer_ids, page, channel=DISCLOSURE_CHANNEL))
