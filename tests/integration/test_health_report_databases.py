"""The register health report on SQLite and PostgreSQL alike: the same known register gives the same figures."""

from __future__ import annotations

from sqlalchemy.orm import Session

from projections.database import connect
from projections.health_report import companies, health_report
from tests.unit.test_health_report import ACME, NOW, build


def test_the_known_register_gives_the_hand_computed_figures_on_either_database(database_url):
    """The figures of P3 worked out in tests/unit/test_health_report.py, read a customer at a time (chunk 3: keyset
    pages over the customer ids, as each database orders them)."""
    keys = build(database_url)
    engine = connect(database_url)
    try:
        with Session(engine) as session:
            assert companies(session) == [ACME]
            report = health_report(session, keys, now=NOW, months=2, company=ACME, chunk=3)
    finally:
        engine.dispose()
    today = report.today
    assert report.customers_read == 10
    assert today.by_status == {"ACTIVE": 7, "DECEASED": 1, "EMIGRATED": 1, "ERASED": 1, "DEREGISTERED": 0}
    assert (today.active, today.missing_address, today.undeliverable_address, today.missing_phone, today.missing_email) == (7, 1, 2, 3, 3)
    assert (today.telemarketing, today.email_marketing, today.consents_lapsing, today.washed) == (2, 2, 2, 2)
    assert [f.by_status["ACTIVE"] for f in report.points] == [10, 9, 7]
