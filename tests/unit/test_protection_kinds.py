"""The kinds of protected identity in force (`CustomerState.protections`), as the one fold keeps them: each
ProtectedIdentitySet adds its kind, ProtectedIdentityLifted ends the kind it names, and a lift naming none ends every
one; the register keeps a protected identity's name and address hidden while any kind is in force."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from events.catalog import Protection
from events.customer import CustomerState, fold
from events.jsonlines import parse_event
from events.state_codec import decode_state, encode_state
from projections.tables import AddressHistoryRow, CustomerRow, NameHistoryRow
from tests.builders import line, person
from tests.small_register import register_of

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def folded(*documents) -> CustomerState:
    """Anna, registered; then `documents` (each its own event: ids are derived from content)."""
    state = fold([parse_event(d, now=NOW) for d in (person(), *documents)])
    assert state is not None
    return state


def protection(kind: str, at: str = "2025-02-01T09:00:00Z") -> dict:
    return line("ProtectedIdentitySet", protection=kind, occurred_at=at)


def test_each_protection_set_adds_its_kind_and_the_customer_is_protected_while_any_is_in_force():
    assert folded().protections == frozenset() and not folded().protected
    spar = folded(protection("SKYDDAD_FOLKBOKFORING"))
    assert spar.protections == {Protection.SKYDDAD_FOLKBOKFORING} and spar.protected
    both = folded(protection("SKYDDAD_FOLKBOKFORING"), protection("OTHER", "2025-03-01T09:00:00Z"))
    assert both.protections == {Protection.SKYDDAD_FOLKBOKFORING, Protection.OTHER} and both.protected
    assert decode_state(encode_state(both)) == both  # the stored state keeps the kinds


def lifted(kind: str | None = None, at: str = "2025-04-01T09:00:00Z") -> dict:
    return line("ProtectedIdentityLifted", occurred_at=at, **({} if kind is None else {"protection": kind}))


def test_a_lift_that_names_no_kind_ends_every_protection_and_a_later_one_starts_afresh():
    lift = line("ProtectedIdentityLifted", occurred_at="2025-04-01T09:00:00Z")
    lifted = folded(protection("SEKRETESSMARKERING"), protection("OTHER", "2025-03-01T09:00:00Z"), lift)
    assert lifted.protections == frozenset() and not lifted.protected
    again = folded(protection("SEKRETESSMARKERING"), lift, protection("OTHER", "2025-05-01T09:00:00Z"))
    assert again.protections == {Protection.OTHER}


def test_the_same_protection_delivered_twice_is_one_kind_in_force():
    assert folded(protection("OTHER"), protection("OTHER")).protections == {Protection.OTHER}


def test_a_lift_of_one_kind_ends_that_kind_alone_and_the_customer_stays_protected_while_another_is_in_force():
    # SPAR's protection, then a company's own (OTHER): the company lifting its own must not lift SPAR's.
    both = (protection("SKYDDAD_FOLKBOKFORING"), protection("OTHER", "2025-03-01T09:00:00Z"))
    other_lifted = folded(*both, lifted("OTHER"))
    assert other_lifted.protections == {Protection.SKYDDAD_FOLKBOKFORING} and other_lifted.protected
    assert folded(*both, lifted("OTHER"), lifted("SKYDDAD_FOLKBOKFORING", "2025-05-01T09:00:00Z")).protections == frozenset()
    # A kind that is not in force: nothing ends.
    assert folded(protection("OTHER"), lifted("SEKRETESSMARKERING")).protections == {Protection.OTHER}


def test_the_register_keeps_the_name_and_address_hidden_after_another_kinds_lift_while_spars_is_in_force(tmp_path):
    documents = [person(), protection("SKYDDAD_FOLKBOKFORING"), protection("OTHER", "2025-03-01T09:00:00Z"), lifted("OTHER")]
    engine = create_engine(register_of(tmp_path / "register.db", documents))
    try:
        with Session(engine) as session:
            row = session.scalars(select(CustomerRow).where(CustomerRow.customer_id == "C-1")).one()
            assert (row.protected, row.given_names, row.surname, row.street, row.city) == (True, None, None, None, None)
            assert session.scalars(select(NameHistoryRow)).all() == [] and session.scalars(select(AddressHistoryRow)).all() == []
    finally:
        engine.dispose()
