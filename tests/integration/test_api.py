"""The HTTP API through a real running server (`registervard serve` as a subprocess), the real broker and both databases.

One register per database is built through the whole backbone (publish, worker,
projections), then served; every test asks that server over loopback.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.access import DisclosureRow
from projections.audit import AuditProjection, AuditRow
from projections.data_keys import key_store
from projections.database import connect
from projections.read import customer_record
from projections.register import RegisterProjection
from projections.runner import run_projection
from registervard.api.api_keys import create_key
from registervard.api.roles import ENDPOINTS, ROLES, may_call
from registervard.demo import personnummer
from tests.builders import line, person
from tests.conftest import drop_database, eventually, service_env
from tests.integration.api_server import running_api
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.kafka

ACME = "Acme AB"


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


@dataclass
class Served:
    base: str
    settings: Settings
    keys: dict[str, str]
    """role -> key"""
    key_names: dict[str, str]
    anna: str
    anna_twin: str
    """Registered with Anna's personnummer too."""
    number: str
    """Anna's personnummer (each served register has its own: the two share the topics)."""
    protected_number: str
    bertil: str
    """Protected identity."""
    cecilia: str
    """Erased."""
    dora: str
    """Erased by the roles matrix test (the one registered customer it may erase)."""
    log: Path
    process: subprocess.Popen

    def get(self, path: str, role: str | None = None, **kwargs) -> httpx.Response:
        return httpx.get(self.base + path, headers=_auth(self.keys.get(role)), timeout=30, **kwargs)

    def post(self, path: str, role: str | None = None, **kwargs) -> httpx.Response:
        return httpx.post(self.base + path, headers=_auth(self.keys.get(role)), timeout=30, **kwargs)


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def bad_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def registervard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "registervard", *args], env=env, capture_output=True, text=True, timeout=120)


async def project_until(settings: Settings, done) -> None:
    """Run the register and audit projections until `done()` holds (the worker may still be admitting events)."""
    engine = connect(settings.database_url)

    async def probe():
        await run_projection(settings, RegisterProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
        await run_projection(settings, AuditProjection(), keys=key_store(settings), engine=engine, until_caught_up=True)
        return done(engine)

    try:
        await eventually(probe, what="the events in the register and the audit trail")
    finally:
        engine.dispose()


def in_trail(*customers: str, events: int):
    """done(): the register has every customer and the audit trail at least `events` entries for them."""

    def done(engine) -> bool:
        with Session(engine) as session:
            found = session.scalar(select(sqlalchemy.func.count()).select_from(AuditRow).where(AuditRow.customer_id.in_(customers)))
        settings = Settings(database_url=str(engine.url.render_as_string(hide_password=False)))
        return found >= events and all(customer_record(settings, c) for c in customers)

    return done


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request, settings, worker, tmp_path_factory) -> Served:
    """A register with four customers in a fresh database, a key per role, and `registervard serve` on it."""
    folder = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{folder / 'register.db'}", None
    else:
        server = sqlalchemy.make_url(request.getfixturevalue("postgres"))
        name = f"test_{uuid.uuid4().hex[:12]}"
        admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            drop_database(admin, name)
            admin.dispose()

    settings = replace(settings, database_url=url)
    tag = uuid.uuid4().hex[:8]
    anna, twin, bertil, cecilia, dora = (f"C-{who}-{tag}" for who in ("anna", "twin", "bertil", "cecilia", "dora"))
    rng = random.Random(tag)
    number, protected_number = personnummer(rng), personnummer(rng)
    events = [
        person(anna, identity_number=number),
        line("ConsentGiven", anna, purpose="MARKETING", channel="EMAIL", company=ACME),
        line("NixRegistered", anna, phone="+46701234567", register_version_date="2025-01-15"),
        person(twin, identity_number=number),  # the same personnummer: a finding, not an error
        person(bertil, identity_number=protected_number),
        line("ProtectedIdentitySet", bertil, protection="SKYDDAD_FOLKBOKFORING"),
        person(cecilia, identity_number=personnummer(rng)),
        line("CustomerErased", cecilia, reason="CUSTOMER_REQUEST"),
        person(dora, identity_number=personnummer(rng)),
    ]

    async def build() -> None:
        async with Publisher(settings) as publisher:
            await publisher.publish([parse_event(e) for e in events])
        await project_until(settings, in_trail(anna, twin, bertil, cecilia, dora, events=len(events)))

    asyncio.run(build())
    engine = connect(url)
    keys, names = {}, {}
    for role in ROLES:
        facts, keys[role] = create_key(engine, f"test {role} system {tag}", role)
        names[role] = facts.name
    engine.dispose()

    log = folder / "server.log"
    with running_api(settings, log) as (base, process):  # the default limits: a test client stays well under them
        yield Served(base, settings, keys, names, anna, twin, number, protected_number, bertil, cecilia, dora, log, process)
    if drop:
        drop()


def disclosures(served: Served) -> list[DisclosureRow]:
    engine = connect(served.settings.database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(DisclosureRow).order_by(DisclosureRow.id)))
    finally:
        engine.dispose()


# --- Every endpoint and every role --------------------------------------------------


def requests_for(served: Served) -> dict[str, tuple[str, str, dict]]:
    """One valid request per endpoint of roles.ENDPOINTS: (method, path, httpx kwargs)."""
    a = served.anna
    return {
        "customer": ("GET", f"/customers/{a}", {}),
        "lookup": ("POST", "/customers/lookup", {"json": {"identity_number": served.number}}),
        "find": ("POST", "/customers/find", {"json": {"query": served.number}}),
        "history": ("GET", f"/customers/{a}/history", {}),
        "contactability": ("GET", f"/customers/{a}/contactability", {"params": {"channel": "EMAIL", "purpose": "MARKETING", "company": ACME}}),
        "contact_persons": ("GET", f"/customers/{a}/contact-persons", {}),
        "changes": ("GET", "/changes", {"params": {"limit": 5}}),
        "audit_verify": ("GET", "/audit/verify", {}),
        "wash": ("POST", "/wash", {"json": {"company": ACME, "rows": [{"customer_id": a}]}}),
        "erase": ("POST", f"/customers/{served.dora}/erase", {"json": {"reason": "CUSTOMER_REQUEST"}}),
        # A merge a rule refuses (a protected identity): the role is checked, and nothing is published.
        "duplicates_merge": ("POST", f"/customers/{a}/merge", {"json": {"dropped_customer_id": served.bertil}}),
        "duplicates_find": ("GET", "/duplicates", {"params": {"limit": 5}}),
    }


def test_every_role_gets_200_exactly_on_the_endpoints_the_roles_table_gives_it_and_403_elsewhere(served):
    calls = requests_for(served)
    api = {name for name, route in ENDPOINTS.items() if not route.split(" ", 1)[1].startswith("/console/")}  # the console's own pages are tested with it
    assert set(calls) == api, "a new endpoint needs a request here"
    outcome, expected = {}, {}
    for role in ROLES:
        for endpoint, (method, path, kwargs) in calls.items():
            response = httpx.request(method, served.base + path, headers=_auth(served.keys[role]), timeout=30, **kwargs)
            outcome[(role, endpoint)] = response.status_code
            expected[(role, endpoint)] = {"erase": 202, "duplicates_merge": 409}.get(endpoint, 200) if may_call(role, endpoint) else 403
            if response.status_code == 403:
                body = response.json()
                assert body["error"] == "FORBIDDEN_FOR_ROLE" and f"'{role}'" in body["message"]
    assert outcome == expected
    assert expected[("admin", "audit_verify")] == 200 and expected[("reader", "history")] == 403

    def erased(engine) -> bool:  # wait for Dora's erasure, so that the tests after this one see a register at rest
        return (customer_record(served.settings, served.dora) or {}).get("status") == "ERASED" and in_trail(served.dora, events=3)(engine)

    asyncio.run(project_until(served.settings, erased))


def test_no_key_an_unknown_key_and_a_revoked_key_get_401_and_a_key_works_in_either_header(served):
    path = f"/customers/{served.anna}"
    missing = served.get(path)
    assert missing.status_code == 401 and missing.json()["error"] == "MISSING_API_KEY"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(served.base + path, headers={"Authorization": "Bearer rv_not-a-key"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "UNKNOWN_API_KEY"
    assert httpx.get(served.base + path, headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    assert httpx.get(served.base + path, headers={"X-API-Key": served.keys["reader"]}).status_code == 200

    env = service_env(served.settings)
    created = registervard("apikeys", "create", "soon revoked", "--role", "reader", "--json", env=env)
    assert created.returncode == 0, created.stderr
    fresh = json.loads(created.stdout)
    assert fresh["key"].startswith("rv_") and fresh["role"] == "reader"
    headers = {"Authorization": f"Bearer {fresh['key']}"}
    assert httpx.get(served.base + path, headers=headers).status_code == 200
    listed = registervard("apikeys", "list", "--json", env=env)
    assert fresh["key_id"] in listed.stdout and fresh["key"] not in listed.stdout
    assert registervard("apikeys", "revoke", fresh["key_id"], env=env).returncode == 0
    revoked = httpx.get(served.base + path, headers=headers)
    assert revoked.status_code == 401 and revoked.json()["error"] == "API_KEY_REVOKED"
    assert json.loads(registervard("apikeys", "list", "--json", env=env).stdout)[-1]["revoked_at"] is not None


# --- What each endpoint answers -------------------------------------------------------


def test_a_customer_is_their_register_row_and_a_reader_does_not_see_consent_detail(served):
    full = served.get(f"/customers/{served.anna}", "customer_service").json()
    as_read = TypeAdapter(dict).dump_python(customer_record(served.settings, served.anna), mode="json")
    assert full == {**as_read, "lapsed_consents": []}, "the API serves the register row as read.py reads it, with the consents past their lapse date"
    assert (full["surname"], full["street"], full["active_consents"], full["nix_registered"]) == ("Svensson", "Storgatan 1", 1, True)
    reader = served.get(f"/customers/{served.anna}", "reader").json()
    assert "active_consents" not in reader and "nix_registered" not in reader and reader["surname"] == "Svensson"
    unknown = served.get("/customers/C-nobody", "admin")
    assert unknown.status_code == 404 and unknown.json()["error"] == "CUSTOMER_NOT_FOUND"


def test_a_protected_identity_comes_back_without_name_and_address(served):
    record = served.get(f"/customers/{served.bertil}", "admin").json()
    assert record["protected"] is True
    for field in ("given_names", "surname", "care_of", "street", "postal_code", "city", "country", "address_since"):
        assert record[field] is None, field
    history = served.get(f"/customers/{served.bertil}/history", "customer_service").json()
    assert history["protected"] is True and history["addresses"] == [] and history["names"] == []
    found = served.post("/customers/lookup", "customer_service", json={"identity_number": served.protected_number}).json()["customers"]
    assert [c["customer_id"] for c in found] == [served.bertil] and found[0]["street"] is None and found[0]["surname"] is None


def test_lookup_by_personnummer_finds_every_customer_with_it_and_an_invalid_number_gets_the_reason(served):
    found = served.post("/customers/lookup", "customer_service", json={"identity_number": served.number})
    assert found.status_code == 200
    assert sorted(c["customer_id"] for c in found.json()["customers"]) == sorted([served.anna, served.anna_twin])
    ten_digits = served.post("/customers/lookup", "customer_service", json={"identity_number": f"{served.number[2:8]}-{served.number[8:]}"}).json()
    assert {c["customer_id"] for c in ten_digits["customers"]} == {served.anna, served.anna_twin}
    nobody = served.post("/customers/lookup", "customer_service", json={"identity_number": personnummer(random.Random(1))})
    assert nobody.status_code == 200 and nobody.json() == {"customers": []}
    invalid = served.post("/customers/lookup", "customer_service", json={"identity_number": bad_check_digit(served.number)})
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "INVALID_IDENTITY_NUMBER" and "check digit" in invalid.json()["message"]
    assert bad_check_digit(served.number)[2:] not in invalid.text
    missing = served.post("/customers/lookup", "customer_service", json={})
    assert missing.status_code == 422 and missing.json() == {"error": "INVALID_REQUEST", "message": "body.identity_number: Field required"}


def test_contactability_answers_allowed_with_every_reason(served):
    path = f"/customers/{served.anna}/contactability"
    allowed = served.get(path, "marketing", params={"channel": "EMAIL", "purpose": "MARKETING", "company": ACME, "at": "2025-02-01T10:00:00Z"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["allowed"] is True and [r["code"] for r in allowed.json()["reasons"]] == ["CONSENT_VALID"]
    other = served.get(path, "marketing", params={"channel": "EMAIL", "purpose": "MARKETING", "company": "Other AB"}).json()
    assert other["allowed"] is False and "NO_CONSENT" in [r["code"] for r in other["reasons"]]
    call = served.get(path, "marketing", params={"channel": "PHONE", "purpose": "TELEMARKETING", "company": "Other AB", "at": "2025-02-01T10:00:00Z"}).json()
    assert call["allowed"] is False and "NIX_REGISTERED" in [r["code"] for r in call["reasons"] if r["denies"]]
    assert all(r["message"] and "+4670" not in r["message"] for r in call["reasons"])
    bad = served.get(path, "marketing", params={"channel": "FAX", "purpose": "MARKETING", "company": ACME})
    assert bad.status_code == 422 and bad.json()["message"].startswith("query.channel: Input should be")
    naive = served.get(path, "marketing", params={"channel": "EMAIL", "purpose": "MARKETING", "company": ACME, "at": "2025-02-01T10:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["message"]
    assert (
        served.get("/customers/C-nobody/contactability", "marketing", params={"channel": "EMAIL", "purpose": "MARKETING", "company": ACME}).status_code == 404
    )


def test_the_change_feed_pages_through_every_change_and_a_stored_cursor_gets_only_what_changed_since(served):
    cursor, seen, pages = 0, {}, 0
    while pages < 1000:
        page = served.get("/changes", "auditor", params={"cursor": cursor, "limit": 2}).json()
        assert page["cursor"] == cursor and len(page["changes"]) <= 2
        if page["next_cursor"] == cursor:
            assert page["changes"] == []
            break
        assert page["next_cursor"] > cursor
        seen.update({item["customer_id"]: item for item in page["changes"]})
        cursor, pages = page["next_cursor"], pages + 1
    assert {served.anna, served.anna_twin, served.bertil, served.cecilia} <= set(seen)
    assert seen[served.cecilia] == {"customer_id": served.cecilia, "seq": seen[served.cecilia]["seq"], "erased": True}
    assert seen[served.anna]["erased"] is False and seen[served.anna]["record"]["surname"] == "Svensson"
    assert seen[served.bertil]["record"]["street"] is None

    async def move() -> None:
        event = line("AddressChanged", served.anna, effective_date="2025-03-01", address={"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"})
        async with Publisher(served.settings) as publisher:
            await publisher.publish([parse_event(event)])

        def moved(engine) -> bool:
            return (customer_record(served.settings, served.anna) or {}).get("street") == "Ågatan 2" and in_trail(served.anna, events=4)(engine)

        await project_until(served.settings, moved)

    asyncio.run(move())
    page = served.get("/changes", "auditor", params={"cursor": cursor}).json()
    assert [item["customer_id"] for item in page["changes"]] == [served.anna]
    assert page["changes"][0]["record"]["street"] == "Ågatan 2" and page["next_cursor"] > cursor
    assert served.get("/changes", "auditor", params={"cursor": page["next_cursor"]}).json()["changes"] == []
    assert served.get("/changes", "auditor", params={"cursor": -1}).status_code == 422


def test_audit_verify_health_ready_and_docs(served):
    verified = served.get("/audit/verify", "auditor").json()
    assert verified["intact"] is True and verified["entries"] >= 8
    assert served.get("/health").json() == {"status": "ok"}
    ready = served.get("/ready")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["at_head"] is True and checks["kafka"] == "reachable" and isinstance(checks["register"]["lag"], int)
    assert served.get("/docs").status_code == 200
    spec = served.get("/openapi.json").json()
    assert {"/customers/{customer_id}", "/customers/lookup", "/changes", "/audit/verify", "/ready"} <= set(spec["paths"])
    assert "next_cursor" in spec["paths"]["/changes"]["get"]["description"]
    assert served.get("/nowhere").json()["error"] == "NOT_FOUND"


def test_every_disclosure_is_recorded_with_the_keys_name_and_the_endpoint_and_refusals_are_not(served):
    before = len(disclosures(served))
    served.get(f"/customers/{served.bertil}", "customer_service")
    served.get(f"/customers/{served.bertil}/history", "auditor")
    served.post("/customers/lookup", "customer_service", json={"identity_number": served.number})
    served.get(f"/customers/{served.bertil}/contactability", "marketing", params={"channel": "POST", "purpose": "MARKETING", "company": ACME})
    served.get(f"/customers/{served.bertil}", "marketing")  # 403: nothing disclosed
    served.get(f"/customers/{served.bertil}")  # 401
    new = [(d.customer_id, d.recipient, d.channel, d.purpose) for d in disclosures(served)[before:]]
    names = served.key_names
    assert new == [
        (served.bertil, names["customer_service"], "api", "customer"),
        (served.bertil, names["auditor"], "api", "history"),
        *sorted([(served.anna, names["customer_service"], "api", "lookup"), (served.anna_twin, names["customer_service"], "api", "lookup")]),
        (served.bertil, names["marketing"], "api", "contactability"),
    ]
    fed = served.get("/changes", "admin", params={"cursor": 0, "limit": 1000}).json()["changes"]
    by_feed = {d.customer_id for d in disclosures(served) if d.purpose == "changes"}
    assert {i["customer_id"] for i in fed if not i["erased"]} <= by_feed and served.cecilia not in by_feed


def test_refused_requests_are_logged_with_key_id_role_and_route_but_no_key_and_no_personal_data(served):
    served.get(f"/customers/{served.anna}/history", "reader")
    served.post("/customers/lookup", "marketing", json={"identity_number": served.number})
    httpx.post(served.base + "/customers/lookup", json={"identity_number": served.number}, headers={"X-API-Key": "rv_wrong"})
    served.post("/customers/lookup", "customer_service", json={"identity_number": served.number})
    time.sleep(0.5)
    text = served.log.read_text()
    refusals = [json.loads(entry) for entry in text.splitlines() if '"api_request_refused"' in entry]
    assert {(r["status"], r["role"], r["path"]) for r in refusals} >= {
        (403, "reader", "/customers/{customer_id}/history"),
        (403, "marketing", "/customers/lookup"),
        (401, None, "/customers/lookup"),
    }
    assert all(r["key_id"] for r in refusals if r["status"] == 403)
    for secret in (
        served.number,
        served.number[2:],
        f"{served.number[2:8]}-{served.number[8:]}",
        served.protected_number,
        "Svensson",
        "Storgatan",
        "Anna",
        "rv_wrong",
        *served.keys.values(),
    ):
        assert secret not in text, f"the server's log holds {secret[:6]}..."


def test_a_call_list_is_washed_over_http_with_a_reason_for_every_number(served):
    body = {"company": ACME, "rows": [{"phone": "070-123 45 67"}, {"phone": "+46709999999"}, {"phone": "not a number"}]}
    response = served.post("/wash", "marketing", json=body)
    assert response.status_code == 200
    known, unknown, invalid = response.json()["results"]
    assert known["phone"] == "+46701234567" and served.anna in known["customer_ids"]
    assert "UNKNOWN_NUMBER" in unknown["reasons"] and not unknown["may_call"]
    assert "INVALID_NUMBER" in invalid["reasons"] and not invalid["may_call"]


# --- Nothing a caller sends can crash the server, be published or come back -------------


def test_values_out_of_range_are_422_naming_the_parameter_and_the_connection_stays_up(served):
    """Once a 500 that dropped the connection (OverflowError converting year 1 at +14:00 to UTC; a cursor over 64 bits)."""
    headers = _auth(served.keys["admin"])
    path = f"/customers/{served.anna}/contactability"
    query = {"channel": "EMAIL", "purpose": "MARKETING", "company": ACME}
    with httpx.Client(base_url=served.base, headers=headers, timeout=30) as client:
        for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z", "2100-01-01T00:00:00Z"):
            answer = client.get(path, params={**query, "at": moment})
            assert answer.status_code == 422, (moment, answer.text)
            assert answer.json()["error"] == "INVALID_REQUEST" and answer.json()["message"].startswith("query.at:")
            assert moment not in answer.text
        for moment in ("1900-01-01T00:00:00+14:00", "2099-12-31T23:59:59-14:00"):
            assert client.get(path, params={**query, "at": moment}).status_code == 200, moment
        too_far = client.get("/changes", params={"cursor": 2**63})
        assert too_far.status_code == 422 and too_far.json()["message"].startswith("query.cursor:")
        assert str(2**63) not in too_far.text
        last = client.get("/changes", params={"cursor": 2**63 - 1}).json()
        assert last["changes"] == [] and last["next_cursor"] == 2**63 - 1
        assert client.get("/changes", params={"limit": 10**30}).status_code == 422
        wash = client.post("/wash", json={"company": ACME, "at": "0001-01-01T00:00:00+14:00", "rows": [{"customer_id": served.anna}]})
        assert wash.status_code == 422 and wash.json()["message"].startswith("body.at:")
        assert client.get(f"/customers/{served.anna}").status_code == 200, "the same connection still answers"


def test_erasure_refuses_an_identity_number_as_id_and_an_unknown_customer_and_publishes_neither(served):
    ten_digits = f"{served.number[2:8]}-{served.number[8:]}"
    for number in (served.number, ten_digits):
        refused = served.post(f"/customers/{number}/erase", "admin", json={"reason": "CUSTOMER_REQUEST"})
        assert refused.status_code == 422 and refused.json()["error"] == "INVALID_CUSTOMER_ID", refused.text
        assert served.number[2:8] not in refused.text
    unknown = served.post("/customers/C-never-registered/erase", "admin", json={"reason": "CUSTOMER_REQUEST"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "CUSTOMER_NOT_FOUND"
    invalid = served.post(f"/customers/{'C' * 101}/erase", "admin", json={"reason": "CUSTOMER_REQUEST"})
    assert invalid.status_code == 422 and invalid.json()["message"].startswith("path.customer_id:")
    assert "C" * 101 not in invalid.text
    again = served.post(f"/customers/{served.dora}/erase", "admin", json={"reason": "CUSTOMER_REQUEST"})
    assert again.status_code == 202, "an erased customer is still in the register: asking again is accepted (and takes effect once)"

    def marker_seen(messages) -> bool:  # Dora's second request was sent after the refused ones
        return sum(m.key == served.dora.encode() for m in messages) >= 2

    intake = asyncio.run(read_topic(served.settings.kafka, served.settings.intake_topic, until=marker_seen))
    assert marker_seen(intake)
    refused_ids = {served.number.encode(), ten_digits.encode(), b"C-never-registered", b"C" * 101}
    assert not [m.offset for m in intake if m.key in refused_ids], "every event is keyed by its customer id: none was published for these"


def test_error_bodies_name_the_field_and_never_repeat_what_was_sent(served):
    number, ten_digits = served.number, f"{served.number[2:8]}-{served.number[8:]}"
    answers = {
        "customer by number": served.get(f"/customers/{number}", "admin"),
        "history by number": served.get(f"/customers/{ten_digits}/history", "admin"),
        "long id": served.get(f"/customers/{'9' * 5000}", "admin"),
        "no such endpoint": served.get(f"/nowhere/{number}", "admin"),
        "wrong method": httpx.delete(f"{served.base}/customers/{number}", headers=_auth(served.keys["admin"])),
        "body not json": httpx.post(
            f"{served.base}/customers/lookup",
            content=f'{{"identity_number": {number}'.encode(),
            headers={**_auth(served.keys["admin"]), "Content-Type": "application/json"},
        ),
        "company too long": served.get(
            f"/customers/{served.anna}/contactability", "admin", params={"channel": "EMAIL", "purpose": "MARKETING", "company": "Anna Svensson " * 30}
        ),
        "wash id": served.post("/wash", "admin", json={"company": ACME, "rows": [{"customer_id": f"{number} Anna"}]}),
    }
    assert answers["customer by number"].status_code == 404 and answers["history by number"].status_code == 404
    assert answers["long id"].status_code == 422 and answers["wrong method"].status_code == 405
    for what, answer in answers.items():
        body = answer.json()
        assert set(body) == {"error", "message"}, what
        for sent in (number, number[2:], ten_digits, "9" * 50, "Anna"):
            assert sent not in answer.text, f"{what}: the body repeats {sent[:4]}..."
    assert answers["company too long"].json()["message"].startswith("query.company:")
    assert answers["wash id"].json()["message"].startswith("body.rows.0.customer_id:")
