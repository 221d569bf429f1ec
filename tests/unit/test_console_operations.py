"""The console's operations pages in-process (TestClient): register health, dead letters and audit, for each role,
and the CSRF token on every form. Dead letters are handed to the pages as Kafka would give them (a stand-in for
`read_letters`); the browser test sends them through the real broker and worker."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from events import codec
from events.deadletters import DeadLetter
from events.jsonlines import parse_event
from events.sealing import seal
from events.settings import Settings
from projections.audit import AuditRow
from projections.data_keys import key_store
from projections.database import connect
from projections.deadletter_resolutions import How, resolutions
from registervard.api.api_keys import create_key
from registervard.api.roles import ROLES, may_call
from registervard.audit_runs import AuditRuns
from registervard.deadletter_actions import Letters
from registervard.web import deadletter_pages, health_pages
from tests import console_register as planted
from tests.unit.test_console_web import app_for, csrf_of, signed_in

NEW_PERSON = "P-NEWCOMER"
PAGES = {"/console/health": "health_report", "/console/health/report.html": "health_report", "/console/audit": "audit_verify"}


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return planted.build(tmp_path_factory.mktemp("operations") / "register.db", customers=0)


@pytest.fixture(scope="module")
def keys(register: Settings) -> dict[str, str]:
    return planted.role_keys(register)


@pytest.fixture(scope="module")
def app(register: Settings, tmp_path_factory: pytest.TempPathFactory):
    served = app_for(register)
    served.state.audit_runs = AuditRuns(tmp_path_factory.mktemp("state") / "audit-verifications.json", register.database_url)
    return served


def refused_registration(register: Settings) -> DeadLetter:
    """A registration the worker refused (ALREADY_REGISTERED: the id was mistyped as a customer's who exists), with
    its personal fields sealed with the customer's key, as a dead letter holds it."""
    document = {
        "type": "CustomerRegistered",
        "customer_id": planted.LAPSED,
        "occurred_at": "2025-03-01T09:00:00Z",
        "recorded_at": "2025-03-01T09:00:00Z",
        "source": "CRM",
        "customer_kind": "PERSON",
        "registration": {
            "identity_number": "194107086995",
            "name": {"given_names": "Nyfiken", "surname": "Nykomling"},
            "address": {"street": "Nygatan 9", "postal_code": "11122", "city": "Stockholm"},
        },
    }
    event = parse_event(document)
    data_key = key_store(register).key_for(planted.LAPSED, create=True)
    assert data_key is not None
    return DeadLetter(
        partition=0,
        offset=7,
        rejected_at=datetime(2025, 3, 1, 9, 0, 1, tzinfo=UTC),
        reason_code="ALREADY_REGISTERED",
        reason="customer_id is already registered; send the changes as their own events",
        event_type="CustomerRegistered",
        event_id=str(event.event_id),
        key=planted.LAPSED.encode(),
        value=codec.encode(seal(event, data_key)),
    )


@pytest.fixture()
def letters(register: Settings, monkeypatch: pytest.MonkeyPatch) -> list[DeadLetter]:
    """The dead-letter topic, as the pages read it: one refused registration (open unless a test resolves it)."""
    on_topic = [refused_registration(register)]

    async def read(settings: Settings, engine: Any, **_: Any) -> Letters:
        return Letters(on_topic, resolutions(engine, settings.dead_letter_topic, on_topic))

    monkeypatch.setattr(deadletter_pages, "read_letters", read)
    return on_topic


def test_each_operations_page_is_shown_exactly_to_the_roles_the_roles_table_gives_it(app, keys, letters) -> None:
    pages = {**PAGES, "/console/deadletters": "deadletters", "/console/deadletters/0:7": "deadletters"}
    for role in ROLES:
        client = signed_in(app, keys[role])
        for path, endpoint in pages.items():
            answer = client.get(path, follow_redirects=False)
            # The file answers 202 (a page that waits) until the report computed in the background is done.
            allowed = {200, 202} if path == "/console/health/report.html" else {200}
            assert answer.status_code in (allowed if may_call(role, endpoint) else {403}), (role, path)
    assert may_call("auditor", "health_report") and not may_call("auditor", "deadletters") and not may_call("customer_service", "health_report")
    stranger = TestClient(app).get("/console/health", follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/console/sign-in?next=")


def test_every_form_needs_the_sessions_csrf_token_and_a_role_that_may(app, keys, letters, register) -> None:
    admin = signed_in(app, keys["admin"])
    token = csrf_of(admin.get("/console/audit").text)
    posts = {
        "/console/audit/verify": {},
        "/console/health": {"company": "-"},
        "/console/deadletters/0:7/retry": {},
        "/console/deadletters/0:7/correct": {"document": "{}"},
        "/console/deadletters/0:7/resolve": {"note": "fixed in the CRM"},
    }
    for path, form in posts.items():
        assert admin.post(path, data=form, follow_redirects=False).status_code == 403, path
        assert admin.post(path, data={**form, "csrf": token + "x"}, follow_redirects=False).status_code == 403, path
    reader = signed_in(app, keys["reader"])
    reader_token = csrf_of(reader.get("/console/search").text)
    for path, form in posts.items():
        assert reader.post(path, data={**form, "csrf": reader_token}, follow_redirects=False).status_code == 403, path
    assert app.state.audit_runs.last() is None, "no verification ran"
    assert resolutions(connect(register.database_url), register.dead_letter_topic, letters) == {}, "no letter was resolved"


def test_the_audit_chain_is_verified_from_the_page_and_its_last_run_is_kept(app, keys, register) -> None:
    auditor = signed_in(app, keys["auditor"])
    page = auditor.get("/console/audit").text
    assert "Kedjan har inte kontrollerats härifrån än." in page
    answer = auditor.post("/console/audit/verify", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/audit"
    with Session(connect(register.database_url)) as session:
        entries = session.scalar(select(func.count()).select_from(AuditRow))
    page = auditor.get("/console/audit").text
    assert f"Kedjan är hel: {entries} poster kontrollerade." in page and "Console auditor" in page
    last = app.state.audit_runs.last()
    assert last is not None and last.intact and last.entries == entries and last.by == "Console auditor"


def test_a_broken_chain_is_shown_with_the_first_entry_that_breaks_it(tmp_path: Path, keys) -> None:
    register = planted.build(tmp_path / "register.db", customers=0)
    engine = connect(register.database_url)
    with engine.begin() as connection:  # someone with the rights to drop the guard changes an entry
        connection.execute(text("DROP TRIGGER audit_trail_no_update"))
        connection.execute(text("UPDATE audit_trail SET source = 'FORGED' WHERE seq = 2"))
    key = create_key(engine, "Revisorn", "auditor")[1]
    engine.dispose()
    served = app_for(register)
    served.state.audit_runs = AuditRuns(tmp_path / "runs.json", register.database_url)
    client = signed_in(served, key)
    client.post("/console/audit/verify", data={"csrf": csrf_of(client.get("/console/audit").text)})
    page = client.get("/console/audit").text
    assert "Kedjan är bruten vid post 2 (CONTENT_CHANGED)" in page and "lita inte på post 2" in page


def test_a_dead_letter_is_inspected_with_its_personal_data_sealed_and_sent_corrected_with_it_restored(app, keys, letters, monkeypatch) -> None:
    sent: list[Any] = []

    async def send(settings: Settings, engine: Any, letter: DeadLetter, event: Any, *, by: str) -> None:
        sent.append((letter.ref, event, by))

    monkeypatch.setattr(deadletter_pages, "send_corrected", send)
    admin = signed_in(app, keys["admin"])
    listing = admin.get("/console/deadletters").text
    assert "ALREADY_REGISTERED" in listing and 'href="/console/deadletters/0:7"' in listing
    page = admin.get("/console/deadletters/0:7").text
    assert "förseglad" in page and "customer_kind" in page and "PERSON" in page
    for personal in ("Nyfiken", "Nykomling", "Nygatan", "194107086995", "19410708-6995"):
        assert personal not in page, "a dead letter's personal data stays sealed in the console"
    document = json.loads(re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S)[1].replace("&#34;", '"').replace("&quot;", '"'))  # type: ignore[index]
    assert document["registration"] == "(sealed)" and document["customer_id"] == planted.LAPSED

    token = csrf_of(page)
    bad = admin.post("/console/deadletters/0:7/correct", data={"csrf": token, "document": "{not json"})
    assert bad.status_code == 422 and "inte giltig JSON" in bad.text
    refused = admin.post("/console/deadletters/0:7/correct", data={"csrf": token, "document": json.dumps({**document, "occurred_at": "tomorrow"})})
    assert refused.status_code == 422 and "occurred_at" in refused.text and not sent

    fixed = json.dumps({**document, "customer_id": NEW_PERSON})
    corrected = admin.post("/console/deadletters/0:7/correct", data={"csrf": token, "document": fixed}, follow_redirects=False)
    assert corrected.status_code == 303 and corrected.headers["location"] == "/console/deadletters/0:7?done=corrected"
    [(ref, event, by)] = sent
    assert ref == "0:7" and event.customer_id == NEW_PERSON and by == "Console admin (console)"
    assert event.registration.name.surname == "Nykomling" and event.registration.identity_number == "194107086995", "the sealed fields went as they came"
    assert str(event.event_id) == letters[0].event_id


def test_a_dead_letter_is_sent_again_or_marked_resolved_once(app, keys, letters, register, monkeypatch) -> None:
    retried: list[str] = []

    async def retry(settings: Settings, engine: Any, keys_: Any, chosen: list[DeadLetter], *, by: str) -> list[DeadLetter]:
        retried.extend(letter.ref for letter in chosen)
        return list(chosen)

    monkeypatch.setattr(deadletter_pages, "retry", retry)
    admin = signed_in(app, keys["admin"])
    token = csrf_of(admin.get("/console/deadletters/0:7").text)
    assert admin.post("/console/deadletters/0:7/retry", data={"csrf": token}, follow_redirects=False).status_code == 303 and retried == ["0:7"]

    empty = admin.post("/console/deadletters/0:7/resolve", data={"csrf": token, "note": "  "})
    assert empty.status_code == 422 and "Skriv varför brevet är löst." in empty.text
    marked = admin.post("/console/deadletters/0:7/resolve", data={"csrf": token, "note": "id mistyped; sent again as P-NEWCOMER"}, follow_redirects=False)
    assert marked.status_code == 303
    [resolution] = resolutions(connect(register.database_url), register.dead_letter_topic, letters).values()
    assert resolution.how is How.MARKED and resolution.resolved_by == "Console admin (console)" and resolution.note.startswith("id mistyped")
    page = admin.get("/console/deadletters/0:7?done=marked").text
    assert "Brevet är markerat löst." in page and "/console/deadletters/0:7/retry" not in page, "a resolved letter has no actions"
    again = admin.post("/console/deadletters/0:7/resolve", data={"csrf": token, "note": "twice"})
    assert again.status_code == 409
    assert "0:7" not in admin.get("/console/deadletters").text.split('id="letters"')[-1], "the open list leaves it out"
    assert "0:7" in admin.get("/console/deadletters?all=1").text


@pytest.fixture()
def gated(app, monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, list[int], health_pages.Reports]:
    """The report computed in the background only once the test opens the gate, counting each computation; the app's
    reports forgotten."""
    gate, computed, real = threading.Event(), [], health_pages.health_report

    def health_report(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(60), "the test never opened the gate"
        computed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(health_pages, "health_report", health_report)
    app.state.health_reports = reports = health_pages.Reports()
    return gate, computed, reports


def test_the_health_page_answers_at_once_while_the_report_is_computed_then_shows_it_and_offers_it_as_a_file(app, keys, gated) -> None:
    gate, computed, reports = gated
    auditor = signed_in(app, keys["auditor"])
    first = auditor.get("/console/health")
    assert first.status_code == 200 and first.headers["refresh"] == str(health_pages.REFRESH_SECONDS)
    assert "Rapporten beräknas, påbörjad" in first.text and "<svg " not in first.text and 'id="months"' in first.text
    assert 'href="/console/health?company=Registerv' in first.text, "an Uppdatera link as well"
    waiting = auditor.get("/console/health/report.html")
    assert waiting.status_code == 202 and "content-disposition" not in waiting.headers and "Rapporten beräknas" in waiting.text
    assert auditor.get("/console/health").status_code == 200, "asked again while it runs: the same computation"
    gate.set()
    assert reports.wait_idle(timeout=60)
    assert computed == [1], "one computation for the company and period however often the page was asked"

    page = auditor.get("/console/health")
    assert "refresh" not in page.headers and "beräknas" not in page.text
    assert "Registrets hälsa" in page.text and planted.OUR_COMPANY in page.text
    assert page.text.count("<svg ") == 3, "status, details and contactability (no dead letters: Kafka does not answer here)"
    assert "De döda breven kunde inte läsas" in page.text
    # The planted register today: Lovisa and Doris, both active; Doris's identity is protected.
    assert re.search(r"Aktiva kunder \(nämnaren i andelarna\)</th>\s*<td>2</td>", page.text)
    assert re.search(r"Aktiva med adress som inte går att skicka post till</th>\s*<td>50,0\u00a0%</td>", page.text)
    download = auditor.get("/console/health/report.html")
    assert download.status_code == 200 and download.headers["content-disposition"].startswith('attachment; filename="registervard-halsa-')
    assert not re.search(r"(src|href)\s*=|https?://(?!www\.w3\.org/2000/svg)", download.text) and "<script" not in download.text

    gate.clear()
    again = auditor.post("/console/health", data={"csrf": csrf_of(page.text), "company": planted.OUR_COMPANY}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/console/health?company=Registerv")
    meanwhile = auditor.get(again.headers["location"])
    assert "Rapporten beräknas" in meanwhile.text and "Under tiden visas den senast beräknade" in meanwhile.text
    assert meanwhile.text.count("<svg ") == 3 and meanwhile.headers["refresh"]
    assert auditor.get("/console/health/report.html").status_code == 200, "the last finished file while the next is computed"
    gate.set()
    assert reports.wait_idle(timeout=60) and computed == [1, 1]


def test_a_report_that_cannot_be_computed_says_so_without_asking_again_until_told_to(app, keys, gated, monkeypatch) -> None:
    gate, _, reports = gated
    gate.set()

    def broken(*_: Any, **__: Any) -> Any:
        raise OSError("disk I/O error at /secret/path")

    monkeypatch.setattr(health_pages, "customers_in_trail", broken)
    admin = signed_in(app, keys["admin"])
    assert "Rapporten beräknas" in admin.get("/console/health?months=24").text
    assert reports.wait_idle(timeout=60)
    page = admin.get("/console/health?months=24")
    assert "Rapporten kunde inte beräknas" in page.text and "OSError" in page.text and "/secret/path" not in page.text
    assert "refresh" not in page.headers and "Beräkna igen" in page.text
    assert reports.running((planted.OUR_COMPANY, 24)) is None, "a failure is not computed again at every visit"
    monkeypatch.undo()
    again = admin.post("/console/health", data={"csrf": csrf_of(page.text), "company": planted.OUR_COMPANY, "months": "24"})
    assert "Rapporten beräknas" in again.text or "Aktiva kunder" in again.text


def test_every_text_of_the_operations_pages_is_there_in_swedish_and_in_english() -> None:
    import tomllib

    def keys(table: dict[str, Any], prefix: str = "") -> set[str]:
        return {name for key, value in table.items() for name in (keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key})}

    folder = Path(__file__).resolve().parents[2] / "src" / "registervard" / "web" / "texts"
    swedish, english = (keys(tomllib.loads((folder / f"operations.{lang}.toml").read_text(encoding="utf-8"))) for lang in ("sv", "en"))
    assert swedish == english


def test_the_verifications_kept_are_the_latest_of_each_register_and_of_the_latest_registers(tmp_path: Path) -> None:
    from registervard.audit_runs import DATABASES, KEEP, AuditRun

    path = tmp_path / "runs.json"
    first = AuditRuns(path, "sqlite:////registers/first.db")
    for n in range(KEEP + 5):
        first.record(AuditRun(datetime(2026, 1, 1, tzinfo=UTC), f"run {n}", 0.1, n, True))
    assert len(first.recent()) == KEEP and first.last().by == f"run {KEEP + 4}"  # type: ignore[union-attr]
    for n in range(DATABASES):
        AuditRuns(path, f"postgresql+psycopg://someone:secret@db/register{n}").record(AuditRun(datetime(2026, 1, 2, tzinfo=UTC), "x", 0.1, 1, True))
    assert first.last() is None, "the least lately verified register made room"
    assert "secret" not in path.read_text() and AuditRuns(path, f"postgresql+psycopg://someone:other@db/register{DATABASES - 1}").last() is not None
