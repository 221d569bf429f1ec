"""Retention on SQLite and PostgreSQL: who is due for erasure, and `retention due --erase --dry-run` erases no one."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime

from sqlalchemy import insert

from events.catalog import ErasureReason
from projections.database import connect
from projections.tables import CustomerRow
from registervard.erasure import erasure_event, retention_due
from tests.conftest import service_env


def row(customer_id: str, status: str, deceased_on: date | None = None, emigrated_on: date | None = None) -> dict:
    return dict(customer_id=customer_id, status=status, deceased_on=deceased_on, emigrated_on=emigrated_on, events_applied=1, updated_at=datetime.now(UTC))


def test_customers_deregistered_longer_than_the_period_are_due_oldest_first(settings, database_url):
    engine = connect(database_url)
    with engine.begin() as connection:
        connection.execute(
            insert(CustomerRow),
            [
                row("C-dead-long", "DECEASED", deceased_on=date(2021, 5, 1)),
                row("C-dead-recent", "DECEASED", deceased_on=date(2024, 6, 1)),
                row("C-emigrated-long", "EMIGRATED", emigrated_on=date(2020, 1, 15)),
                row("C-emigrated-then-died", "DECEASED", deceased_on=date(2024, 1, 1), emigrated_on=date(2019, 3, 1)),
                row("C-active", "ACTIVE"),
                row("C-erased", "ERASED", deceased_on=date(2015, 1, 1)),
            ],
        )
    engine.dispose()
    live = replace(settings, database_url=database_url)
    due = retention_due(live, years=3, today=date(2025, 6, 1))
    assert [(d.customer_id, d.deregistered_on) for d in due] == [
        ("C-emigrated-then-died", date(2019, 3, 1)),
        ("C-emigrated-long", date(2020, 1, 15)),
        ("C-dead-long", date(2021, 5, 1)),
    ]
    assert [d.customer_id for d in retention_due(live, years=1, today=date(2025, 6, 2))] == [
        "C-emigrated-then-died", "C-emigrated-long", "C-dead-long", "C-dead-recent"
    ]

    listed = subprocess.run(
        [sys.executable, "-m", "registervard", "retention", "due", "--erase", "--dry-run", "--years", "3", "--json"],
        env=service_env(live, COLUMNS="200"), capture_output=True, text=True, timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "C-dead-long" in listed.stdout and "C-active" not in listed.stdout and "none erased" in listed.stderr


def test_an_erasure_has_the_same_id_whoever_asks_and_when():
    first = erasure_event("C-1", ErasureReason.CUSTOMER_REQUEST)
    again = erasure_event("C-1", ErasureReason.RETENTION_EXPIRED, source="API")
    assert first.event_id == again.event_id and erasure_event("C-2", ErasureReason.OTHER).event_id != first.event_id
