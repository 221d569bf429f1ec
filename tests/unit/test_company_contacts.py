"""A company's view of its contact persons: in the register (through the register projection), the CLI and the API.
On a SQLite file, no broker: the events are applied as log records, as the projection reads them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from events import codec
from events.catalog import ContactPersonLeft, ProtectedIdentitySet, Protection
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore
from events.settings import Settings
from projections.access import DisclosureRow
from projections.database import connect
from projections.read import company_contacts
from projections.register import RegisterProjection
from projections.runner import apply_batch
from registervard.api.api_keys import create_key
from registervard.api.http_app import create_app
from registervard.cli import app as cli
from tests.builders import envelope, person

COMPANY, KARIN, LARS, MAJA = "C-CO", "C-KARIN", "C-LARS", "C-MAJA"


def company_registered():
    return parse_event(
        {
            "type": "CustomerRegistered",
            "customer_id": COMPANY,
            "occurred_at": "2025-01-10T09:00:00Z",
            "source": "CRM",
            "customer_kind": "COMPANY",
            "registration": {"identity_number": "165560360793", "company_name": "Acme AB"},
        }
    )


def contact_person(customer_id: str, identity_number: str, given_names: str):
    registered = parse_event(person(customer_id, identity_number=identity_number, contact_person_for=COMPANY))
    name = replace(registered.registration.name, given_names=given_names)
    return replace(registered, registration=replace(registered.registration, name=name))


def left(customer_id: str, on: date) -> ContactPersonLeft:
    return ContactPersonLeft(envelope=envelope(customer_id, on=on), company_id=COMPANY, effective_date=on)


@pytest.fixture
def url(tmp_path) -> str:
    """A register with a company, its contact persons Karin and Maja (protected), and Lars who left on 31 August."""
    url = f"sqlite:///{tmp_path / 'register.db'}"
    events = [
        company_registered(),
        contact_person(KARIN, "198112189876", "Karin"),
        contact_person(LARS, "194107086995", "Lars"),
        contact_person(MAJA, "200001012384", "Maja"),
        ProtectedIdentitySet(envelope=envelope(MAJA, on=date(2025, 2, 1)), protection=Protection.SKYDDAD_FOLKBOKFORING),
        left(LARS, date(2025, 8, 31)),
    ]
    records = [LogRecord("registervard.events", 0, offset, codec.encode(event)) for offset, event in enumerate(events)]
    engine = connect(url)
    assert apply_batch(engine, RegisterProjection(), records, MemoryKeyStore()) == []
    engine.dispose()
    return url


def test_the_register_lists_the_companys_contact_persons_now_and_those_who_left(url):
    view = company_contacts(Settings(database_url=url), COMPANY)
    assert view is not None
    assert (view["kind"], view["company_name"]) == ("COMPANY", "Acme AB")
    assert [(p["customer_id"], p["given_names"], p["status"], p["left_on"]) for p in view["contact_persons"]] == [
        (KARIN, "Karin", "ACTIVE", None),
        (MAJA, None, "ACTIVE", None),  # a protected identity: no name, here as everywhere
    ]
    assert [(p["customer_id"], p["given_names"], p["left_on"]) for p in view["former_contact_persons"]] == [(LARS, "Lars", date(2025, 8, 31))]
    assert view["contact_persons"][0]["phone"] == "+46701234567"


def test_a_customer_no_contact_person_names_has_none_and_an_unknown_one_is_not_in_the_register(url):
    settings = Settings(database_url=url)
    assert company_contacts(settings, KARIN) == {
        "company_id": KARIN,
        "kind": "PERSON",
        "company_name": None,
        "contact_persons": [],
        "former_contact_persons": [],
    }
    assert company_contacts(settings, "C-NOBODY") is None


def test_the_cli_shows_the_company_view_as_a_table_and_as_json(url):
    env = {"REGISTERVARD_DATABASE_URL": url}
    table = CliRunner().invoke(cli, ["customer", "contacts", COMPANY], env=env)
    assert table.exit_code == 0, table.output
    assert "Contact persons of Acme AB" in table.output
    assert "Karin Svensson" in table.output and "(protected identity)" in table.output and "2025-08-31" in table.output
    assert "2 contact person(s) now, 1 who left." in table.output
    assert table.output.index(KARIN) < table.output.index(MAJA) < table.output.index(LARS), "those who left come last"
    as_json = CliRunner().invoke(cli, ["customer", "contacts", COMPANY, "--json"], env=env)
    assert [p["customer_id"] for p in json.loads(as_json.output)["former_contact_persons"]] == [LARS]
    missing = CliRunner().invoke(cli, ["customer", "contacts", "C-NOBODY"], env=env)
    assert missing.exit_code == 1 and "No customer C-NOBODY in the register" in missing.stderr


async def test_the_api_shows_the_company_view_to_the_roles_that_may_see_it_and_records_the_disclosure(url):
    api = create_app(Settings(database_url=url, kafka="127.0.0.1:1"))
    engine = api.state.database.engine()
    _facts, reader = create_key(engine, "Billing", "reader")
    _facts, marketing = create_key(engine, "Shop", "marketing")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
        shown = await client.get(f"/customers/{COMPANY}/contact-persons", headers={"Authorization": f"Bearer {reader}"})
        forbidden = await client.get(f"/customers/{COMPANY}/contact-persons", headers={"Authorization": f"Bearer {marketing}"})
        missing = await client.get("/customers/C-NOBODY/contact-persons", headers={"Authorization": f"Bearer {reader}"})
    assert shown.status_code == 200
    body = shown.json()
    assert [p["customer_id"] for p in body["contact_persons"]] == [KARIN, MAJA]
    assert [(p["customer_id"], p["left_on"]) for p in body["former_contact_persons"]] == [(LARS, "2025-08-31")]
    assert forbidden.status_code == 403 and missing.status_code == 404
    with Session(engine) as session:
        recorded = sorted(session.scalars(select(DisclosureRow.customer_id).where(DisclosureRow.purpose == "contact_persons")))
    assert recorded == sorted([COMPANY, KARIN, LARS, MAJA])
