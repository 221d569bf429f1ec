"""The web console in real headless Chromium: sign in, search, the customer page, as of a date, roles, refusals.

The register is the demo register plus planted customers (`tests/console_register.py`), served by
`registervard serve`; fixtures in `tests/e2e/conftest.py`. The tests also take the README's screenshots
(docs/screenshots/search.png and customer.png).
"""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests import console_register as planted
from tests.e2e.browser import Served, field_by_label, follow, main_text, press, screenshot, sign_in, wait_for
from tests.e2e.conftest import ConsoleRegister

SEARCH_LABEL = "Personnummer, namn, telefon, e-post eller kund-id"


def search(driver: WebDriver, text: str, label: str = SEARCH_LABEL) -> None:
    box = field_by_label(driver, label)
    box.clear()
    box.send_keys(text)
    press(driver, "Sök")


def test_customer_service_finds_a_customer_by_a_personnummer_with_a_dash_and_reads_the_page_now_and_as_of_a_date(
    browser: WebDriver, console_server: Served, console_register: ConsoleRegister
):
    sign_in(browser, console_server.url, console_register.keys["customer_service"])
    assert browser.current_url.endswith("/console/search"), "signing in lands on the page asked for"

    search(browser, "Karlsson")  # demo customers, for the README's picture of a result list with status badges
    wait_for(browser, "table.results")
    screenshot(browser, "search")

    search(browser, "19811218-9876")
    results = browser.find_elements(By.CSS_SELECTOR, "table.results tbody tr")
    row = next(r for r in results if planted.LAPSED in r.text)  # another demo person could share the number: that is fine
    assert "Lovisa Lapsberg" in row.text and planted.NEW_CITY in row.text and "aktiv" in row.text

    follow(browser, planted.LAPSED)
    page = main_text(browser)
    assert f"Kund {planted.LAPSED}" in page
    timeline = browser.find_element(By.ID, "timeline").text
    for event in ("Registrerad", "Samtycke givet", "Ny adress"):
        assert event in timeline
    lapsed = browser.find_element(By.CSS_SELECTOR, "#consents tr.lapsed").text
    assert "Telefonförsäljning" in lapsed and planted.LAPSES_ON in lapsed and "upphört" in lapsed
    assert planted.NEW_CITY in browser.find_element(By.ID, "record-address").text
    assert "Kundtjänst Anna" in browser.find_element(By.ID, "recipients").text, "this very view is recorded as a disclosure"
    screenshot(browser, "customer")

    # As of a day before the move: the old address, the telemarketing consent still in force, the move not yet in the timeline.
    field_by_label(browser, "Giltigt per").send_keys("2024-06-30")
    press(browser, "Visa")
    assert "valid_at=2024-06-30" in browser.current_url, "an as-of view is a link one can keep"
    assert "Kunden som den var 2024-06-30" in browser.find_element(By.ID, "as-of-showing").text
    address = browser.find_element(By.ID, "record-address").text
    assert planted.OLD_CITY in address and planted.NEW_CITY not in address
    assert "Ny adress" not in browser.find_element(By.ID, "timeline").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#consents tr.lapsed"), "on 2024-06-30 no consent had lapsed yet"

    follow(browser, "Visa som nu")
    assert planted.NEW_CITY in browser.find_element(By.ID, "record-address").text


def test_a_reader_opens_a_protected_identity_by_id_and_sees_no_name_no_address_and_no_history(
    browser: WebDriver, console_server: Served, console_register: ConsoleRegister
):
    sign_in(browser, console_server.url, console_register.keys["reader"])
    search(browser, planted.PROTECTED, label="Kund-id")  # a reader may open a customer by id, not search
    page = main_text(browser)
    assert f"Kund {planted.PROTECTED}" in page and "skyddad identitet" in page
    assert "Dold (skyddad identitet)" in browser.find_element(By.ID, "record-name").text
    assert "Dold (skyddad identitet)" in browser.find_element(By.ID, "record-address").text
    source = browser.page_source
    for secret in (*planted.PROTECTED_NAME, planted.PROTECTED_CITY, "Hemliga"):
        assert secret not in source
    for section in ("timeline", "consents", "recipients", "contact"):
        assert not browser.find_elements(By.ID, section), f"a reader's page has no {section} section"


def test_a_wrong_key_is_refused_with_advice(browser: WebDriver, console_server: Served):
    sign_in(browser, console_server.url, "rv_" + "x" * 43)
    assert "/console/sign-in" in browser.current_url
    assert "Nyckeln känns inte igen" in browser.find_element(By.ID, "sign-in-error").text
    assert not [c for c in browser.get_cookies() if c["name"] == "rv_console"]


def test_a_form_posted_without_its_csrf_token_is_refused(browser: WebDriver, console_server: Served, console_register: ConsoleRegister):
    sign_in(browser, console_server.url, console_register.keys["customer_service"])
    browser.execute_script("document.querySelector('form[role=search] input[name=csrf]').remove()")
    search(browser, "19811218-9876")
    assert "säkerhetskod" in main_text(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "table.results")
