"""A merge in the register, SQLite and PostgreSQL, from log records (no broker): the dropped customer's rows go and a
pointer stays, the kept one holds what both held, downstream gets a tombstone with the pointer, the extract and the API
follow the pointer, and a rebuild from the log in another order makes the same register."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from events import codec
from events.catalog import Event, ProtectedIdentityLifted, ProtectedIdentitySet, Protection
from events.event_log import LogRecord
from events.merging import merge_event
from events.settings import Settings
from projections.audit import AuditProjection
from projections.downstream import MERGED_INTO_HEADER, read_pending
from projections.extract import build_extract
from projections.rebuild import Fold, downstream_differences
from projections.register import RegisterProjection
from projections.runner import apply_batch
from projections.tables import AddressHistoryRow, ConsentRow, CustomerRow, IdentityLookupRow, MergeRow
from registervard.api.api_keys import create_key
from registervard.web import create_served_app
from tests.builders import envelope
from tests.unit.test_console_web import signed_in
from tests.unit.test_merging import DROP, DROPPED_LIFE, KEEP, KEPT_LIFE, MERGED_AT, merged_pair, registered

ONCE = "C-once-protected"
ONCE_LIFE: list[Event] = [
    registered(ONCE, MERGED_AT.date()),
    ProtectedIdentitySet(envelope=envelope(ONCE), protection=Protection.SKYDDAD_FOLKBOKFORING),
    ProtectedIdentityLifted(envelope=envelope(ONCE)),
]
"""A customer whose protection was lifted: views of the past still leave out their name and address."""


def records(events: list[Event], partition: int) -> list[LogRecord]:
    return [LogRecord(topic="events", partition=partition, offset=n, value=codec.encode(e)) for n, e in enumerate(events)]


async def test_a_merged_customer_is_a_pointer_and_the_kept_one_holds_both_whatever_order_the_partitions_come_in(database_url):
    _, _, kept_half = merged_pair()
    kept_log = records([*KEPT_LIFE, kept_half], partition=0)
    dropped_log = records([*DROPPED_LIFE, merge_event(KEEP, DROP, at=MERGED_AT)], partition=1)
    once_log = records(ONCE_LIFE, partition=2)
    app = create_served_app(Settings(database_url=database_url, kafka="127.0.0.1:1", api_rate_limit="1000000/second"))
    engine = app.state.database.engine()
    # The kept customer's partition first, merge and all; the dropped one's after: each customer's own events tell it.
    for part in (kept_log, dropped_log, once_log):
        assert apply_batch(engine, RegisterProjection(), part) == []
        assert apply_batch(engine, AuditProjection(), part) == []

    with Session(engine) as session:
        assert session.get(CustomerRow, DROP) is None and session.get(MergeRow, DROP).merged_into == KEEP  # type: ignore[union-attr]
        assert session.scalars(select(IdentityLookupRow.customer_id).where(IdentityLookupRow.customer_id != ONCE)).all() == [KEEP]
        assert session.scalars(select(ConsentRow.event_id).where(ConsentRow.customer_id == KEEP)).all() == [str(DROPPED_LIFE[2].event_id)]
        streets = session.scalars(select(AddressHistoryRow.street).where(AddressHistoryRow.customer_id == KEEP).order_by(AddressHistoryRow.seq)).all()
        assert streets[-1] == "Storgatan 73 A" and "Storgatan 73" in streets
        assert session.get(CustomerRow, KEEP).nix_registered  # type: ignore[union-attr]

        kept_extract = build_extract(session, KEEP)
        assert kept_extract is not None and kept_extract["merged_customer_ids"] == [DROP]
        assert {entry["customer_id"] for entry in kept_extract["history"]} == {KEEP, DROP}
        merge_facts = [e["facts"] for e in kept_extract["history"] if e["event"] == "CustomersMerged"]
        assert merge_facts and all(set(facts) <= {"kept_customer_id", "dropped_customer_id", "forced"} for facts in merge_facts)
        dropped_extract = build_extract(session, DROP)
        assert dropped_extract is not None and dropped_extract["customer_id"] == KEEP and dropped_extract["redirected_from"] == DROP

    pending = {p.customer_id: p for p in read_pending(engine, 10)}
    assert pending[DROP].value is None and pending[DROP].headers == [(MERGED_INTO_HEADER, KEEP.encode())]
    kept_snapshot = codec.decode_record(pending[KEEP].value)[1]  # type: ignore[arg-type]
    assert kept_snapshot["merged_customer_ids"] == [DROP] and pending[KEEP].headers is None

    rebuilt = Fold()
    rebuilt.apply([*once_log, *dropped_log, *kept_log])  # the other order
    assert downstream_differences(engine, rebuilt.states) == set()

    _facts, key = create_key(engine, "merging system", "admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}) as client:
        moved = await client.get(f"/customers/{DROP}", params={"valid_at": "2025-07-01T00:00:00Z"})
        assert moved.status_code == 308 and moved.json()["error"] == "CUSTOMER_MERGED"
        assert moved.headers["location"] == f"http://test/customers/{KEEP}?valid_at=2025-07-01T00%3A00%3A00Z"
        now = await client.get(f"/customers/{DROP}", follow_redirects=True)
        assert now.status_code == 200 and now.json()["customer_id"] == KEEP
        call = {"channel": "PHONE", "purpose": "TELEMARKETING", "company": "Acme AB"}
        assert (await client.get(f"/customers/{DROP}/contactability", params=call)).status_code == 308
        again = await client.post(f"/customers/{KEEP}/merge", json={"dropped_customer_id": DROP})
        assert again.status_code == 409 and again.json()["error"] == "ALREADY_MERGED" and DROP not in again.json()["message"]
        once = await client.post(f"/customers/{KEEP}/merge", json={"dropped_customer_id": ONCE})
        assert once.status_code == 409 and once.json()["error"] == "PROTECTED_IDENTITY"
    console = signed_in(app, key)  # the console's page of a merged id leads to the kept customer's, as the API does
    moved_page = console.get(f"/console/customers/{DROP}", params={"company": "Acme AB"}, follow_redirects=False)
    assert moved_page.status_code == 303 and moved_page.headers["location"] == f"/console/customers/{KEEP}?company=Acme+AB"
    assert console.get(f"/console/customers/{DROP}").url.path == f"/console/customers/{KEEP}"
    app.state.disclosures.close()
    engine.dispose()
