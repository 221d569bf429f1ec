"""The register health report's figures, against values computed by hand on a small known register.

Ten customers with planted facts, and Acme AB as the company. The report is taken on 2025-06-15 at 12:00 UTC with
two months before it, so at three points: P1 = the end of 2025-04-30, P2 = the end of 2025-05-31, P3 = the day.
Every event is known when it happens (recorded_at = occurred_at) but one: Hugo's emigration on 1 May is reported on
5 June, so P2, taken as the register knew it then, still has him active.

    customer        planted facts                                                  P1        P2         P3
    C-01 Anna       address, phone, e-mail; MARKETING/EMAIL consent (02-01);       active    active     active
                    phone washed clear of NIX, version 2025-05-20
    C-02 Bertil     address, phone, e-mail; phone in NIX (version 05-20);          active    active     active
                    override consent TELEMARKETING/PHONE given 04-01 (lapses 07-01)
    C-03 Cecilia    no phone; MARKETING/EMAIL consent valid until 07-05            active    active     active
                    (lapses 07-06)
    C-04 Doris      no e-mail; protected identity from 05-10                       active    protected  protected
    C-05 Erik       no address, phone nor e-mail; MARKETING/SMS consent given      active    active     active
                    03-01, valid until 06-10 (lapses 06-11; no expiry recorded)
    C-06 Folke      died 05-15 (reported 05-17)                                    active    DECEASED   DECEASED
    C-07 Greta      address in Norway; opted out of marketing on ANY (03-01)      active    active     active
    C-08 Hugo       emigrated 05-01, reported 06-05                                active    active     EMIGRATED
    C-09 Ida        erased 06-01 (key destroyed)                                   (active)  (active)   ERASED
    C-10 Företag AB a company, Acme's existing customer, no phone nor e-mail       active    active     active

Ida is active at P1 and P2 as the register knew her then, but her data can no longer be read, so she is left out
of every share (the denominator, "active", counts the others).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from events import codec
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.sealing import KeyStore, MemoryKeyStore, seal
from projections.audit import AuditProjection
from projections.database import connect
from projections.health_report import DeadLetterFigures, HealthReport, companies, health_report, month_points
from projections.register import RegisterProjection
from projections.runner import apply_batch

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
ACME = "Acme AB"
SE = {"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm"}


def _at(day: str) -> str:
    return f"{day}T09:00:00Z"


def _event(type_: str, customer_id: str, day: str, *, reported: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "customer_id": customer_id, "occurred_at": _at(day), "recorded_at": _at(reported or day), "source": "TEST", **fields}


def _person(customer_id: str, number: str, given: str, *, address: dict[str, str] | None = SE, **contact: str) -> dict[str, Any]:
    registration: dict[str, Any] = {"identity_number": number, "name": {"given_names": given, "surname": "Svensson"}}
    if address is not None:
        registration["address"] = address
    if contact:
        registration["contact"] = contact
    return _event("CustomerRegistered", customer_id, "2025-01-10", customer_kind="PERSON", registration=registration)


def documents() -> list[dict[str, Any]]:
    """The known register's events in log order."""
    return [
        _person("C-01", "198112189876", "Anna", phone="+46701000001", email="anna@example.se"),
        _person("C-02", "194107086995", "Bertil", phone="+46701000002", email="bertil@example.se"),
        _person("C-03", "200001012384", "Cecilia", email="cecilia@example.se"),
        _person("C-04", "196408233234", "Doris", phone="+46701000004"),
        _person("C-05", "197802022389", "Erik", address=None),
        _person("C-06", "195306062398", "Folke", phone="+46701000006", email="folke@example.se"),
        _person("C-07", "198503121231", "Greta", address={"street": "Karl Johans gate 1", "postal_code": "0150", "city": "Oslo", "country": "NO"},
                phone="+46701000007", email="greta@example.se"),
        _person("C-08", "197001019871", "Hugo", phone="+46701000008", email="hugo@example.se"),
        _person("C-09", "196001014569", "Ida", phone="+46701000009", email="ida@example.se"),
        _event("CustomerRegistered", "C-10", "2025-01-10", customer_kind="COMPANY", company=ACME,
               registration={"identity_number": "165560360793", "company_name": "Företag AB", "address": SE}),
        _event("ConsentGiven", "C-01", "2025-02-01", purpose="MARKETING", channel="EMAIL", company=ACME),
        _event("ConsentGiven", "C-03", "2025-02-01", purpose="MARKETING", channel="EMAIL", company=ACME, valid_until="2025-07-05"),
        _event("ConsentGiven", "C-05", "2025-03-01", purpose="MARKETING", channel="SMS", company=ACME, valid_until="2025-06-10"),
        _event("MarketingOptOut", "C-07", "2025-03-01", channel="ANY"),
        _event("ConsentGiven", "C-02", "2025-04-01", purpose="TELEMARKETING", channel="PHONE", company=ACME, overrides_nix=True),
        _event("ProtectedIdentitySet", "C-04", "2025-05-10", protection="SKYDDAD_FOLKBOKFORING"),
        _event("CustomerDeceased", "C-06", "2025-05-17", date_of_death="2025-05-15"),
        _event("NixDeregistered", "C-01", "2025-05-20", phone="+46701000001", register_version_date="2025-05-20"),
        _event("NixRegistered", "C-02", "2025-05-20", phone="+46701000002", register_version_date="2025-05-20"),
        _event("CustomerErased", "C-09", "2025-06-01", reason="CUSTOMER_REQUEST"),
        _event("CustomerEmigrated", "C-08", "2025-05-01", reported="2025-06-05", effective_date="2025-05-01", destination_country="NO"),
    ]


@dataclass(frozen=True)
class FakeLetter:
    ref: str
    rejected_at: datetime
    reason_code: str


LETTERS = [
    FakeLetter("0:0", datetime(2025, 6, 14, 10, tzinfo=UTC), "UNKNOWN_CUSTOMER"),
    FakeLetter("0:1", datetime(2025, 6, 14, 11, tzinfo=UTC), "UNKNOWN_CUSTOMER"),  # resolved
    FakeLetter("1:0", datetime(2025, 6, 15, 8, tzinfo=UTC), "AFTER_DEATH"),
    FakeLetter("1:1", datetime(2025, 5, 1, 8, tzinfo=UTC), "INVALID_FIELD"),  # before the 30 days counted
]


def build(url: str, keys: KeyStore | None = None) -> KeyStore:
    """The known register at `url`, sealed as the worker seals it with `keys` (default: in memory); Ida's key destroyed
    as her erasure does."""
    keys = keys if keys is not None else MemoryKeyStore()
    records = []
    for offset, document in enumerate(documents()):
        event = parse_event(document)
        key = keys.key_for(event.customer_id, create=True)
        assert key is not None
        records.append(LogRecord("test.events", 0, offset, codec.encode(seal(event, key))))
    engine = connect(url)
    try:
        for projection in (AuditProjection(), RegisterProjection()):
            assert apply_batch(engine, projection, records, keys) == []
    finally:
        engine.dispose()
    keys.destroy("C-09")
    return keys


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> HealthReport:
    url = f"sqlite:///{tmp_path_factory.mktemp('health') / 'register.db'}"
    keys = build(url)
    engine = connect(url)
    try:
        with Session(engine) as session:
            assert companies(session) == [ACME]
            return health_report(session, keys, now=NOW, months=2, company=ACME, dead_letters=LETTERS, resolved_letters={"0:1"})
    finally:
        engine.dispose()


def test_the_points_are_the_ends_of_the_months_before_the_day_and_the_day_itself(report: HealthReport) -> None:
    assert [figures.point.label for figures in report.points] == ["2025-04", "2025-05", "2025-06-15"]
    assert month_points(date(2025, 1, 31), months=2, now=NOW)[0].at == datetime(2024, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert report.today.point.at == NOW
    assert report.customers_read == 10 and report.entries_skipped == 0


def test_customers_by_status_as_the_register_knew_them_at_each_point(report: HealthReport) -> None:
    """P1: all ten active. P2: Folke deceased (05-15, known 05-17); Hugo's emigration (05-01) not yet known (06-05),
    so 9 active. P3: Folke deceased, Hugo emigrated, Ida erased: 10 - 3 = 7 active."""
    p1, p2, p3 = report.points
    assert p1.by_status == {"ACTIVE": 10, "DECEASED": 0, "EMIGRATED": 0, "ERASED": 0, "DEREGISTERED": 0}
    assert p2.by_status == {"ACTIVE": 9, "DECEASED": 1, "EMIGRATED": 0, "ERASED": 0, "DEREGISTERED": 0}
    assert p3.by_status == {"ACTIVE": 7, "DECEASED": 1, "EMIGRATED": 1, "ERASED": 1, "DEREGISTERED": 0}


def test_shares_of_active_customers_missing_or_undeliverable_details(report: HealthReport) -> None:
    """The denominator is the active customers whose data can be read (Ida's cannot):
    P1 10 - Ida = 9; P2 9 - Ida = 8 (Anna, Bertil, Cecilia, Doris, Erik, Greta, Hugo, Företag); P3 7 (not Hugo).

    missing address: Erik alone, at every point: 1/9, 1/8, 1/7.
    undeliverable: Greta (a person with an address in Norway) at every point, and Doris once protected (05-10):
      P1 1/9; P2 2/8; P3 2/7.
    missing phone: Cecilia, Erik, Företag AB: 3/9, 3/8, 3/7.
    missing e-mail: Doris, Erik, Företag AB: 3/9, 3/8, 3/7.
    """
    p1, p2, p3 = report.points
    assert (p1.active, p2.active, p3.active) == (9, 8, 7)
    assert (p1.missing_address, p2.missing_address, p3.missing_address) == (1, 1, 1)
    assert (p1.undeliverable_address, p2.undeliverable_address, p3.undeliverable_address) == (1, 2, 2)
    assert (p1.missing_phone, p2.missing_phone, p3.missing_phone) == (3, 3, 3)
    assert (p1.missing_email, p2.missing_email, p3.missing_email) == (3, 3, 3)
    assert (p1.protected, p2.protected, p3.protected) == (0, 1, 1)
    assert round(p3.missing_phone / p3.active, 4) == 0.4286  # 3/7


def test_the_latest_nix_version_its_age_and_the_numbers_washed(report: HealthReport) -> None:
    """The version read on 2025-05-20 is the latest from P2 on; at P3 it is 2025-06-15 - 2025-05-20 = 26 days old,
    under 2 months (red from 2025-07-20). Numbers washed: active customers with a phone whose number has a NIX status
    from a version under 2 months old. P1: phones Anna, Bertil, Doris, Folke, Greta, Hugo = 6, none washed yet (the
    version holds from 05-20). P2: Anna, Bertil, Doris, Greta, Hugo = 5 (Folke dead), washed Anna and Bertil = 2.
    P3: 4 (Hugo emigrated), washed 2."""
    p1, p2, p3 = report.points
    assert (p1.nix_version, p2.nix_version, p3.nix_version) == (None, date(2025, 5, 20), date(2025, 5, 20))
    assert p3.nix_age_days() == 26
    assert not report.nix_red
    assert (p1.with_phone, p1.washed, p2.with_phone, p2.washed, p3.with_phone, p3.washed) == (6, 0, 5, 2, 4, 2)


def test_consents_lapsing_in_the_next_30_days(report: HealthReport) -> None:
    """In force at P3 (06-15): Anna's (never lapses), Bertil's override (lapses 07-01), Cecilia's (valid until 07-05,
    lapses 07-06) = 3; Erik's lapsed on 06-11 and no expiry is recorded, so it is not in force but counted apart.
    Lapsing, 06-15 < lapses_on <= 07-15: Bertil's and Cecilia's = 2.
    At P2 (05-31) all four are in force; lapsing up to 06-30: Erik's (06-11) alone = 1. At P1 (04-30): four, none
    lapsing by 05-30."""
    p1, p2, p3 = report.points
    assert (p3.consents_in_force, p3.consents_lapsing, p3.consents_lapsed_unrecorded) == (3, 2, 1)
    assert (p2.consents_in_force, p2.consents_lapsing, p2.consents_lapsed_unrecorded) == (4, 1, 0)
    assert (p1.consents_in_force, p1.consents_lapsing) == (4, 0)
    assert [(g.company, g.purpose, g.channel, g.count, g.first) for g in report.lapsing] == [
        (ACME, "TELEMARKETING", "PHONE", 1, date(2025, 7, 1)),
        (ACME, "MARKETING", "EMAIL", 1, date(2025, 7, 6)),
    ]


def test_share_contactable_for_the_company_by_telemarketing_and_by_email(report: HealthReport) -> None:
    """Telemarketing (PHONE) for Acme: needs a phone, no opt-out, no protection, and a NIX wash under 2 months old
    that found the number clear, or an override consent in force.
    P1: Bertil (override given 04-01) = 1 of 9. P2 and P3: Anna (washed clear 05-20) and Bertil = 2 of 8, 2 of 7.
    E-mail marketing for Acme: needs an e-mail address and a consent to Acme: Anna and Cecilia at every point
    (Greta opted out, Bertil consented to calls only): 2/9, 2/8, 2/7."""
    p1, p2, p3 = report.points
    assert (p1.telemarketing, p2.telemarketing, p3.telemarketing) == (1, 2, 2)
    assert (p1.email_marketing, p2.email_marketing, p3.email_marketing) == (2, 2, 2)


def test_dead_letters_per_day_by_code_over_the_last_30_days(report: HealthReport) -> None:
    """The 30 days are 2025-05-17 to 2025-06-15: two UNKNOWN_CUSTOMER on 06-14, one AFTER_DEATH on 06-15; the
    INVALID_FIELD of 05-01 falls before them. Open: every letter but 0:1, by code."""
    letters = report.dead_letters
    assert isinstance(letters, DeadLetterFigures)
    assert (letters.days[0], letters.days[-1], len(letters.days)) == (date(2025, 5, 17), date(2025, 6, 15), 30)
    assert letters.codes == ("UNKNOWN_CUSTOMER", "AFTER_DEATH")
    assert letters.on(date(2025, 6, 14), "UNKNOWN_CUSTOMER") == 2 and letters.on(date(2025, 6, 15), "AFTER_DEATH") == 1
    assert letters.in_window == 3 and letters.total == 4
    assert dict(letters.open_by_code) == {"AFTER_DEATH": 1, "INVALID_FIELD": 1, "UNKNOWN_CUSTOMER": 1}


def test_without_a_company_contactability_is_not_reckoned_and_unread_dead_letters_say_why(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    keys = build(url)
    engine = connect(url)
    try:
        with Session(engine) as session:
            found = health_report(session, keys, now=NOW, months=1, dead_letters_problem="Kafka did not answer")
    finally:
        engine.dispose()
    assert found.today.telemarketing is None and found.company is None
    assert found.dead_letters is None and found.dead_letters_problem == "Kafka did not answer"
    assert found.today.by_status["ACTIVE"] == 7


def test_the_report_equals_deciding_every_customer_at_every_point_from_scratch(tmp_path) -> None:
    """The report folds each customer once per distinct set of events and decides once per span without a date of the
    state (`decision_moments`); on the demo register's lives (a year of moves, deaths, consents, NIX) that gives the
    same figures as folding (`events.timeline.state_at`) and deciding (`may_contact`) at every point anew."""
    import json

    from events.catalog import Channel, ConsentPurpose, CustomerErased
    from events.contactability import may_contact
    from events.customer import Status, add_months
    from events.timeline import state_at
    from projections.health_report import PointFigures
    from registervard.demo import OUR_COMPANY, demo_events

    events = [parse_event(json.loads(line)) for line in demo_events(customers=150, seed=11)]
    records = [LogRecord("test.events", 0, offset, codec.encode(event)) for offset, event in enumerate(events)]
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = connect(url)
    try:
        assert apply_batch(engine, AuditProjection(), records, MemoryKeyStore()) == []
        with Session(engine) as session:
            found = health_report(session, None, day=date(2025, 3, 1), months=12, company=OUR_COMPANY, now=NOW.replace(year=2026))
    finally:
        engine.dispose()

    by_customer: dict[str, list[Any]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)
    expected = []
    for figure in found.points:
        at, day = figure.point.at, figure.day
        naive = PointFigures(figure.point, telemarketing=0, email_marketing=0)
        for history in by_customer.values():
            state = state_at(history, valid_at=at, known_at=at)
            if state is None or not state.registered:
                continue
            naive.by_status[state.status.value] += 1
            versions = [entry.as_of for entry in state.nix]
            if versions and (naive.nix_version is None or max(versions) > naive.nix_version):
                naive.nix_version = max(versions)
            for consent in state.consents:
                lapses = consent.lapses_on
                if lapses is not None and lapses <= day:
                    naive.consents_lapsed_unrecorded += 1
                else:
                    naive.consents_in_force += 1
                    naive.consents_lapsing += lapses is not None and (lapses - day).days <= 30
            if state.status is not Status.ACTIVE or any(isinstance(e, CustomerErased) for e in history):
                continue
            phone = state.contact.phone if state.contact else None
            naive.active += 1
            naive.protected += state.protected
            naive.missing_address += state.address is None
            naive.undeliverable_address += state.address is not None and (state.protected or (state.address.country != "SE" and state.kind.value == "PERSON"))
            naive.missing_phone += phone is None
            naive.missing_email += not (state.contact and state.contact.email)
            if phone:
                naive.with_phone += 1
                naive.washed += any(e.phone == phone and e.as_of <= day < add_months(e.as_of, 2) for e in state.nix)
            asked = {"company": OUR_COMPANY, "at": at}
            naive.telemarketing += may_contact(state, channel=Channel.PHONE, purpose=ConsentPurpose.TELEMARKETING, **asked).allowed
            naive.email_marketing += may_contact(state, channel=Channel.EMAIL, purpose=ConsentPurpose.MARKETING, **asked).allowed
        expected.append(naive)
    assert list(found.points) == expected
    assert len({(f.telemarketing, f.active) for f in found.points}) > 3, "the demo's year should change the figures from month to month"
