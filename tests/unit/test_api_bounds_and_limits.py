"""The API's bounds and limits, in-process (ASGI) on a SQLite file: parameters that could overflow, erasure's id
check, error bodies that never repeat input, body size and rate limits, and the Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.orm import Session

from events.settings import Settings
from projections.tables import CustomerRow
from registervard.api import auth as auth_module
from registervard.api import erasure_routes as erasure_module
from registervard.api.api_keys import create_key
from registervard.api.http_app import create_app
from registervard.erasure import erasure_event
from tests.builders import VALID_PERSONNUMMER

SMALL_BODY, SMALL_WASH_BODY = 2_000, 20_000


def make_app(tmp_path, **settings):
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}", kafka="127.0.0.1:1", **settings))


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, api_max_body_bytes=SMALL_BODY, api_max_wash_body_bytes=SMALL_WASH_BODY)


def key_for(app, role: str = "admin") -> dict[str, str]:
    _facts, key = create_key(app.state.database.engine(), f"{role} system", role)
    return {"Authorization": f"Bearer {key}"}


def register(app, customer_id: str) -> None:
    with Session(app.state.database.engine()) as session, session.begin():
        session.add(CustomerRow(customer_id=customer_id, kind="PERSON", status="ACTIVE", updated_at=datetime.now(UTC)))


async def call(app, method: str, path: str, headers: dict[str, str] | None = None, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.request(method, path, headers=headers or {}, **kwargs)


# --- Values that could overflow ----------------------------------------------------------


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
async def test_a_moment_outside_1900_to_2100_is_422_naming_it_in_the_query_and_the_body(app, moment):
    headers = key_for(app)
    register(app, "C-1")
    query = {"channel": "EMAIL", "purpose": "MARKETING", "company": "Acme AB", "at": moment}
    answer = await call(app, "GET", "/customers/C-1/contactability", headers, params=query)
    assert answer.status_code == 422 and answer.json()["error"] == "INVALID_REQUEST"
    assert answer.json()["message"].startswith("query.at:") and moment not in answer.text
    wash = await call(app, "POST", "/wash", headers, json={"company": "Acme AB", "at": moment, "rows": [{"customer_id": "C-1"}]})
    assert wash.status_code == 422 and wash.json()["message"].startswith("body.at:")


async def test_a_cursor_is_bounded_to_64_bits_and_the_largest_one_is_an_empty_page(app):
    headers = key_for(app)
    over = await call(app, "GET", "/changes", headers, params={"cursor": str(2**63)})
    assert over.status_code == 422, over.text
    assert over.json() == {"error": "INVALID_REQUEST", "message": "query.cursor: Input should be less than or equal to 9223372036854775807"}
    largest = await call(app, "GET", "/changes", headers, params={"cursor": str(2**63 - 1)})
    assert largest.status_code == 200 and largest.json()["changes"] == []
    huge = await call(app, "GET", "/changes", headers, params={"cursor": "9" * 5000})
    assert huge.status_code == 422 and "9999" not in huge.text


@pytest.mark.parametrize("moment", [0, 1_700_000_000, "1700000000", "2025-06-01", "2025-06-01T10:00:00", "2025-06-01T10:00Z", "2025-06-01 10:00:00Z"])
async def test_a_moment_is_a_date_and_time_with_seconds_and_a_time_zone_as_the_schema_says(app, moment):
    """Found by the fuzz run: pydantic also took a number of seconds, a date alone, a time without seconds."""
    answer = await call(app, "POST", "/wash", key_for(app), json={"company": "Acme AB", "at": moment, "rows": []})
    assert answer.status_code == 422 and answer.json()["message"].startswith("body.at:") and "time zone" in answer.json()["message"]
    schema = app.openapi()["components"]["schemas"]["WashRequest"]["properties"]["at"]["anyOf"][0]
    assert schema["format"] == "date-time" and schema["pattern"].startswith("^(19|20)")


async def test_fractions_and_offsets_are_taken(app):
    headers = key_for(app, "marketing")
    for moment in ("1900-01-01T00:00:00.5+14:00", "2099-12-31T23:59:59.123456-14:00", "2025-06-01T10:00:00Z"):
        answer = await call(app, "POST", "/wash", headers, json={"company": "Acme AB", "at": moment, "rows": []})
        assert answer.status_code == 200, (moment, answer.text)


# --- Erasure only of a registered customer, never by identity number ---------------------


@pytest.fixture
def published(monkeypatch):
    """The customer ids erasure was published for (nothing reaches a broker)."""
    sent: list[str] = []

    async def fake_erase(_settings, customer_id, reason, *, source):
        sent.append(customer_id)
        return erasure_event(customer_id, reason, source=source)

    monkeypatch.setattr(erasure_module, "erase", fake_erase)
    return sent


@pytest.mark.parametrize("number", [VALID_PERSONNUMMER, "811218-9876", "5560160680"])
async def test_erasing_by_an_identity_number_is_422_and_publishes_nothing(app, published, number):
    register(app, number)  # even if some upstream system had registered one as a customer id
    answer = await call(app, "POST", f"/customers/{number}/erase", key_for(app), json={"reason": "CUSTOMER_REQUEST"})
    assert answer.status_code == 422 and answer.json()["error"] == "INVALID_CUSTOMER_ID"
    assert number not in answer.text and number[2:8] not in answer.text
    assert published == []


@pytest.mark.parametrize("customer_id", ["C" * 101, "-starts-with-a-dash", "C 1", "Anna Svensson"])
async def test_erasing_by_an_id_that_is_no_customer_id_is_422_and_publishes_nothing(app, published, customer_id):
    answer = await call(app, "POST", f"/customers/{customer_id}/erase", key_for(app), json={"reason": "OTHER"})
    assert answer.status_code == 422 and answer.json()["message"].startswith("path.customer_id:")
    assert customer_id not in answer.text and published == []


async def test_erasing_an_unknown_customer_is_404_and_a_registered_one_202(app, published):
    headers = key_for(app)
    unknown = await call(app, "POST", "/customers/C-unknown/erase", headers, json={"reason": "OTHER"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "CUSTOMER_NOT_FOUND" and "C-unknown" not in unknown.text
    register(app, "C-known")
    known = await call(app, "POST", "/customers/C-known/erase", headers, json={"reason": "OTHER"})
    assert known.status_code == 202 and known.json()["customer_id"] == "C-known"
    assert published == ["C-known"]


# --- Error bodies never repeat what was sent ---------------------------------------------


async def test_not_found_bodies_do_not_repeat_the_id_or_the_path(app):
    headers = key_for(app)
    for path in (f"/customers/{VALID_PERSONNUMMER}", f"/customers/{VALID_PERSONNUMMER}/history", f"/nowhere/{VALID_PERSONNUMMER}"):
        answer = await call(app, "GET", path, headers)
        assert answer.status_code == 404 and set(answer.json()) == {"error", "message"}, path
        assert VALID_PERSONNUMMER not in answer.text and "nowhere" not in answer.text, path
    wrong_method = await call(app, "PUT", f"/customers/{VALID_PERSONNUMMER}", headers)
    assert wrong_method.status_code == 405 and VALID_PERSONNUMMER not in wrong_method.text
    long_id = await call(app, "GET", f"/customers/{'8' * 20_000}", headers)
    assert long_id.status_code == 422 and len(long_id.text) < 300


@pytest.mark.parametrize("number", ["198112189877", "198113189876", "19811218987", "811218+987X"])
async def test_an_invalid_identity_number_is_refused_without_quoting_any_part_of_it(app, number):
    answer = await call(app, "POST", "/customers/lookup", key_for(app), json={"identity_number": number})
    assert answer.status_code == 422 and answer.json()["error"] == "INVALID_IDENTITY_NUMBER"
    message = answer.json()["message"]
    assert message.startswith("body.identity_number:") and not any(c.isdigit() for c in message), message


async def test_any_other_method_on_the_lookup_path_is_405_allowing_post(app):
    """Found by the fuzz run: /customers/{customer_id} took the path first and the 405 advertised GET."""
    answer = await call(app, "OPTIONS", "/customers/lookup", key_for(app))
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


async def test_a_body_that_is_not_utf8_is_a_documented_400(app):
    answer = await call(app, "POST", "/customers/lookup", {**key_for(app), "Content-Type": "application/json"}, content=b'{"identity_number": "\xff\xfe"}')
    assert answer.status_code == 400 and answer.json()["error"] == "BAD_REQUEST"
    assert "400" in app.openapi()["paths"]["/customers/lookup"]["post"]["responses"]


async def test_validation_errors_carry_field_and_reason_but_no_input(app):
    headers = key_for(app)
    answer = await call(app, "POST", "/wash", headers, json={"company": "", "rows": [{"phone": "Anna Svensson " * 10}]})
    assert answer.status_code == 422 and set(answer.json()) == {"error", "message"}
    message = answer.json()["message"]
    assert "body.company:" in message and "body.rows.0.phone:" in message and "Anna" not in answer.text
    spec = app.openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"], "no route documents FastAPI's 422 body (with `input`)"


# --- Body size --------------------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read(app):
    reads: list[dict] = []
    sent: list[dict] = []

    async def receive() -> dict:
        reads.append({})
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/customers/lookup",
        "raw_path": b"/customers/lookup",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json"), (b"content-length", b"50000000")],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert b'"error":"BODY_TOO_LARGE"' in sent[1]["body"] and str(SMALL_BODY).encode() in sent[1]["body"]
    assert reads == [], "the body was not read"


async def test_a_chunked_body_is_refused_as_soon_as_it_crosses_the_limit(app):
    pulled = 0

    async def endless():
        nonlocal pulled
        for _ in range(10_000):  # 10 MB, if it were all read
            pulled += 1
            yield b" " * 1000

    answer = await call(app, "POST", "/customers/lookup", {"Content-Type": "application/json"}, content=endless())
    assert answer.status_code == 413 and answer.json()["error"] == "BODY_TOO_LARGE"
    assert pulled <= SMALL_BODY // 1000 + 2, f"read {pulled} chunks of 1000 bytes with a limit of {SMALL_BODY}"


async def test_wash_takes_a_larger_body_than_the_other_endpoints(app):
    headers = key_for(app, "marketing")
    rows = [{"phone": f"+4670{n:07d}"} for n in range(200)]  # ~6 KB: over the general limit, under the wash limit
    washed = await call(app, "POST", "/wash", headers, json={"company": "Acme AB", "rows": rows})
    assert washed.status_code == 200 and len(washed.json()["results"]) == 200
    too_many = await call(app, "POST", "/wash", headers, json={"company": "Acme AB", "rows": rows * 5})
    assert too_many.status_code == 413 and str(SMALL_WASH_BODY) in too_many.json()["message"]
    lookup = await call(app, "POST", "/customers/lookup", key_for(app), json={"identity_number": "1" * 20, "padding": "x" * SMALL_BODY})
    assert lookup.status_code == 413


# --- Rate limits ------------------------------------------------------------------------


async def test_a_key_over_its_rate_is_429_with_retry_after_and_other_keys_are_not_affected(tmp_path):
    app = make_app(tmp_path, api_rate_limit="3/hour")
    busy, other = key_for(app, "reader"), key_for(app, "reader")
    answers = [await call(app, "GET", "/customers/C-1", busy) for _ in range(5)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429, 429]
    limited = answers[3]
    assert limited.json()["error"] == "RATE_LIMITED" and set(limited.json()) == {"error", "message"}
    assert 0 < int(limited.headers["retry-after"]) <= 3600
    assert (await call(app, "GET", "/customers/C-1", other)).status_code == 404


async def test_requests_without_a_valid_key_are_limited_per_address_and_then_not_even_looked_up(tmp_path, monkeypatch):
    app = make_app(tmp_path, api_auth_failure_rate_limit="3/hour")
    valid = key_for(app, "reader")
    lookups = []
    real_find_key = auth_module.find_key
    monkeypatch.setattr(auth_module, "find_key", lambda session, key: lookups.append(1) or real_find_key(session, key))
    wrong = [await call(app, "GET", "/customers/C-1", {"Authorization": f"Bearer rv_guess{n}"}) for n in range(3)]
    assert [a.status_code for a in wrong] == [401, 401, 401]
    flood = [await call(app, "GET", "/customers/C-1", {"Authorization": f"Bearer rv_guess{n}"}) for n in range(20)]
    assert {a.status_code for a in flood} == {429} and int(flood[0].headers["retry-after"]) > 0
    assert len(lookups) == 3, "a limited address's keys are not looked up"
    missing = await call(app, "GET", "/customers/C-1")
    assert missing.status_code == 429
    assert (await call(app, "GET", "/customers/C-1", valid)).status_code == 429, "the address waits, whatever key it sends now"


def test_a_rate_limit_that_is_not_one_names_the_setting(tmp_path):
    with pytest.raises(ValueError, match="api_rate_limit"):
        make_app(tmp_path, api_rate_limit="fast")


def test_the_limits_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("REGISTERVARD_API_MAX_BODY_BYTES", "1234")
    monkeypatch.setenv("REGISTERVARD_API_MAX_WASH_BODY_BYTES", "5678")
    monkeypatch.setenv("REGISTERVARD_API_RATE_LIMIT", "7/minute")
    monkeypatch.setenv("REGISTERVARD_API_AUTH_FAILURE_RATE_LIMIT", "2/second")
    settings = Settings.from_env()
    assert (settings.api_max_body_bytes, settings.api_max_wash_body_bytes) == (1234, 5678)
    assert (settings.api_rate_limit, settings.api_auth_failure_rate_limit) == ("7/minute", "2/second")
    assert (Settings().api_rate_limit, Settings().api_auth_failure_rate_limit, Settings().api_max_body_bytes) == ("50/second", "10/second", 1_048_576)


# --- Metrics ----------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template_method_and_status_without_a_key_and_without_personal_data(app):
    headers = key_for(app)
    await call(app, "GET", f"/customers/{VALID_PERSONNUMMER}", headers)
    await call(app, "GET", f"/customers/{VALID_PERSONNUMMER}", headers)
    await call(app, "GET", "/customers/C-1/history")
    await call(app, "GET", f"/elsewhere/{VALID_PERSONNUMMER}")
    await call(app, "PURGE", "/customers/C-1", headers)
    exposed = await call(app, "GET", "/metrics")
    assert exposed.status_code == 200 and exposed.headers["content-type"].startswith("text/plain")
    text = exposed.text
    assert 'registervard_api_requests_total{method="GET",route="/customers/{customer_id}",status="404"} 2.0' in text
    assert 'registervard_api_requests_total{method="GET",route="/customers/{customer_id}/history",status="401"} 1.0' in text
    assert 'registervard_api_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'method="OTHER"' in text and "PURGE" not in text
    assert 'registervard_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/customers/{customer_id}",status="404"}' in text
    for sent in (VALID_PERSONNUMMER, "C-1", "elsewhere", headers["Authorization"][7:]):
        assert sent not in text
