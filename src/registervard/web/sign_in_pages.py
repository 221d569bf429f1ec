"""Signing in with an API key and out again, the language link, and the redirects to the search page.

The sign-in form is protected against cross-site posting like every other form:
its CSRF token is a random value in the form and, signed, in a short-lived
cookie (there is no session yet to hold it). Failed sign-ins count against the
client's address with the API's limit for requests without a valid key
(`api.ratelimit`), and are logged with the reason and, for a revoked key, its
id: never the key.
"""

from __future__ import annotations

import hmac
import secrets

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature

from registervard.api.api_keys import find_key
from registervard.api.errors import ApiError
from registervard.api.ratelimit import RateLimits
from registervard.web.session import (
    LANGUAGE_COOKIE,
    PREFIX,
    ConsoleUser,
    console_user,
    end_session,
    render,
    request_language,
    require_csrf,
    serializer,
    start_session,
)
from registervard.web.texts import LANGUAGES, texts

log = structlog.get_logger("registervard.console")

router = APIRouter()

SIGN_IN_COOKIE = "rv_sign_in"
SIGN_IN_FORM_SECONDS = 60 * 60
"""How long a sign-in form stays good."""
HOME = f"{PREFIX}/search"


@router.get("/")
def home() -> RedirectResponse:
    """The console starts at the search page."""
    return RedirectResponse(HOME, status_code=303)


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = HOME, signed_out: bool = False) -> HTMLResponse:
    """The sign-in page, with a fresh CSRF token in the form and, signed, in a cookie."""
    message = texts(request_language(request))["sign_in.signed_out"] if signed_out else None
    return _form(request, safe_next(next), notice=message)


@router.post("/sign-in")
def sign_in(request: Request, key: str = Form(""), csrf: str = Form(""), next: str = Form(HOME)) -> Response:
    """Exchange a valid, unrevoked API key for a session cookie; back to the form with advice otherwise."""
    words = texts(request_language(request))
    target = safe_next(next)
    if not _sign_in_token_ok(request, csrf):
        log.warning("console_sign_in_refused", reason="CSRF_TOKEN")
        return _form(request, target, error=words["sign_in.expired"], status_code=403)
    limits: RateLimits = request.app.state.rate_limits
    try:
        limits.admit_attempt(request)
    except ApiError as refused:
        seconds = (refused.headers or {}).get("Retry-After", "60")
        log.warning("console_sign_in_refused", reason="RATE_LIMITED")
        response = _form(request, target, error=words["sign_in.too_many"].replace("{seconds}", seconds), status_code=429)
        response.headers["Retry-After"] = seconds
        return response
    key = key.strip()
    found = None
    if key:
        with request.app.state.database.engine().connect() as connection:
            found = find_key(connection, key)
    if found is None or not found.active:
        limits.count_failure(request)
        reason = "MISSING_API_KEY" if not key else "UNKNOWN_API_KEY" if found is None else "API_KEY_REVOKED"
        log.warning("console_sign_in_refused", reason=reason, key_id=found.key_id if found else None)
        message = words["sign_in.empty"] if not key else words["sign_in.wrong_key"] if found is None else words["sign_in.revoked"]
        return _form(request, target, error=message, status_code=401)
    log.info("console_signed_in", key_id=found.key_id, role=found.role)
    signed_in = RedirectResponse(target, status_code=303)
    start_session(request, signed_in, found)
    signed_in.delete_cookie(SIGN_IN_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return signed_in


async def _checked(request: Request, user: ConsoleUser = console_user(None)) -> ConsoleUser:
    await require_csrf(request, user)
    return user


@router.post("/sign-out")
def sign_out(user: ConsoleUser = Depends(_checked)) -> RedirectResponse:
    """End the session (a form with the CSRF token, so that no other site can sign the operator out)."""
    log.info("console_signed_out", key_id=user.key_id)
    response = RedirectResponse(f"{PREFIX}/sign-in?signed_out=true", status_code=303)
    end_session(response)
    return response


@router.get("/language/{lang}")
def choose_language(lang: str, next: str = HOME) -> RedirectResponse:
    """Read the console in `lang` (sv or en) from now on, back on the page the link was on."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 24 * 60 * 60, path=PREFIX, samesite="lax")
    return response


def safe_next(target: str) -> str:
    """`target` when it is a page of the console, else the search page: a sign-in link cannot send anyone elsewhere."""
    if (target == PREFIX or target.startswith(PREFIX + "/")) and "//" not in target and "\\" not in target and not any(c < " " for c in target):
        return target
    return HOME


def _form(request: Request, target: str, error: str | None = None, notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, None, "sign_in.html", status_code, csrf=token, next=target, error=error, notice=notice)
    response.set_cookie(
        SIGN_IN_COOKIE,
        serializer(request, "sign-in").dumps(token),
        max_age=SIGN_IN_FORM_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _sign_in_token_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if not cookie or not sent:
        return False
    try:
        token = serializer(request, "sign-in").loads(cookie, max_age=SIGN_IN_FORM_SECONDS)
    except BadSignature:
        return False
    return isinstance(token, str) and hmac.compare_digest(token.encode(), sent.encode())
