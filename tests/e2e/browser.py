"""The web console's browser test harness: real headless Chromium through selenium, and `registervard serve` on a free port.

- `chromium()`: Debian's chromium and chromedriver, headless, with a fresh profile directory and no background
  networking, so a test never talks to anything but the console (and fails if a page needs the internet).
- `Served`: `registervard serve --port 0` in a subprocess over a register, with its URL once it listens.
- `sign_in` and friends drive the pages as an operator would: through labels, links and buttons.

Fixtures built from these (session-scoped, shared by every browser test) are in `tests/e2e/conftest.py`.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from events.settings import Settings
from tests.conftest import stop_process

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WINDOW = (1280, 900)
"""The window the screenshots are taken in."""
WAIT_SECONDS = 15
"""The most a step waits for a page (a condition, polled: a fast page costs no wait)."""
ANNOUNCEMENT = re.compile(r"Registervård API listening on (http://127\.0\.0\.1:\d+);")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@contextmanager
def chromium(window: tuple[int, int] = WINDOW) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile, closed (and its profile removed) afterwards."""
    profile = tempfile.mkdtemp(prefix="registervard-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.add_argument("--lang=sv-SE")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(WAIT_SECONDS * 2)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Served:
    """`registervard serve` over a register: its URL, the settings it was started with, and the process."""

    url: str
    settings: Settings
    process: subprocess.Popen[str]


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment `registervard serve` reads `settings` from."""
    env = {
        **os.environ,
        "REGISTERVARD_DATABASE_URL": settings.database_url,
        "REGISTERVARD_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTERVARD_KAFKA": settings.kafka,
        **extra,
    }
    if settings.console_secret:
        env["REGISTERVARD_CONSOLE_SECRET"] = settings.console_secret
    return env


@contextmanager
def served(settings: Settings, log: Path, **extra_env: str) -> Iterator[Served]:
    """Serve the console over `settings`' register on a free loopback port (its log in `log`) until the block ends."""
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "registervard", "serve", "--port", "0"],
            env=environment(settings, **extra_env),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        said = _first_line(process, within=60)
        found = ANNOUNCEMENT.search(said)
        assert found, f"registervard serve did not say where it listens (it said {said!r}); its log: {log}"
        yield Served(found[1], settings, process)
    finally:
        stop_process(process)


def _first_line(process: subprocess.Popen[str], within: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.5):
                return process.stdout.readline()
    return ""


# --- Driving the pages -----------------------------------------------------------------


def wait_for(driver: WebDriver, css: str) -> None:
    """Wait until an element matching `css` is on the page."""
    WebDriverWait(driver, WAIT_SECONDS).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def field_by_label(driver: WebDriver, label: str) -> WebElement:
    """The form field the visible `label` names (as a screen reader finds it), not a guessed id."""
    found = driver.find_element(By.XPATH, f"//label[normalize-space()={_xpath_text(label)}]")
    return driver.find_element(By.ID, found.get_attribute("for"))


def press(driver: WebDriver, text: str) -> None:
    """Click the button that says `text`, and wait for the next page."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, f"//button[normalize-space()={_xpath_text(text)}]").click()
    _next_page(driver, old)


def follow(driver: WebDriver, text: str) -> None:
    """Follow the link that says `text`, and wait for the next page."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.LINK_TEXT, text).click()
    _next_page(driver, old)


def _next_page(driver: WebDriver, old: WebElement) -> None:
    """Wait until the page `old` belonged to is gone and the next one has loaded (a click does not wait for either)."""
    wait = WebDriverWait(driver, WAIT_SECONDS)
    wait.until(lambda _driver: _gone(old))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def _gone(element: WebElement) -> bool:
    """Whether `element`'s page has gone. Selenium's `staleness_of` knows only the stale-element error; Chromium, asked
    in the middle of a navigation, may instead say that the node "does not belong to the document"."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def sign_in(driver: WebDriver, base_url: str, key: str, then: str = "/console/search") -> None:
    """Sign in with `key` on a fresh session (cookies of a previous one removed) and land on `then`."""
    driver.delete_all_cookies()
    driver.get(f"{base_url}{then}")  # not signed in: the console sends us to the sign-in page, and back here afterwards
    wait_for(driver, "form[action='/console/sign-in']")
    field_by_label(driver, "API-nyckel").send_keys(key)
    press(driver, "Logga in")


def main_text(driver: WebDriver) -> str:
    """The visible text of the page's main content."""
    return driver.find_element(By.TAG_NAME, "main").text


def screenshot(driver: WebDriver, name: str) -> Path:
    """Save the window as docs/screenshots/<name>.png (for the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _xpath_text(text: str) -> str:
    return f'"{text}"' if '"' not in text else f"'{text}'"
