"""Session-scoped fixtures for the web console's browser tests (every console page's tests share them).

Built once per test session, in this order: the register (`tests/console_register.py`: the demo register and the
planted customers, folded in-process by the worker's and the projections' code), an API key per role, the console
served by `registervard serve` on a free port, and one headless Chromium. A test signs in with the key of the role
it needs (`browser.sign_in`), which starts a fresh session.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from events.settings import Settings
from registervard.api.roles import ROLES
from tests import console_register as register_builder
from tests.e2e.browser import Served, chromium, served

KEY_NAMES = {
    "admin": "Administratören",
    "customer_service": "Kundtjänst Anna",
    "reader": "Läsaren Lars",
    "marketing": "Marknad Maja",
    "auditor": "Revisorn Rut",
}
"""Each key's name: the recipient the disclosure record names."""


@dataclass(frozen=True)
class ConsoleRegister:
    """The browser tests' register: its settings and an API key (the key itself) for each role."""

    settings: Settings
    keys: dict[str, str]


@pytest.fixture(scope="session")
def console_register(tmp_path_factory: pytest.TempPathFactory) -> ConsoleRegister:
    """The demo register (300 customers) and the planted ones, with a key for every role; built once per session."""
    settings = register_builder.build(tmp_path_factory.mktemp("console") / "register.db")
    settings = dataclasses.replace(
        settings,
        kafka=os.environ.get("REGISTERVARD_KAFKA", settings.kafka),  # the served app reports on Kafka where there is one
        topic_prefix=f"console-{uuid.uuid4().hex[:8]}",
    )
    return ConsoleRegister(settings, register_builder.role_keys(settings, {role: KEY_NAMES.get(role, role) for role in ROLES}))


@pytest.fixture(scope="session")
def console_server(console_register: ConsoleRegister, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`registervard serve` over the console register, on a free loopback port, for the whole session."""
    with served(console_register.settings, tmp_path_factory.mktemp("serve") / "serve.log") as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the session (each test signs in afresh)."""
    with chromium() as driver:
        yield driver
