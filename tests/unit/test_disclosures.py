"""Every lookup that shows a customer's data is recorded as a disclosure before it is answered, also when many come at
once (group commit, registervard/api/disclosure_writer.py), and none is lost when the API shuts down."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, func, insert, select
from sqlalchemy.engine import Engine

import projections.read
from events.catalog import Channel, ContactDetails, CustomerKind
from events.convert import to_plain
from events.customer import CustomerState, NixStatus
from events.settings import Settings
from projections.access import DisclosureRow
from projections.database import connect
from projections.tables import CustomerRow, CustomerStateRow
from registervard.api.api_keys import create_key
from registervard.api.disclosure_writer import DisclosureWriter, disclosure_rows
from registervard.api.http_app import create_app

CUSTOMERS = [f"C-{n}" for n in range(12)]


def disclosed(engine: Engine, **where: str) -> list[tuple[str, str, str, str | None]]:
    with engine.connect() as connection:
        query = select(DisclosureRow.customer_id, DisclosureRow.recipient, DisclosureRow.channel, DisclosureRow.purpose)
        for column, value in where.items():
            query = query.where(getattr(DisclosureRow, column) == value)
        return [tuple(row) for row in connection.execute(query.order_by(DisclosureRow.id))]  # type: ignore[misc]


@pytest.fixture
def engine(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    yield engine
    engine.dispose()


# --- The writer ----------------------------------------------------------------------------


def test_each_record_returns_only_once_its_rows_are_committed_also_from_many_threads_at_once(engine):
    writer = DisclosureWriter(lambda: engine)
    seen_at_return: list[int] = []
    failures: list[BaseException] = []

    def client(n: int) -> None:
        try:
            for k in range(25):
                customer = f"C-{n}-{k}"
                writer.record(disclosure_rows(f"system {n}", [customer, customer], "contactability"))  # the same customer twice: one row
                seen_at_return.append(len(disclosed(engine, customer_id=customer)))  # committed: another connection sees it
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert failures == []
    assert seen_at_return == [1] * 200
    rows = disclosed(engine)
    assert len(rows) == 200 and len(set(rows)) == 200
    assert {r[2:] for r in rows} == {("api", "contactability")}


def test_close_waits_for_the_commit_under_way_and_the_requests_waiting_on_it(engine):
    release, entered = threading.Event(), threading.Event()

    def slow_first_commit(_connection) -> None:
        if not entered.is_set():
            entered.set()
            release.wait()

    event.listen(engine, "begin", slow_first_commit)
    writer = DisclosureWriter(lambda: engine)
    leader = threading.Thread(target=writer.record, args=(disclosure_rows("CRM", ["C-leader"], "customer"),))
    leader.start()
    entered.wait()
    followers = [threading.Thread(target=writer.record, args=(disclosure_rows("CRM", [f"C-{n}"], "customer"),)) for n in range(5)]
    for thread in followers:
        thread.start()
    while len(writer._pending) < 5:  # every follower is waiting on the commit under way
        threading.Event().wait(0.01)
    closer = threading.Thread(target=writer.close)
    closer.start()
    closer.join(timeout=0.5)
    still_closing = closer.is_alive()
    release.set()  # before asserting: a failure must not leave the threads blocked
    closer.join()
    assert still_closing, "close returned while disclosures were still being written"
    assert sorted(r[0] for r in disclosed(engine)) == sorted(["C-leader", *(f"C-{n}" for n in range(5))])
    for thread in [leader, *followers]:
        thread.join()
    writer.record(disclosure_rows("CRM", ["C-late"], "customer"))  # after close: written at once
    assert disclosed(engine)[-1][0] == "C-late"


def test_requests_waiting_together_share_commits_of_at_most_max_rows(engine):
    release, entered = threading.Event(), threading.Event()
    commits: list[int] = []

    def count(_connection) -> None:
        commits.append(1)
        if not entered.is_set():
            entered.set()
            release.wait()

    event.listen(engine, "begin", count)
    writer = DisclosureWriter(lambda: engine, max_rows=4)
    first = threading.Thread(target=writer.record, args=(disclosure_rows("CRM", ["C-first"], "customer"),))
    first.start()
    entered.wait()
    waiting = [threading.Thread(target=writer.record, args=(disclosure_rows("CRM", [f"C-{n}"], "customer"),)) for n in range(10)]
    for thread in waiting:
        thread.start()
    while len(writer._pending) < 10:
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *waiting]:
        thread.join()
    assert len(commits) == 1 + 3, "the ten that waited went in three commits of at most four rows"
    assert len(disclosed(engine)) == 11


def test_a_disclosure_that_cannot_be_recorded_fails_its_request(tmp_path):
    unmigrated = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no disclosures table
    writer = DisclosureWriter(lambda: unmigrated)
    with pytest.raises(Exception, match="disclosures"):
        writer.record(disclosure_rows("CRM", ["C-1"], "customer"))
    writer.close()
    unmigrated.dispose()


# --- Through the API ----------------------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}", kafka="127.0.0.1:1", api_rate_limit="1000000/second"))
    engine = app.state.database.engine()
    with engine.begin() as connection:
        for customer_id in CUSTOMERS:
            state = CustomerState(
                customer_id=customer_id,
                kind=CustomerKind.PERSON,
                contact=ContactDetails(phone="+46701234567"),
                nix=(NixStatus(phone="+46701234567", registered=False, as_of=datetime.now(UTC).date()),),  # washed today
            )
            connection.execute(insert(CustomerStateRow), [{"customer_id": customer_id, "state": to_plain(state, for_json=True)}])
            connection.execute(insert(CustomerRow), [{"customer_id": customer_id, "kind": "PERSON", "status": "ACTIVE", "protected": False,
                                                     "updated_at": datetime(2025, 6, 1, tzinfo=UTC)}])
    return app


def contactability_path(customer_id: str) -> str:
    # Now, not `at` a moment: a moment is answered from the audit trail, which this register (states alone) has not.
    return f"/customers/{customer_id}/contactability?channel={Channel.PHONE}&purpose=TELEMARKETING&company=Ringbolaget%20AB"


async def test_every_contactability_lookup_is_recorded_before_it_is_answered_also_forty_at_once(app):
    engine = app.state.database.engine()
    _facts, key = create_key(engine, "Shop", "marketing")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers) as client:
        first = await client.get(contactability_path("C-0"))
        assert first.status_code == 200 and first.json()["allowed"] is True
        assert disclosed(engine) == [("C-0", "Shop", "api", "contactability")], "recorded by the time it is answered"
        asked = [CUSTOMERS[n % len(CUSTOMERS)] for n in range(40)]
        answers = await asyncio.gather(*(client.get(contactability_path(c)) for c in asked))
        missing = await client.get(contactability_path("C-nobody"))
    assert [a.status_code for a in answers] == [200] * 40
    assert missing.status_code == 404
    assert sorted(r[0] for r in disclosed(engine)) == sorted(["C-0", *asked]), "one row per answer, none for the 404"


def test_disclosures_handed_over_are_all_written_when_the_api_shuts_down(app):
    engine = app.state.database.engine()
    writer: DisclosureWriter = app.state.disclosures
    with TestClient(app):  # runs the lifespan: its end closes the writer
        threads = [threading.Thread(target=writer.record, args=(disclosure_rows("CRM", [f"C-{n}-{k}" for k in range(20)], "customer"),)) for n in range(25)]
        for thread in threads:
            thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(DisclosureRow)).scalar() == 500


async def test_history_uses_the_apis_engine_not_one_per_request(app, monkeypatch):
    engine = app.state.database.engine()
    _facts, key = create_key(engine, "Auditor", "auditor")

    def no_new_engine(url: str) -> Engine:
        raise AssertionError("an engine was built for one request")

    monkeypatch.setattr(projections.read, "connect", no_new_engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await client.get("/customers/C-1/history", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.json()["customer_id"] == "C-1"
    assert disclosed(engine) == [("C-1", "Auditor", "api", "history")]
