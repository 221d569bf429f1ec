"""The web console in-process (TestClient, no server, no browser): session cookies, CSRF, sign-in refusals and their
rate limit, the roles table, disclosures, search and the view as of a date, over the planted customers only."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from events.settings import Settings
from projections.access import DisclosureRow
from projections.database import connect
from registervard.api.api_keys import create_key, revoke_key
from registervard.api.roles import ROLES
from registervard.web import console_router, create_served_app
from registervard.web.session import SESSION_COOKIE, SESSION_SECONDS
from registervard.web.sign_in_pages import safe_next
from tests import console_register as planted

SECRET = "a-test-secret-for-signing-console-sessions"


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The planted customers alone (no demo register): enough for every rule here."""
    return planted.build(tmp_path_factory.mktemp("console") / "register.db", customers=0)


@pytest.fixture(scope="module")
def keys(register: Settings) -> dict[str, str]:
    return planted.role_keys(register)


def app_for(register: Settings, **settings: str):
    fields = {"console_secret": SECRET, "kafka": "127.0.0.1:1", **settings}
    return create_served_app(Settings(**{**register.__dict__, **fields}))


@pytest.fixture(scope="module")
def app(register: Settings):
    return app_for(register)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found[1]


def sign_in(client: TestClient, key: str) -> TestClient:
    token = csrf_of(client.get("/console/sign-in").text)
    response = client.post("/console/sign-in", data={"key": key, "csrf": token, "next": "/console/search"}, follow_redirects=False)
    assert response.status_code == 303, response.text[-500:]
    return client


def signed_in(app, key: str, base_url: str = "http://testserver") -> TestClient:
    return sign_in(TestClient(app, base_url=base_url), key)


def session_cookie_header(response) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}="))


# --- Sessions ---------------------------------------------------------------------------------


def test_the_session_cookie_is_signed_httponly_samesite_strict_lasts_a_working_day_and_is_secure_over_https(app, keys):
    for base_url, secure in (("http://testserver", False), ("https://testserver", True)):
        client = TestClient(app, base_url=base_url)
        token = csrf_of(client.get("/console/sign-in").text)
        response = client.post("/console/sign-in", data={"key": keys["customer_service"], "csrf": token}, follow_redirects=False)
        cookie = session_cookie_header(response)
        flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
        assert "httponly" in flags and flags["samesite"].lower() == "samesite=strict"
        assert flags["max-age"] == f"Max-Age={SESSION_SECONDS}" and flags["path"] == "Path=/console"
        assert ("secure" in flags) is secure, base_url
        assert keys["customer_service"] not in cookie and keys["customer_service"][3:] not in cookie, "the key never leaves the sign-in form"


def test_a_forged_an_expired_and_a_revoked_session_are_signed_out(app, register, keys):
    client = signed_in(app, keys["customer_service"])
    assert client.get("/console/search", follow_redirects=False).status_code == 200
    value = client.cookies[SESSION_COOKIE]
    payload = URLSafeTimedSerializer(SECRET, salt="registervard-console-session").loads(value)

    forged = URLSafeTimedSerializer("another secret", salt="registervard-console-session").dumps(payload)
    client.cookies.set(SESSION_COOKIE, forged, path="/console")
    answer = client.get("/console/search", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/sign-in?next=")

    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - SESSION_SECONDS - 60

    expired = URLSafeTimedSerializer(SECRET, salt="registervard-console-session", signer=Yesterday).dumps(payload)
    client.cookies.set(SESSION_COOKIE, expired, path="/console")
    assert client.get("/console/search", follow_redirects=False).status_code == 303

    engine = connect(register.database_url)
    facts, key = create_key(engine, "Soon revoked", "customer_service")
    revoked = signed_in(app, key)
    assert revoked.get("/console/customers/P-LAPSED", follow_redirects=False).status_code == 200
    revoke_key(engine, facts.key_id)
    engine.dispose()
    assert revoked.get("/console/customers/P-LAPSED", follow_redirects=False).status_code == 303, "revocation ends the session at once"


def test_sign_in_refuses_no_key_a_wrong_one_a_revoked_one_and_a_form_without_its_token_and_never_logs_a_key(app, register, keys):
    engine = connect(register.database_url)
    facts, revoked = create_key(engine, "Gone", "admin")
    revoke_key(engine, facts.key_id)
    engine.dispose()
    wrong = "rv_" + "w" * 43
    client = TestClient(app)
    with capture_logs() as logs:
        answers = {}
        for name, key in (("empty", ""), ("wrong", wrong), ("revoked", revoked)):
            token = csrf_of(client.get("/console/sign-in").text)
            answers[name] = client.post("/console/sign-in", data={"key": key, "csrf": token}, follow_redirects=False)
        answers["no token"] = client.post("/console/sign-in", data={"key": keys["admin"]}, follow_redirects=False)
    assert {name: a.status_code for name, a in answers.items()} == {"empty": 401, "wrong": 401, "revoked": 401, "no token": 403}
    assert "Skriv in din API-nyckel" in answers["empty"].text
    assert "Nyckeln känns inte igen" in answers["wrong"].text
    assert "Nyckeln är återkallad" in answers["revoked"].text
    assert all(SESSION_COOKIE not in a.cookies for a in answers.values())
    refusals = [entry for entry in logs if entry["event"] == "console_sign_in_refused"]
    assert [r["reason"] for r in refusals] == ["MISSING_API_KEY", "UNKNOWN_API_KEY", "API_KEY_REVOKED", "CSRF_TOKEN"]
    assert refusals[2]["key_id"] == facts.key_id
    logged = repr(logs)
    for key in (wrong, revoked, keys["admin"]):
        assert key not in logged and key[3:] not in logged


def test_failed_sign_ins_are_limited_per_address_as_the_api_limits_requests_without_a_valid_key(register, keys):
    app = app_for(register, api_auth_failure_rate_limit="2/minute")
    client = TestClient(app)
    statuses = []
    for key in ("rv_" + "a" * 43, "rv_" + "b" * 43, keys["admin"]):
        token = csrf_of(client.get("/console/sign-in").text)
        answer = client.post("/console/sign-in", data={"key": key, "csrf": token}, follow_redirects=False)
        statuses.append(answer.status_code)
    assert statuses == [401, 401, 429], "once the address has used up its budget, not even a valid key is looked up"
    assert int(answer.headers["Retry-After"]) >= 1 and "Vänta" in answer.text


def test_every_post_needs_the_sessions_csrf_token(app, keys):
    client = signed_in(app, keys["customer_service"])
    token = csrf_of(client.get("/console/search").text)
    assert client.post("/console/search", data={"q": "19811218-9876"}).status_code == 403
    assert client.post("/console/search", data={"q": "19811218-9876", "csrf": token + "x"}).status_code == 403
    assert "säkerhetskod" in client.post("/console/search", data={"q": "19811218-9876"}).text
    assert client.post("/console/search", data={"q": "19811218-9876", "csrf": token}).status_code == 200
    assert client.post("/console/sign-out", data={}, follow_redirects=False).status_code == 403
    assert client.get("/console/search", follow_redirects=False).status_code == 200, "a forged sign-out does not sign out"
    assert client.post("/console/sign-out", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/console/search", follow_redirects=False).status_code == 303


# --- Roles --------------------------------------------------------------------------------------

OPEN_PAGES = {"/", "/sign-in", "/sign-out", "/language/{lang}"}
"""Pages without a role check: the way in and out (signing out needs a session and its CSRF token)."""


def pages(routes):
    """Every route, also those of included routers (FastAPI keeps those behind a wrapper with `original_router`)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from pages(route.original_router.routes)
        else:
            yield route


def test_every_console_page_but_the_way_in_names_what_it_needs_from_the_roles_table():
    seen = set()
    for route in pages(console_router.routes):
        assert isinstance(route, APIRoute)
        seen.add(route.path)
        if route.path in OPEN_PAGES:
            continue
        needs = [d.call for d in route.dependant.dependencies if hasattr(d.call, "endpoint")]
        nested = [d.call for d in route.dependant.dependencies for d in d.dependencies if hasattr(d.call, "endpoint")]
        assert needs or nested, f"{route.path} has no console_user(...) dependency"
    assert {"/search", "/customers/{customer_id}"} <= seen


def sections_of(html: str) -> set[str]:
    return set(re.findall(r'<section id="([\w-]+)"', html))


def test_the_customer_page_shows_each_role_what_its_api_key_may_fetch_and_nothing_else(app, keys):
    pages = {role: signed_in(app, keys[role]).get("/console/customers/P-LAPSED", follow_redirects=False) for role in ROLES}
    assert {role: page.status_code for role, page in pages.items()} == {
        "reader": 200,
        "marketing": 403,
        "customer_service": 200,
        "auditor": 403,
        "admin": 200,
    }
    everything = {"record", "timeline", "over-time", "consents", "nix", "contact", "recipients"}
    assert sections_of(pages["customer_service"].text) == sections_of(pages["admin"].text) == everything
    assert sections_of(pages["reader"].text) == {"record"}, "a reader sees the register row without consents, NIX or history"
    assert "Samtycken som gäller" not in pages["reader"].text and "as-of-legend" not in pages["reader"].text
    assert "Lovisa Lapsberg" not in pages["marketing"].text and "Inte tillåtet för din roll" in pages["marketing"].text

    reader = signed_in(app, keys["reader"])
    assert reader.get("/console/customers/P-LAPSED?valid_at=2024-06-30", follow_redirects=False).status_code == 403, "a past record is history"
    search_page = reader.get("/console/search").text
    assert "Kund-id" in search_page and "Personnummer, namn" not in search_page
    opened = reader.post("/console/search", data={"q": "P-PROTECTED", "csrf": csrf_of(search_page)}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/console/customers/P-PROTECTED"
    by_number = reader.post("/console/search", data={"q": "19811218-9876", "csrf": csrf_of(search_page)})
    assert by_number.status_code == 404 and "P-LAPSED" not in by_number.text, "a reader may not search by identity number"
    assert signed_in(app, keys["marketing"]).get("/console/search").status_code == 403


def test_a_protected_identity_has_no_name_or_address_on_any_page_for_any_role(app, keys):
    for role in ("reader", "customer_service", "admin"):
        client = signed_in(app, keys[role])
        pages = [client.get("/console/customers/P-PROTECTED").text, client.get("/console/customers/P-PROTECTED?valid_at=2024-03-01").text]
        if role != "reader":
            pages.append(client.post("/console/search", data={"q": "19640823-3234", "csrf": csrf_of(pages[0])}).text)
            assert "P-PROTECTED" in pages[-1] and "Skyddad identitet" in pages[-1]
        for html in pages:
            for secret in (*planted.PROTECTED_NAME, planted.PROTECTED_CITY, "Hemliga", "90325", "903 25"):
                assert secret not in html, (role, secret)


def test_each_view_of_a_customer_and_each_search_is_recorded_as_a_disclosure_through_the_console(app, register, keys):
    client = signed_in(app, keys["customer_service"])
    engine = connect(register.database_url)

    def console_disclosures() -> list[tuple[str, str, str | None]]:
        with Session(engine) as session:
            query = select(DisclosureRow).where(DisclosureRow.channel == "console", DisclosureRow.recipient == "Console customer_service")
            return [(r.customer_id, r.recipient, r.purpose) for r in session.scalars(query.order_by(DisclosureRow.id))]

    before = len(console_disclosures())
    client.post("/console/search", data={"q": "811218-9876", "csrf": csrf_of(client.get("/console/search").text)})
    client.get("/console/customers/P-LAPSED")
    client.get("/console/customers/NO-SUCH-CUSTOMER")
    assert console_disclosures()[before:] == [
        ("P-LAPSED", "Console customer_service", "search"),
        ("P-LAPSED", "Console customer_service", "customer"),
    ]
    engine.dispose()


# --- Search and the view as of a date -----------------------------------------------------------


def test_search_finds_a_personnummer_in_every_written_form_and_answers_an_unreadable_text_with_advice(app, keys):
    client = signed_in(app, keys["customer_service"])
    token = csrf_of(client.get("/console/search").text)
    for written in ("19811218-9876", "811218-9876", "198112189876", "Lovisa Lapsberg", "+46701112233", "LOVISA@example.se", "P-LAPSED"):
        answer = client.post("/console/search", data={"q": written, "csrf": token})
        assert answer.status_code == 200 and 'href="/console/customers/P-LAPSED"' in answer.text, written
    unreadable = client.post("/console/search", data={"q": "?? !!", "csrf": token})  # no number, no address, no name, no id
    assert unreadable.status_code == 422 and "Kontrollera personnumrets datum" in unreadable.text
    advice = re.search(r'id="search-advice">(.*?)</div>', unreadable.text, re.S)[1]
    assert "??" not in advice and "!!" not in advice, "the advice never repeats what was typed"
    nobody = client.post("/console/search", data={"q": "811318-9876", "csrf": token})  # no 13th month: read as a phone number only
    assert nobody.status_code == 200 and "Ingen kund matchar" in nobody.text


def test_the_customer_page_as_of_a_date_folds_the_audit_trail_on_both_time_axes(app, keys):
    client = signed_in(app, keys["customer_service"])

    def address(query: str) -> str:
        page = client.get(f"/console/customers/P-LAPSED{query}")
        assert page.status_code == 200, page.text[-400:]
        return re.search(r'id="record-address">([^<]*)<', page.text)[1]

    assert planted.NEW_CITY in address("")
    assert planted.OLD_CITY in address("?valid_at=2024-06-30")
    assert planted.NEW_CITY in address("?valid_at=2024-10-01")
    # The move (effective 2024-09-01) was recorded on 2024-08-20: known on the 19th, it had not been reported yet.
    assert planted.OLD_CITY in address("?valid_at=2024-10-01&known_at=2024-08-19")
    lapsed_now = client.get("/console/customers/P-LAPSED").text
    timeline = lapsed_now.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"Ny adress.*?SPAR.*?2024-08-20 10:00.*?2024-08-20 10:00.*?2024-09-01", timeline, re.S), "type, source, occurred, recorded, effective"
    protected = client.get("/console/customers/P-PROTECTED").text
    assert "PROTECTED_IDENTITY; följd av Skyddad identitet" in protected, "a derived event names what it followed from"
    assert re.search(r'<tr class="consent lapsed">.*?Telefonförsäljning.*?2025-02-01.*?upphört', lapsed_now, re.S)
    before_lapse = client.get("/console/customers/P-LAPSED?valid_at=2025-01-15").text
    assert 'class="consent lapsed"' not in before_lapse and "Telefonförsäljning" in before_lapse

    not_yet = client.get("/console/customers/P-LAPSED?valid_at=2020-01-01")
    assert not_yet.status_code == 404 and "inte registrerad vid den tidpunkten" in not_yet.text
    bad = client.get("/console/customers/P-LAPSED?valid_at=30/6")
    assert bad.status_code == 422 and "ÅÅÅÅ-MM-DD" in bad.text and "Lovisa" not in bad.text


def test_errors_under_console_are_pages_of_advice_and_the_apis_stay_json(app, keys):
    client = signed_in(app, keys["customer_service"])
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html") and "Sidan finns inte" in missing.text
    nobody = client.get("/console/customers/NO-SUCH-CUSTOMER")
    assert nobody.status_code == 404 and "Registret har ingen kund med det id:t" in nobody.text
    assert client.get("/no-such-endpoint").json()["error"] == "NOT_FOUND", "the API's errors stay JSON"
    for outside in ("https://example.com/", "//example.com/console", "/customers/C-1", "/console/../x\\y"):
        assert safe_next(outside) == "/console/search", outside
    assert safe_next("/console/customers/P-LAPSED?valid_at=2024-06-30") == "/console/customers/P-LAPSED?valid_at=2024-06-30"


def test_english_is_one_link_away_and_swedish_is_the_default(app, keys):
    client = signed_in(app, keys["customer_service"])
    assert "Sök kund" in client.get("/console/search").text
    client.get("/console/language/en?next=%2Fconsole%2Fsearch")
    page = client.get("/console/search").text
    assert '<html lang="en">' in page and "Find a customer" in page and "Svenska" in page


def test_the_console_loads_nothing_from_another_host(app, keys):
    client = signed_in(app, keys["admin"])
    for path in ("/console/search", "/console/customers/P-LAPSED?company=Registerv%C3%A5rd%20Demo%20AB", "/console/sign-in"):
        html = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', html), path
    css = Path(__file__).resolve().parents[2] / "src" / "registervard" / "web" / "static" / "console.css"
    assert "url(" not in css.read_text() and "@import" not in css.read_text()
