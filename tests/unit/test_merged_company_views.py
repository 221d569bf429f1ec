"""What the register shows of a merge on the kept customer's side: `customer show` (and --json) and the console's
customer page list the customers merged into it, and a merged company's contact persons are the kept company's
(`customer contacts`, `GET /customers/{id}/contact-persons`), the dropped id answering for the kept company.
On a SQLite file, no broker: the events are applied as log records, as the projection reads them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest
from typer.testing import CliRunner

from events import codec
from events.catalog import ContactPersonLeft, Event
from events.customer import fold
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.merging import kept_half, merge_event
from events.sealing import MemoryKeyStore
from events.settings import Settings
from projections.audit import AuditProjection
from projections.database import connect
from projections.register import RegisterProjection
from projections.runner import apply_batch
from registervard.api.api_keys import create_key
from registervard.cli import app as cli
from registervard.web import create_served_app
from tests.builders import envelope, person
from tests.unit.test_console_web import signed_in

KEEP, DROP = "C-KEEPCO", "C-DROPCO"
KARIN, LARS, MAJA = "C-KARIN", "C-LARS", "C-MAJA"
MERGED_AT = datetime(2025, 6, 1, 12, tzinfo=UTC)


def company(customer_id: str, name: str) -> Event:
    registration = {"identity_number": "165560360793", "company_name": name}
    return parse_event(
        {
            "type": "CustomerRegistered",
            "customer_id": customer_id,
            "occurred_at": "2025-01-10T09:00:00Z",
            "recorded_at": "2025-01-10T09:00:00Z",  # known long before any view asks (now, truncated to the second, would race)
            "source": "CRM",
            "customer_kind": "COMPANY",
            "registration": registration,
        }
    )


def contact(customer_id: str, identity_number: str, of: str, on: str = "2025-01-11") -> Event:
    moment = f"{on}T09:00:00Z"
    return parse_event(person(customer_id, identity_number=identity_number, contact_person_for=of, occurred_at=moment, recorded_at=moment))


@pytest.fixture
def url(tmp_path) -> str:
    """Acme AB (KEEP) with Karin; its duplicate Acme Aktiebolag (DROP) with Lars, and Maja who left it and then became
    KEEP's contact person; DROP merged into KEEP. Each customer's events in their own partition, as the log has them."""
    url = f"sqlite:///{tmp_path / 'register.db'}"
    dropped_life = [company(DROP, "Acme Aktiebolag"), merge_event(KEEP, DROP, at=MERGED_AT)]
    dropped = fold(dropped_life)
    assert dropped is not None
    logs: list[list[Event]] = [
        [company(KEEP, "Acme AB"), kept_half(merge_event(KEEP, DROP, at=MERGED_AT), dropped)],
        dropped_life,
        [contact(KARIN, "198112189876", KEEP)],
        [contact(LARS, "194107086995", DROP)],
        [
            contact(MAJA, "200001012384", DROP),
            ContactPersonLeft(envelope=envelope(MAJA, on=date(2025, 3, 31)), company_id=DROP, effective_date=date(2025, 3, 31)),
            contact(MAJA, "200001012384", KEEP, on="2025-04-01"),
        ],
    ]
    engine = connect(url)
    for partition, events in enumerate(logs):
        records = [LogRecord("registervard.events", partition, offset, codec.encode(event)) for offset, event in enumerate(events)]
        assert apply_batch(engine, RegisterProjection(), records, MemoryKeyStore()) == []
        assert apply_batch(engine, AuditProjection(), records, MemoryKeyStore()) == []  # views of the past read the audit trail
    engine.dispose()
    return url


def test_customer_show_lists_the_customers_merged_into_the_kept_one(url):
    env = {"REGISTERVARD_DATABASE_URL": url}
    shown = CliRunner().invoke(cli, ["customer", "show", KEEP, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["merged_customer_ids"] == [DROP]
    table = CliRunner().invoke(cli, ["customer", "show", KEEP], env=env)
    assert "merged_customer_ids" in table.stdout and DROP in table.stdout
    for valid_at, merged in (("2025-05-01T00:00:00Z", []), ("2025-07-01T00:00:00Z", [DROP])):  # before the merge, and after
        then = CliRunner().invoke(cli, ["customer", "show", KEEP, "--json", "--valid-at", valid_at], env=env)
        assert then.exit_code == 0, then.output
        assert json.loads(then.stdout)["merged_customer_ids"] == merged, valid_at


def test_a_merged_companys_contact_persons_are_the_kept_companys_and_its_id_answers_for_the_kept_company(url):
    env = {"REGISTERVARD_DATABASE_URL": url}
    kept = CliRunner().invoke(cli, ["customer", "contacts", KEEP, "--json"], env=env)
    assert kept.exit_code == 0, kept.output
    view = json.loads(kept.stdout)
    assert [p["customer_id"] for p in view["contact_persons"]] == [KARIN, LARS, MAJA]
    assert view["former_contact_persons"] == []  # Maja left the dropped company, but is the kept one's now: once, now
    dropped = CliRunner().invoke(cli, ["customer", "contacts", DROP], env=env)
    assert dropped.exit_code == 0, dropped.output
    assert f"{DROP} was merged into {KEEP} as a duplicate; showing {KEEP}." in dropped.stderr
    assert "Contact persons of Acme AB" in dropped.stdout and LARS in dropped.stdout and KARIN in dropped.stdout


async def test_the_api_and_the_console_show_the_merge_on_the_kept_companys_side(url):
    app = create_served_app(Settings(database_url=url, kafka="127.0.0.1:1"))
    _facts, key = create_key(app.state.database.engine(), "Billing", "admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}) as client:
        listed = await client.get(f"/customers/{DROP}/contact-persons", follow_redirects=True)
    assert listed.status_code == 200 and listed.json()["company_id"] == KEEP
    assert [p["customer_id"] for p in listed.json()["contact_persons"]] == [KARIN, LARS, MAJA]
    page = signed_in(app, key).get(f"/console/customers/{KEEP}").text
    assert f'<a href="/console/customers/{DROP}">{DROP}</a>' in page and "Sammanslagna kunder" in page  # the console speaks Swedish by default
    app.state.disclosures.close()
