"""The console's operations pages in real headless Chromium: the register health report, the audit chain verified
from the page, and dead letters sent back to the worker from the page, through the real broker.

The console register and server are the session's (`tests/e2e/conftest.py`). For the dead letters this module runs
the real pipeline beside it on the dev broker: `registervard worker` and `registervard project` over the same
register, on the console's topics. They start when the module does, so they are ready by the time the dead-letter
tests need them. The health test takes the README's screenshot (docs/screenshots/health.png) on the demo register.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.deadletters import read_dead_letters
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.database import connect
from projections.tables import ConsentRow, CustomerRow
from tests.conftest import service_env, stop_process
from tests.e2e.browser import WINDOW, Served, follow, main_text, press, screenshot, sign_in, wait_for
from tests.e2e.conftest import KEY_NAMES, ConsoleRegister

pytestmark = pytest.mark.kafka

T = TypeVar("T")
WAIT = 60.0
"""The most a step waits for the worker and the projection (polled: it costs only what they take)."""
NOT_FROM_HERE = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""
"""Runs before each page's own content: collects what the page's Content-Security-Policy refused."""


def eventually(probe: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.3)


@pytest.fixture(scope="module", autouse=True)
def pipeline(console_register: ConsoleRegister, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The worker and the projections over the console's register and topics, running for the module."""
    settings = console_register.settings
    asyncio.run(ensure_topics(settings))
    folder = tmp_path_factory.mktemp("pipeline")
    env = service_env(settings, REGISTERVARD_WORKER_STATE="log", REGISTERVARD_STATE=str(folder), REGISTERVARD_EXPIRY_CHECK_SECONDS="3600")
    processes = []
    for command in ("worker", "project"):
        with (folder / f"{command}.log").open("w") as log:
            processes.append(subprocess.Popen([sys.executable, "-m", "registervard", command], env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        yield settings
    finally:
        for process in processes:
            stop_process(process)


def publish(settings: Settings, *documents: dict[str, Any]) -> None:
    """Send events to the intake, as `registervard publish` does."""

    async def send() -> None:
        async with Publisher(settings) as publisher:
            await publisher.publish([parse_event(document) for document in documents])

    asyncio.run(send())


def registration(customer_id: str, given: str, surname: str) -> dict[str, Any]:
    return {
        "type": "CustomerRegistered",
        "customer_id": customer_id,
        "occurred_at": "2025-05-02T09:00:00Z",
        "source": "CRM",
        "customer_kind": "PERSON",
        "registration": {
            "identity_number": "194107086995",
            "name": {"given_names": given, "surname": surname},
            "address": {"street": "Nygatan 9", "postal_code": "11122", "city": "Stockholm"},
            "contact": {"email": f"{given.lower()}@example.se"},
        },
    }


def dead_letter(settings: Settings, customer_id: str, code: str) -> str:
    """The ref of the customer's dead letter with `code`, once the worker has written it."""

    def find() -> str | None:
        letters = asyncio.run(read_dead_letters(settings))
        return next((letter.ref for letter in letters if letter.key == customer_id.encode() and letter.reason_code == code), None)

    return eventually(find, f"the worker's {code} dead letter for {customer_id}")


def in_register(settings: Settings, probe: Callable[[Session], Any]) -> Callable[[], Any]:
    def look() -> Any:
        engine = connect(settings.database_url)
        try:
            with Session(engine) as session:
                return probe(session)
        finally:
            engine.dispose()

    return look


def open_letter(driver: WebDriver, base_url: str, code: str, ref: str) -> None:
    """From the list of dead letters, by the code's count, to the letter."""
    driver.get(f"{base_url}/console/deadletters")
    wait_for(driver, "#counts")
    follow(driver, code)
    follow(driver, ref)
    assert f"Dött brev {ref}" in main_text(driver)


def test_the_health_report_opens_with_its_charts_and_fetches_nothing_from_elsewhere(
    browser: WebDriver, console_server: Served, console_register: ConsoleRegister
) -> None:
    guard = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NOT_FROM_HERE})
    try:
        sign_in(browser, console_server.url, console_register.keys["auditor"], then="/console/health")
        Select(browser.find_element(By.ID, "months")).select_by_visible_text("36 månader bakåt")  # the demo's lives began in 2024
        press(browser, "Visa")
        wait_for(browser, "#chart-status")
        page = main_text(browser)
        sections = ("Läget", "Kunder per status", "Adresser, telefon och e-post hos aktiva kunder", "NIX-Telefon", "Kontaktbarhet för", "Så räknas siffrorna")
        assert all(section in page for section in sections)
        charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg[role=img]")
        assert len(charts) >= 3 and all(chart.size["height"] > 100 for chart in charts), "every chart is drawn"
        assert browser.find_element(By.CSS_SELECTOR, "#chart-status polyline").get_attribute("stroke") == "#0072B2"
        assert browser.execute_script("return window.__violations") == [], "nothing the console's CSP refuses (no inline style or script)"
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(url.startswith(console_server.url) for url in loaded), loaded
        assert "report.html" in browser.find_element(By.ID, "download").get_attribute("href")
        browser.set_window_size(WINDOW[0], 2000)  # the figures of the day and the first chart in one picture
        try:
            screenshot(browser, "health")
        finally:
            browser.set_window_size(*WINDOW)
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": guard["identifier"]})


def test_an_auditor_verifies_the_audit_chain_from_the_page_and_sees_when_it_ran(
    browser: WebDriver, console_server: Served, console_register: ConsoleRegister
) -> None:
    sign_in(browser, console_server.url, console_register.keys["auditor"], then="/console/audit")
    press(browser, "Kontrollera kedjan")
    result = browser.find_element(By.ID, "audit-result").text
    assert result.startswith("Kedjan är hel:") and "poster kontrollerade" in result
    assert int(result.split(":")[1].split()[0]) > 300, "every entry of the demo register's trail was checked"
    last = browser.find_element(By.ID, "audit-last").text
    assert KEY_NAMES["auditor"] in last and "Kontrollerad" in last


def test_an_admin_sends_a_dead_letter_again_from_the_page_and_the_worker_admits_it(
    browser: WebDriver, console_server: Served, console_register: ConsoleRegister, pipeline: Settings
) -> None:
    """A consent that came before its customer's registration is refused (UNKNOWN_CUSTOMER); once the registration
    has come, "Skicka igen" sends it back to the intake, and the consent appears in the register."""
    late = f"C-LATE-{uuid.uuid4().hex[:6]}"
    publish(pipeline, {"type": "ConsentGiven", "customer_id": late, "occurred_at": "2025-05-03T10:00:00Z", "source": "WEBSHOP",
                       "purpose": "MARKETING", "channel": "EMAIL", "company": "Registervård Demo AB"})
    ref = dead_letter(pipeline, late, "UNKNOWN_CUSTOMER")
    publish(pipeline, registration(late, "Sena", "Senberg"))
    eventually(in_register(pipeline, lambda s: s.get(CustomerRow, late)), f"{late}'s registration in the register")

    sign_in(browser, console_server.url, console_register.keys["admin"], then="/console/deadletters")
    open_letter(browser, console_server.url, "UNKNOWN_CUSTOMER", ref)
    press(browser, "Skicka igen")
    assert "skickad till arbetaren igen" in browser.find_element(By.ID, "letter-notice").text
    assert "skickad igen" in main_text(browser)
    consent = in_register(pipeline, lambda s: s.scalars(select(ConsentRow).where(ConsentRow.customer_id == late)).first())
    assert eventually(consent, f"{late}'s consent, sent again, in the register").purpose == "MARKETING"


def test_an_admin_corrects_a_refused_registration_on_the_page_and_the_customer_appears_in_the_register(
    browser: WebDriver, console_server: Served, console_register: ConsoleRegister, pipeline: Settings
) -> None:
    """A registration with a mistyped customer id (one already taken) is refused (ALREADY_REGISTERED). On the page its
    personal data stays sealed; the operator corrects the id, and the worker registers the new customer with the
    name and address the letter held."""
    taken, meant = f"C-TAKEN-{uuid.uuid4().hex[:6]}", f"C-MEANT-{uuid.uuid4().hex[:6]}"
    publish(pipeline, registration(taken, "Tagen", "Tagesson"))
    eventually(in_register(pipeline, lambda s: s.get(CustomerRow, taken)), f"{taken} in the register")
    publish(pipeline, {**registration(taken, "Menad", "Mening"), "occurred_at": "2025-05-04T09:00:00Z"})
    ref = dead_letter(pipeline, taken, "ALREADY_REGISTERED")

    sign_in(browser, console_server.url, console_register.keys["admin"], then="/console/deadletters")
    open_letter(browser, console_server.url, "ALREADY_REGISTERED", ref)
    assert "Mening" not in browser.page_source and "förseglad" in browser.find_element(By.ID, "fields").text
    box = browser.find_element(By.ID, "document")
    document = json.loads(box.get_attribute("value"))
    assert document["registration"] == "(sealed)"
    box.clear()
    box.send_keys(json.dumps({**document, "customer_id": meant}))
    press(browser, "Skicka rättad")
    assert "rättade händelsen är skickad" in browser.find_element(By.ID, "letter-notice").text

    row = eventually(in_register(pipeline, lambda s: s.get(CustomerRow, meant)), f"{meant}, corrected, in the register")
    assert (row.given_names, row.surname, row.city) == ("Menad", "Mening", "Stockholm")
    browser.get(f"{console_server.url}/console/customers/{meant}")
    assert "Menad Mening" in browser.find_element(By.ID, "record-name").text

