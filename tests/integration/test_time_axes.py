"""Decisions and records as of any moment, on two time axes, through the real broker, the worker (whose timer lapses
the consent) and the projections (register and audit trail): `contact check`, `customer show`, `replay`, `extract`
and the API, with `--valid-at` (the moment in the world) and `--known-at` (the moment of the register's knowledge),
and rules that change on a date.

Anna registered in December 2024, her number in NIX-Telefon; on 1 January 2025 she gave Acme a consent to call her
despite NIX, which lapsed by itself on 1 April (the worker appends ConsentExpired). Bertil is an existing customer of
Acme: Acme may call him, the rules permitting.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from events.catalog import Channel, ConsentGiven, ConsentPurpose, NixRegistered
from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from events.topics import ensure_topics
from projections.audit import AuditProjection, AuditRow
from projections.data_keys import key_store
from projections.database import connect
from projections.register import RegisterProjection
from projections.runner import run_projection
from projections.tables import CustomerRow
from registervard.api.api_keys import create_key
from registervard.api.http_app import create_app
from registervard.cli import app as cli
from tests.builders import envelope, person
from tests.conftest import eventually, service_env

pytestmark = pytest.mark.kafka
ACME = "Acme AB"
RULES = Path(__file__).resolve().parents[2] / "src" / "events" / "contactability_rules.toml"
CALL = ("--channel", "PHONE", "--purpose", "TELEMARKETING", "--company", ACME)


@pytest.fixture(scope="module", autouse=True)
def topics(settings):
    asyncio.run(ensure_topics(settings))


@dataclass
class Register:
    settings: Settings
    anna: str
    bertil: str
    folder: Path


@pytest.fixture(scope="module")
def register(settings, worker, tmp_path_factory) -> Register:
    folder = tmp_path_factory.mktemp("time-axes")
    settings = replace(settings, database_url=f"sqlite:///{folder / 'register.db'}")
    tag = uuid.uuid4().hex[:8]
    anna, bertil = f"C-anna-{tag}", f"C-bertil-{tag}"
    december = {"occurred_at": "2024-12-01T09:00:00Z", "recorded_at": "2024-12-01T09:00:00Z"}
    events = [
        parse_event(person(anna, **december)),
        NixRegistered(envelope=envelope(anna, on=date(2024, 12, 1), source="NIX"), phone="+46701234567", register_version_date=date(2024, 12, 1)),
        ConsentGiven(
            envelope=envelope(anna, on=datetime(2025, 1, 1, 9, tzinfo=UTC)),
            purpose=ConsentPurpose.TELEMARKETING,
            channel=Channel.PHONE,
            company=ACME,
            overrides_nix=True,
        ),
        parse_event(person(bertil, identity_number="194107086995", company=ACME, **december)),
    ]

    async def build() -> None:
        async with Publisher(settings) as publisher:
            await publisher.publish(events)
        engine = connect(settings.database_url)

        async def lapsed_everywhere() -> bool:
            for projection in (RegisterProjection(), AuditProjection()):
                await run_projection(settings, projection, keys=key_store(settings), engine=engine, until_caught_up=True)
            with Session(engine) as session:
                row = session.get(CustomerRow, anna)
                trail = session.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.customer_id.in_([anna, bertil])))
            return row is not None and row.events_applied == 4 and row.active_consents == 0 and trail == 5  # the lapse too

        try:
            await eventually(lapsed_everywhere, timeout=120, what="the consent's lapse in the register and the audit trail")
        finally:
            engine.dispose()

    asyncio.run(build())
    return Register(settings, anna, bertil, folder)


def registervard(register: Register, *args: str, rules: Path | None = None):
    env = {**service_env(register.settings, COLUMNS="300"), "REGISTERVARD_CONTACT_RULES": str(rules) if rules else None}
    return CliRunner().invoke(cli, list(args), env=env)


def check(register: Register, customer: str, *moments: str, rules: Path | None = None) -> tuple[int, dict]:
    result = registervard(register, "contact", "check", customer, *CALL, *moments, "--json", rules=rules)
    assert result.stdout.startswith("{"), result.output  # an answer, not a usage error or a failure
    return result.exit_code, json.loads(result.stdout)


def codes(answer: dict) -> list[str]:
    return [reason["code"] for reason in answer["reasons"]]


def decided(answer: dict) -> tuple:
    """What was decided, and by which rules (not the moments: "now" moves between two calls)."""
    return answer["allowed"], answer["reasons"], answer.get("rules")


def rules_file(register: Register, name: str, ban_from: str) -> Path:
    path = register.folder / name
    ban = f'[[change]]\nid = "2"\nlabel = "Ban on telemarketing"\nvalid_from = {ban_from}\npurposes.TELEMARKETING.allowed = false\n'
    path.write_text(RULES.read_text(encoding="utf-8") + "\n" + ban, encoding="utf-8")
    return path


# --- Done when (issue 13) ----------------------------------------------------------------------------------


def test_a_consent_that_has_lapsed_since_still_allows_contact_at_a_moment_it_was_in_force(register):
    exit_code, then = check(register, register.anna, "--at", "2025-02-15T10:00:00Z")
    assert exit_code == 0 and then["allowed"] is True and "NIX_OVERRIDE_CONSENT" in codes(then), then
    exit_code, same = check(register, register.anna, "--valid-at", "2025-02-15T10:00:00Z")
    assert exit_code == 0 and same["allowed"] is True
    exit_code, may = check(register, register.anna, "--valid-at", "2025-05-01T10:00:00Z")
    assert exit_code == 3 and "NIX_REGISTERED" in codes(may)
    exit_code, now = check(register, register.anna)
    assert exit_code == 3 and "NIX_REGISTERED" in codes(now), "today the consent has lapsed"


def test_the_same_question_as_known_before_the_consent_was_recorded_answers_no(register):
    exit_code, answer = check(register, register.anna, "--valid-at", "2025-02-15T10:00:00Z", "--known-at", "2024-12-31")
    assert exit_code == 3 and answer["allowed"] is False and "NIX_REGISTERED" in codes(answer)
    assert answer["known_at"] == "2024-12-31T23:59:59.999999+00:00"


def test_a_ban_with_a_future_start_date_changes_no_decision_before_that_date(register):
    next_year = (datetime.now(UTC) + timedelta(days=365)).date()
    coming = rules_file(register, "ban-from-next-year.toml", next_year.isoformat())
    exit_code, now = check(register, register.bertil, rules=coming)
    assert exit_code == 0 and decided(now) == decided(check(register, register.bertil)[1])
    exit_code, then = check(register, register.bertil, "--at", f"{next_year.isoformat()}T10:00:00Z", rules=coming)
    assert exit_code == 3 and codes(then)[0] == "FORBIDDEN_BY_RULES"
    assert (now["rules"]["version"], then["rules"]["version"]) == ("1", "2")
    shown = registervard(register, "contact", "check", register.bertil, *CALL, "--at", f"{next_year.isoformat()}T10:00:00Z", rules=coming)
    assert f"Rules: version 2 (in force from {next_year.isoformat()}T00:00:00+00:00): Ban on telemarketing" in shown.stdout

    ban = rules_file(register, "ban-from-march.toml", "2025-03-01")
    exit_code, february = check(register, register.anna, "--at", "2025-02-15T10:00:00Z", rules=ban)
    _, without_ban = check(register, register.anna, "--at", "2025-02-15T10:00:00Z")
    assert exit_code == 0 and february["rules"]["version"] == "1" and decided(february) == decided(without_ban)
    exit_code, march = check(register, register.anna, "--at", "2025-03-15T10:00:00Z", rules=ban)
    assert exit_code == 3 and codes(march)[0] == "FORBIDDEN_BY_RULES" and march["rules"]["version"] == "2"


# --- The other entry points ------------------------------------------------------------------------------------


def test_customer_show_replay_and_the_extract_at_a_moment(register):
    shown = registervard(register, "customer", "show", register.anna, "--valid-at", "2025-02-15", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["active_consents"] == 1
    assert json.loads(registervard(register, "customer", "show", register.anna, "--json").stdout)["active_consents"] == 0
    unregistered = registervard(register, "customer", "show", register.anna, "--valid-at", "2024-11-30")
    assert unregistered.exit_code == 1 and "was not a registered customer" in unregistered.output

    replayed = registervard(register, "replay", "--customer", register.anna, "--valid-at", "2025-02-15", "--json")
    assert replayed.exit_code == 0, replayed.output
    [view] = json.loads(replayed.stdout)["customers"]
    assert [c["purpose"] for c in view["consents"]] == ["TELEMARKETING"] and view["address"]["street"] == "Storgatan 1"
    known_before = registervard(register, "replay", "--customer", register.anna, "--valid-at", "2025-02-15", "--known-at", "2024-12-31", "--json")
    assert json.loads(known_before.stdout)["customers"][0]["consents"] == []
    legacy = json.loads(registervard(register, "replay", "--customer", register.anna, "--as-of", "2025-02-15", "--json").stdout)
    assert legacy["as_of"] == legacy["valid_at"] == legacy["known_at"] and len(legacy["customers"][0]["consents"]) == 1

    extract = registervard(register, "extract", register.anna, "--valid-at", "2025-02-15", "--no-record")
    assert extract.exit_code == 0, extract.output
    document = json.loads(extract.stdout)
    assert [c["purpose"] for c in document["consents"]["active"]] == ["TELEMARKETING"] and document["valid_at"].startswith("2025-02-15T23:59:59")


async def test_the_api_answers_at_a_moment_on_both_axes(register):
    app = create_app(register.settings)
    _facts, key = create_key(app.state.database.engine(), "time axes", "admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}) as client:
        path = f"/customers/{register.anna}/contactability"
        question = {"channel": "phone", "purpose": "telemarketing", "company": ACME}
        then = (await client.get(path, params={**question, "valid_at": "2025-02-15T10:00:00Z"})).json()
        assert then["allowed"] is True and "NIX_OVERRIDE_CONSENT" in codes(then), then
        unknown = (await client.get(path, params={**question, "at": "2025-02-15T10:00:00Z", "known_at": "2024-12-31T00:00:00Z"})).json()
        assert unknown["allowed"] is False and "NIX_REGISTERED" in codes(unknown)
        row = (await client.get(f"/customers/{register.anna}", params={"valid_at": "2025-02-15T10:00:00Z"})).json()
        assert row["active_consents"] == 1 and row["surname"] == "Svensson"
