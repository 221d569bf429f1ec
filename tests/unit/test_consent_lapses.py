"""A consent past its lapse date whose expiry the register has not recorded yet (the worker's timer has not run):
`customer show` no longer counts it as active but lists it as lapsed, as `contact check` treats it; the register
counts such consents as pending work. On a SQLite file, no broker: the events are applied as log records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from events import codec
from events.catalog import Channel, ConsentGiven, ConsentPurpose, NixRegistered
from events.customer import fold
from events.event_log import LogRecord
from events.jsonlines import parse_event
from processors.lifecycle import expiry
from projections.audit import AuditProjection
from projections.consent_lapses import lapsed_consents, lapses_not_recorded
from projections.database import connect
from projections.register import RegisterProjection
from projections.runner import apply_batch
from registervard import exit_codes
from registervard.cli import app as cli
from tests.builders import envelope, person

ANNA, BERTIL = "C-anna", "C-bertil"
ACME = "Acme AB"


def consent(customer_id: str, on: date, **fields) -> ConsentGiven:
    moment = datetime(on.year, on.month, on.day, 9, tzinfo=UTC)
    return ConsentGiven(envelope=envelope(customer_id, on=moment), company=ACME, **fields)


@pytest.fixture
def url(tmp_path) -> str:
    return register_with_a_lapse(tmp_path)


def register_with_a_lapse(folder: Path) -> str:
    """A register in `folder`, and its URL. Anna: in NIX, a consent to Acme to call despite NIX given on 1 January 2025 (lapsed on 1 April, its expiry not
    recorded) and a newsletter consent without an end. Bertil: the same NIX override, its expiry recorded."""
    anna_call = consent(ANNA, date(2025, 1, 1), purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, overrides_nix=True)
    bertil_call = consent(BERTIL, date(2025, 1, 1), purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, overrides_nix=True)
    events = [
        parse_event(person(ANNA, occurred_at="2024-12-01T09:00:00Z", recorded_at="2024-12-01T09:00:00Z")),
        NixRegistered(envelope=envelope(ANNA, on=date(2024, 12, 1), source="NIX"), phone="+46701234567", register_version_date=date(2024, 12, 1)),
        anna_call,
        consent(ANNA, date(2025, 1, 2), purpose=ConsentPurpose.NEWSLETTER, channel=Channel.EMAIL),
        parse_event(person(BERTIL, identity_number="194107086995", occurred_at="2024-12-01T09:00:00Z", recorded_at="2024-12-01T09:00:00Z")),
        bertil_call,
        expiry(fold([bertil_call]).consents[0], BERTIL),
    ]
    url = f"sqlite:///{folder / 'register.db'}"
    records = [LogRecord("registervard.events", 0, offset, codec.encode(event)) for offset, event in enumerate(events)]
    engine = connect(url)
    assert apply_batch(engine, RegisterProjection(), records) == []
    assert apply_batch(engine, AuditProjection(), records) == []
    engine.dispose()
    return url


def show(url: str, *args: str):
    result = CliRunner().invoke(cli, ["customer", "show", *args], env={"REGISTERVARD_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result


def test_customer_show_marks_a_consent_past_its_lapse_date_as_lapsed_and_does_not_count_it_active(url):
    record = json.loads(show(url, ANNA, "--json").stdout)
    assert record["active_consents"] == 1, "the newsletter consent; the NIX override has lapsed"
    assert record["lapsed_consents"] == [
        {"purpose": "TELEMARKETING", "channel": "PHONE", "company": ACME, "lapsed_on": "2025-04-01", "expiry_recorded": False}
    ]
    table = " ".join(show(url, ANNA).stdout.split())
    assert "active_consents 1" in table
    assert "lapsed_consents TELEMARKETING on PHONE for Acme AB: lapsed on 2025-04-01, expiry not yet recorded" in table
    recorded = json.loads(show(url, BERTIL, "--json").stdout)
    assert (recorded["active_consents"], recorded["lapsed_consents"]) == (0, []), "an expiry recorded: the consent is gone"


def test_customer_show_and_contact_check_agree(url):
    record = json.loads(show(url, ANNA, "--json").stdout)
    check = CliRunner().invoke(
        cli,
        ["contact", "check", ANNA, "--channel", "phone", "--purpose", "telemarketing", "--company", ACME, "--json"],
        env={"REGISTERVARD_DATABASE_URL": url},
    )
    assert check.exit_code == exit_codes.ANSWER_NO, check.output
    assert "CONSENT_EXPIRED" in [reason["code"] for reason in json.loads(check.stdout)["reasons"]]
    assert [c["purpose"] for c in record["lapsed_consents"]] == ["TELEMARKETING"]


def test_at_a_moment_a_consent_is_lapsed_only_once_its_lapse_date_has_come(url):
    before = json.loads(show(url, ANNA, "--valid-at", "2025-03-01", "--json").stdout)
    assert (before["active_consents"], before["lapsed_consents"]) == (2, [])
    after = json.loads(show(url, ANNA, "--valid-at", "2025-04-01T00:00:00Z", "--json").stdout)
    assert (after["active_consents"], [c["lapsed_on"] for c in after["lapsed_consents"]]) == (1, ["2025-04-01"])


def test_the_register_counts_the_lapses_not_yet_recorded_as_pending(url):
    engine = connect(url)
    with Session(engine) as session:
        assert lapses_not_recorded(session, today=date(2025, 3, 31)) == (0, None)
        assert lapses_not_recorded(session, today=date(2025, 4, 1)) == (1, date(2025, 4, 1)), "Bertil's expiry is recorded"
        assert [c.customer_id for c in lapsed_consents(session, ANNA)] == [ANNA]
        assert lapsed_consents(session, BERTIL) == []
    engine.dispose()
