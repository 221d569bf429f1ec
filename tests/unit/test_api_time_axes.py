"""The API on two time axes, in-process (ASGI) on a SQLite register and audit trail: a customer's row and
contactability at a moment (`valid_at`, `known_at`; `at` for contactability), who may ask about the past, and
channels and purposes in any case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import httpx
import pytest

from events import codec
from events.catalog import Channel, ConsentGiven, ConsentPurpose, NixRegistered
from events.customer import fold
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.settings import Settings
from processors.lifecycle import expiry
from projections.audit import AuditProjection
from projections.register import RegisterProjection
from projections.runner import apply_batch
from registervard.api.api_keys import create_key
from registervard.api.http_app import create_app
from tests.builders import envelope, person

ANNA = "C-anna"
ACME = "Acme AB"


@pytest.fixture
def app(tmp_path):
    """Anna: registered in December, her number in NIX, a consent to Acme to call despite NIX given on 1 January and
    recorded on 3 January, which lapsed on 1 April (as the worker would have logged it)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}", kafka="127.0.0.1:1", api_rate_limit="1000000/second"))
    given = ConsentGiven(
        envelope=replace(envelope(ANNA, on=datetime(2025, 1, 1, 9, tzinfo=UTC)), recorded_at=datetime(2025, 1, 3, 9, tzinfo=UTC)),
        purpose=ConsentPurpose.TELEMARKETING,
        channel=Channel.PHONE,
        company=ACME,
        overrides_nix=True,
    )
    lapse = expiry(fold([given]).consents[0], ANNA)
    events = [
        parse_event(person(ANNA, occurred_at="2024-12-01T09:00:00Z", recorded_at="2024-12-01T09:00:00Z")),
        NixRegistered(envelope=envelope(ANNA, on=date(2024, 12, 1), source="NIX"), phone="+46701234567", register_version_date=date(2024, 12, 1)),
        given,
        lapse,
    ]
    records = [LogRecord(topic="events", partition=0, offset=n, value=codec.encode(e)) for n, e in enumerate(events)]
    engine = app.state.database.engine()
    apply_batch(engine, RegisterProjection(), records)
    apply_batch(engine, AuditProjection(), records)
    return app


async def get(app, path: str, role: str = "admin", **params) -> httpx.Response:
    _facts, key = create_key(app.state.database.engine(), f"{role} system", role)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}) as client:
        return await client.get(path, params=params)


CALL = {"channel": "PHONE", "purpose": "TELEMARKETING", "company": ACME}


async def test_contactability_at_a_moment_counts_a_consent_that_has_lapsed_since(app):
    then = await get(app, f"/customers/{ANNA}/contactability", "marketing", **CALL, valid_at="2025-02-15T10:00:00Z")
    assert then.status_code == 200, then.text
    assert then.json()["allowed"] is True and "NIX_OVERRIDE_CONSENT" in [r["code"] for r in then.json()["reasons"]]
    assert then.json()["at"] == "2025-02-15T10:00:00+00:00" and then.json()["rules"]["version"] == "1"
    same = await get(app, f"/customers/{ANNA}/contactability", "marketing", **CALL, at="2025-02-15T10:00:00Z")
    assert same.json()["allowed"] is True, "`at` is another name for valid_at"
    unknown_then = await get(app, f"/customers/{ANNA}/contactability", "marketing", **CALL, at="2025-02-15T10:00:00Z", known_at="2025-01-02T23:59:59Z")
    assert unknown_then.json()["allowed"] is False and "NIX_REGISTERED" in [r["code"] for r in unknown_then.json()["reasons"]]
    assert unknown_then.json()["known_at"] == "2025-01-02T23:59:59+00:00"
    now = await get(app, f"/customers/{ANNA}/contactability", "marketing", **CALL)
    assert now.json()["allowed"] is False, "the consent has lapsed"


async def test_channel_and_purpose_are_taken_in_any_case(app):
    lower = await get(app, f"/customers/{ANNA}/contactability", "marketing", channel="phone", purpose="Telemarketing", company=ACME, at="2025-02-15T10:00:00Z")
    assert lower.status_code == 200, lower.text
    assert (lower.json()["channel"], lower.json()["purpose"], lower.json()["allowed"]) == ("PHONE", "TELEMARKETING", True)
    fax = await get(app, f"/customers/{ANNA}/contactability", "marketing", channel="fax", purpose="MARKETING", company=ACME)
    assert fax.status_code == 422 and fax.json()["message"].startswith("query.channel: Input should be") and "fax" not in fax.text


async def test_valid_at_wins_over_at_its_older_name(app):
    both = await get(app, f"/customers/{ANNA}/contactability", "marketing", **CALL, at="2025-05-01T10:00:00Z", valid_at="2025-02-16T10:00:00Z")
    assert both.status_code == 200 and both.json()["at"] == "2025-02-16T10:00:00+00:00" and both.json()["allowed"] is True


async def test_a_customers_row_at_a_moment(app):
    then = await get(app, f"/customers/{ANNA}", "customer_service", valid_at="2025-02-15T10:00:00Z")
    assert then.status_code == 200, then.text
    row = then.json()
    assert (row["active_consents"], row["status"], row["surname"], row["valid_at"]) == (1, "ACTIVE", "Svensson", "2025-02-15T10:00:00Z")
    assert (await get(app, f"/customers/{ANNA}", "customer_service")).json()["active_consents"] == 0, "now"
    before = await get(app, f"/customers/{ANNA}", "customer_service", valid_at="2024-11-01T00:00:00Z")
    assert before.status_code == 404 and before.json()["error"] == "CUSTOMER_NOT_FOUND" and "valid_at" in before.json()["message"]
    assert (await get(app, "/customers/C-nobody", "customer_service", valid_at="2025-02-15T10:00:00Z")).status_code == 404


async def test_a_past_row_is_history_which_a_reader_may_not_see(app):
    refused = await get(app, f"/customers/{ANNA}", "reader", valid_at="2025-02-15T10:00:00Z")
    assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN_FOR_ROLE" and "customer_service" in refused.json()["message"]
    assert (await get(app, f"/customers/{ANNA}", "reader")).status_code == 200


async def test_a_consent_past_its_lapse_date_is_not_active_in_the_row_even_before_its_expiry_is_recorded(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}", kafka="127.0.0.1:1", api_rate_limit="1000000/second"))
    given = ConsentGiven(
        envelope=envelope(ANNA, on=datetime(2025, 1, 1, 9, tzinfo=UTC)),
        purpose=ConsentPurpose.TELEMARKETING,
        channel=Channel.PHONE,
        company=ACME,
        overrides_nix=True,  # lapses after 3 months, long before today
    )
    events = [parse_event(person(ANNA, occurred_at="2024-12-01T09:00:00Z", recorded_at="2024-12-01T09:00:00Z")), given]  # no ConsentExpired yet
    records = [LogRecord(topic="events", partition=0, offset=n, value=codec.encode(e)) for n, e in enumerate(events)]
    apply_batch(app.state.database.engine(), RegisterProjection(), records)

    row = (await get(app, f"/customers/{ANNA}", "customer_service")).json()
    assert row["active_consents"] == 0, "as contact checks count it: lapsed"
    assert [(c["purpose"], c["company"], c["expiry_recorded"]) for c in row["lapsed_consents"]] == [("TELEMARKETING", ACME, False)]
    assert "lapsed_consents" not in (await get(app, f"/customers/{ANNA}", "reader")).json(), "a reader sees no consent detail"
