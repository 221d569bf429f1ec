"""`registervard spar import` end to end, through the real broker, worker and register: a change notification, a
current-state notification and a full notification (tests/data/spar/) imported into a small register
(tests/spar_register.py), the register then checked customer by customer, its postal address and each kind of
address SPAR gave; and every file imported again publishes nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.jsonlines import parse_event
from events.publish import Publisher
from events.state_codec import from_stored
from events.topics import ensure_topics
from projections.data_keys import key_store
from projections.database import connect
from projections.register import RegisterProjection
from projections.runner import run_projection
from projections.tables import CustomerStateRow
from registervard import exit_codes
from tests.conftest import eventually, register_rows, service_env
from tests.spar_register import CHANGES, CURRENT, FULL, documents

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def register_settings(settings, worker, tmp_path_factory):
    """This module's topics and worker, and a register (SQLite) of its own."""
    asyncio.run(ensure_topics(settings))
    return replace(settings, database_url=f"sqlite:///{tmp_path_factory.mktemp('spar') / 'register.db'}")


async def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command line in a thread, so the projection running in this event loop goes on meanwhile."""
    command = [sys.executable, "-m", "registervard", *args]
    return await asyncio.to_thread(subprocess.run, command, env={**env, "COLUMNS": "300"}, capture_output=True, text=True, timeout=300)


@asynccontextmanager
async def register_running(settings):
    stop = asyncio.Event()
    task = asyncio.create_task(run_projection(settings, RegisterProjection(), keys=key_store(settings), stop=stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


def address_kinds(url: str) -> dict[str, list[tuple[str, str, bool, str]]]:
    """Each customer's population register addresses as the register's stored fold holds them: kind, date, ended, street."""
    engine = connect(url)
    try:
        with Session(engine) as session:
            states = [from_stored(state) for state in session.scalars(select(CustomerStateRow.state))]
    finally:
        engine.dispose()
    return {s.customer_id: [(a.kind.value, a.effective_date.isoformat(), a.ended, a.value.street) for a in s.registered_addresses] for s in states}


async def test_notification_files_change_the_register_customer_by_customer_and_a_second_import_publishes_nothing(register_settings):
    env, url = service_env(register_settings), register_settings.database_url
    async with register_running(register_settings):
        async with Publisher(register_settings) as publisher:
            await publisher.publish([parse_event(d) for d in documents()])

        async def everyone():
            return len(register_rows(url)) == 11 and register_rows(url)["C-LIFT"].protected

        await eventually(everyone, timeout=120, what="the register's customers")

        published = []
        for file, status in ((CHANGES, exit_codes.SOME_REFUSED), (CURRENT, exit_codes.OK), (FULL, exit_codes.OK)):
            result = await cli("spar", "import", str(file), "--wait", "--wait-timeout", "240", env=env)
            assert result.returncode == status, result.stdout + result.stderr
            assert "Traceback" not in result.stderr
            published.append(result.stdout.splitlines()[1])
        assert published == [
            "8 event(s) published: AddressChanged 2, CivilStatusChanged 1, CustomerDeceased 1, CustomerEmigrated 1, NameChanged 2, ProtectedIdentitySet 1.",
            "5 event(s) published: AddressChanged 3, CustomerDeregistered 1, MarketingOptOut 1.",
            "4 event(s) published: AddressChanged 3, ProtectedIdentityLifted 1.",
        ]

        rows = register_rows(url)

        def row(customer_id: str, *columns: str) -> tuple:
            return tuple(getattr(rows[customer_id], column) for column in columns)

        person = ("status", "protected", "given_names", "surname", "care_of", "street", "postal_code", "city", "country")
        assert row("C-ANNA", *person, "civil_status", "address_since") == (
            *("ACTIVE", False, "Anna Maria", "Berg", None, "Ågatan 2", "22100", "LUND", "SE"),
            *("MARRIED", date(2025, 5, 1)),
        )
        assert row("C-PROT", *person) == ("ACTIVE", True, None, None, None, None, None, None, None)  # protected: nothing shown
        assert row("C-BAD", *person) == ("ACTIVE", False, "Helga", "Lind", None, "Storgatan 1", "11122", "Stockholm", "SE")  # new name, old address
        assert row("C-DEAD", "status", "deceased_on", "street") == ("DECEASED", date(2025, 5, 8), "Storgatan 1")
        assert row("C-EMIG", "status", "emigrated_on", "street", "postal_code", "city", "country") == (
            *("EMIGRATED", date(2025, 4, 1)),
            *("Karl Johans gate 1", "", "0154 OSLO", "NO"),
        )
        assert row("C-GONE", "status", "deregistration_cause", "deregistered_on") == ("DEREGISTERED", "OB", date(2025, 3, 1))
        # The special postal address ended (full notification): the postal address is the latest of the others again.
        assert row("C-POST", "street", "postal_code", "city", "address_since", "marketing_opt_outs") == (
            *("Storgatan 1", "11122", "Stockholm", date(2025, 1, 10), "POST"),
        )
        assert row("C-SAME", *person, "events_applied") == ("ACTIVE", False, "Gustav", "Svensson", None, "Storgatan 1", "11122", "Stockholm", "SE", 2)
        assert row("C-LIFT", *person) == ("ACTIVE", False, "Ivar", "Svensson", None, "Storgatan 1", "11122", "Stockholm", "SE")
        assert row("C-SAMO", "care_of", "street", "postal_code", "city") == ("Hamnkontoret", "Hamngatan 5", "41101", "GÖTEBORG")
        assert row("C-CO", "kind", "company_name", "events_applied") == ("COMPANY", "Exempel AB", 1)

        # Each kind of address apart, with its own date (the population register's made the postal one by the day the
        # customer's was given, where they differ).
        assert address_kinds(url) == {
            "C-ANNA": [("POPULATION_REGISTER", "2025-05-01", False, "Ågatan 2")],
            "C-PROT": [],
            "C-BAD": [],  # its addresses could not be read
            "C-DEAD": [],
            "C-EMIG": [("ABROAD", "2025-04-01", False, "Karl Johans gate 1")],
            "C-GONE": [],
            "C-POST": [
                ("POPULATION_REGISTER", "2020-01-01", False, "Storgatan 1"),
                ("SPECIAL_POSTAL", "2025-02-01", False, "Box 123"),
                ("SPECIAL_POSTAL", "2025-05-31", True, "Box 123"),
            ],
            "C-SAME": [("POPULATION_REGISTER", "2019-12-02", False, "STORGATAN  1")],
            "C-LIFT": [("POPULATION_REGISTER", "2024-01-01", False, "Storgatan 1")],
            "C-SAMO": [("CONTACT", "2025-02-15", False, "Hamngatan 5")],
            "C-CO": [],
        }

        shown = await cli("customer", "show", "C-POST", "--json", env=env)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert [(k["kind"], k["effective_date"], k["ended"], k["street"]) for k in json.loads(shown.stdout)["address_kinds"]] == [
            (kind, day, ended, street) for kind, day, ended, street in address_kinds(url)["C-POST"]
        ]

        for file, status in ((CHANGES, exit_codes.SOME_REFUSED), (CURRENT, exit_codes.OK), (FULL, exit_codes.OK)):
            again = await cli("spar", "import", str(file), env=env)
            assert again.returncode == status, again.stdout + again.stderr
            assert again.stdout.splitlines()[1] == "0 event(s) published."
