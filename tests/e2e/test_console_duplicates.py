"""The console's duplicate list in real headless Chromium: the admin opens it from the header, searches, and sees a pair.

The session's console register (`tests/e2e/conftest.py`) holds no duplicates, so this test puts two register rows of
one person there for its own run and takes them out again afterwards (the other console tests count customers). The
merge itself is `tests/unit/test_console_duplicates.py`'s (its pages) and `tests/e2e/test_merge_duplicates.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import delete, insert

from projections.database import connect
from projections.tables import CustomerRow
from tests.e2e.browser import Served, follow, main_text, press, sign_in, wait_for
from tests.e2e.conftest import ConsoleRegister

PAIR = (
    {"customer_id": "P-DUBBLETT-1", "given_names": "Östen", "surname": "Åberg", "street": "Drottninggatan 5", "postal_code": "41103", "city": "Göteborg"},
    {"customer_id": "P-DUBBLETT-2", "given_names": "Osten", "surname": "Aberg", "street": "Drottningg. 5", "postal_code": "411 03", "city": "GÖTEBORG"},
)


@pytest.fixture()
def planted_pair(console_register: ConsoleRegister) -> Iterator[tuple[str, str]]:
    """The two rows, in the register for this test only."""
    engine = connect(console_register.settings.database_url)
    ids = [row["customer_id"] for row in PAIR]
    try:
        with engine.begin() as connection:
            connection.execute(insert(CustomerRow), [{**row, "kind": "PERSON", "status": "ACTIVE", "protected": False} for row in PAIR])
        yield ids[0], ids[1]
    finally:
        with engine.begin() as connection:
            connection.execute(delete(CustomerRow).where(CustomerRow.customer_id.in_(ids)))
        engine.dispose()


def test_the_admin_opens_the_duplicates_from_the_header_and_sees_the_pair_with_its_reasons(
    browser: WebDriver, console_server: Served, console_register: ConsoleRegister, planted_pair: tuple[str, str]
) -> None:
    sign_in(browser, console_server.url, console_register.keys["admin"])
    follow(browser, "Dubbletter")
    assert "kan ta en stund" in main_text(browser), "the page says the search may take a while before it is run"
    press(browser, "Sök dubbletter")
    wait_for(browser, "li.pair")
    first, second = planted_pair
    pair = next(p for p in browser.find_elements(By.CSS_SELECTOR, "li.pair") if first in p.text and second in p.text)
    assert "Poäng 75" in pair.text and "Skäl: samma namn, samma adress" in pair.text
    assert "Östen Åberg" in pair.text and "Osten Aberg" in pair.text
    assert pair.find_element(By.LINK_TEXT, second).get_attribute("href").endswith(f"/console/customers/{second}")
