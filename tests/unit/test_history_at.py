"""A customer at a moment from the audit trail (projections.history_at): their events as the log holds them (sealed,
unsealed on reading; an erased customer's stay sealed), and a past register row that never reveals what a protected
identity or an erasure hides."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from events import codec
from events.catalog import AddressChanged, CustomerErased, ErasureReason, PostalAddress, ProtectedIdentitySet, Protection
from events.contactability import may_contact
from events.customer import Status
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore, seal
from projections.audit import AuditProjection
from projections.database import connect
from projections.history_at import read_customer_log, record_at, state_at_moment
from projections.register import RegisterProjection
from projections.runner import apply_batch
from tests.builders import envelope, person
from tests.unit.test_timeline import in_nix, nix_override, worker_log

ANNA = "C-1"
LUND = PostalAddress(street="Ågatan 2", postal_code="22100", city="Lund")
FEBRUARY = datetime(2025, 2, 15, 10, tzinfo=UTC)


@pytest.fixture
def keys() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def engine(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    yield engine
    engine.dispose()


def logged(engine, keys: MemoryKeyStore, *events) -> None:
    """Seal the events as the worker does, and project them (register and audit trail) as the projections do."""
    sealed = [seal(e, keys.key_for(e.customer_id, create=True)) for e in events]
    records = [LogRecord(topic="events", partition=0, offset=n, value=codec.encode(e)) for n, e in enumerate(sealed)]
    apply_batch(engine, RegisterProjection(), records, keys)
    apply_batch(engine, AuditProjection(), records, keys)


def registered():
    return parse_event(person(ANNA, occurred_at="2024-12-01T09:00:00Z", recorded_at="2024-12-01T09:00:00Z"))


def test_the_customers_events_come_back_unsealed_in_log_order_once_each(engine, keys):
    log = worker_log(registered(), in_nix(), nix_override("2025-01-01"))
    logged(engine, keys, *log, log[1])  # the NIX status delivered twice
    with Session(engine) as session:
        found = read_customer_log(session, ANNA, keys)
    assert [e.event_id for e in found.events] == [e.event_id for e in log]
    assert found.events[0].registration.name.surname == "Svensson" and found.unreadable == 0


def test_now_and_now_is_the_registers_own_state_and_the_same_answer_as_folding_the_trail(engine, keys):
    logged(engine, keys, *worker_log(registered(), in_nix(), nix_override("2025-01-01")))
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as session:
        stored = state_at_moment(session, ANNA, now=now)
        folded = state_at_moment(session, ANNA, valid_at=now, known_at=now, keys=keys)
    assert stored.trail_events is None and folded.trail_events == 4
    for state in (stored.state, folded.state):
        assert may_contact(state, channel=nix_override().channel, purpose=nix_override().purpose, company="Acme AB", at=now).codes == (
            "NIX_REGISTERED",
            "LEGITIMATE_INTEREST",
        )


def test_a_past_row_leaves_out_the_address_of_a_customer_protected_since(engine, keys):
    moved = AddressChanged(envelope=envelope(ANNA, on=date(2025, 1, 5)), effective_date=date(2025, 1, 5), address=LUND)
    protected = ProtectedIdentitySet(envelope=envelope(ANNA, on=date(2025, 6, 1), source="SPAR"), protection=Protection.SKYDDAD_FOLKBOKFORING)
    logged(engine, keys, *worker_log(registered(), moved, protected))
    with Session(engine) as session:
        found = state_at_moment(session, ANNA, valid_at=FEBRUARY, keys=keys)
    assert found.state.address == LUND and found.state.protected is False, "in February she lived in Lund, unprotected"
    row = record_at(found)
    assert row["street"] is None and row["city"] is None and row["given_names"] is None and row["address_since"] is None
    assert row["valid_at"] == FEBRUARY and row["status"] == "ACTIVE"


def test_an_erased_customer_at_an_earlier_moment_is_erased_and_nothing_of_their_data_comes_back(engine, keys):
    erasure = CustomerErased(envelope=envelope(ANNA, on=date(2025, 3, 1)), reason=ErasureReason.CUSTOMER_REQUEST)
    logged(engine, keys, *worker_log(registered(), in_nix(), nix_override("2025-01-01"), erasure))
    keys.destroy(ANNA)
    with Session(engine) as session:
        found = state_at_moment(session, ANNA, valid_at=FEBRUARY, keys=keys)
        before_it_was_known = state_at_moment(session, ANNA, valid_at=FEBRUARY, known_at=datetime(2025, 2, 20, tzinfo=UTC), keys=keys)
    assert found.state.status is Status.ERASED
    row = record_at(found)
    assert row["surname"] is None and row["identity_number"] is None and row["phone"] is None and row["street"] is None
    # Known before the erasure the customer was active, but their data was sealed with the key now destroyed: still none.
    earlier = record_at(before_it_was_known)
    assert earlier["status"] == "ACTIVE" and earlier["surname"] is None and earlier["phone"] is None and earlier["identity_number"] is None
