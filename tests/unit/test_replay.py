"""Replay "as of": what was known at a moment (recorded_at), and what was in force on its day (effective dates)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner

from events.catalog import AddressChanged, Channel, ConsentGiven, ConsentPurpose, CustomerDeceased, PostalAddress, ProtectedIdentitySet, Protection
from events.jsonlines import parse_event
from projections.replay import parse_as_of, partition_for, state_as_of, view_as_of
from tests.builders import envelope, person

ANNA = "C-1"


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def registered():
    return parse_event(person(ANNA, recorded_at="2025-01-10T09:00:00Z"))  # Storgatan 1


def moved(street: str, effective: date, recorded: date) -> AddressChanged:
    return AddressChanged(
        envelope=envelope(ANNA, on=recorded), effective_date=effective, address=PostalAddress(street=street, postal_code="11122", city="Stockholm")
    )


LOG = [
    registered(),
    moved("Majgatan 5", effective=date(2025, 5, 1), recorded=date(2025, 5, 2)),
    moved("Marsvägen 3", effective=date(2025, 3, 1), recorded=date(2025, 5, 20)),  # an earlier move reported late
]


def address_on(log, as_of: datetime) -> str | None:
    view = view_as_of(state_as_of(log, as_of)[ANNA], as_of)
    return view.address.street if view.address else None


def test_the_address_on_a_date_counts_a_late_reported_earlier_move_once_it_is_known():
    assert address_on(LOG, at(date(2025, 4, 1))) == "Storgatan 1", "on 1 April we had not yet heard of the March move"
    assert address_on(LOG, at(date(2025, 6, 1))) == "Majgatan 5"
    state = state_as_of(LOG, at(date(2025, 6, 1)))[ANNA]
    assert view_as_of(state, at(date(2025, 4, 1))).address.street == "Marsvägen 3", "as known in June, she lived in Marsvägen on 1 April"
    assert view_as_of(state, at(date(2025, 4, 1))).address_since == date(2025, 3, 1)
    assert view_as_of(state, at(date(2025, 2, 1))).address.street == "Storgatan 1"


def test_knowledge_time_excludes_events_recorded_later_even_about_earlier_days():
    as_of = at(date(2025, 5, 10))
    state = state_as_of(LOG, as_of)[ANNA]
    assert [a.value.street for a in state.addresses] == ["Storgatan 1", "Majgatan 5"]
    assert state.events_applied == 2
    assert state_as_of(LOG, at(date(2025, 1, 1))) == {}, "nothing was known before she registered"


def test_an_announced_move_is_not_in_force_before_its_effective_date():
    log = [registered(), moved("Junigatan 9", effective=date(2025, 7, 1), recorded=date(2025, 5, 15))]
    assert address_on(log, at(date(2025, 6, 1))) == "Storgatan 1"
    assert address_on(log, at(date(2025, 7, 1))) == "Junigatan 9"


def test_status_follows_the_date_of_death_and_consents_follow_their_lapse():
    consent = ConsentGiven(
        envelope=envelope(ANNA, on=date(2025, 2, 1)), purpose=ConsentPurpose.MARKETING, channel=Channel.EMAIL, company="Acme AB", valid_until=date(2025, 3, 31)
    )
    log = [registered(), consent]
    assert len(view_as_of(state_as_of(log, at(date(2025, 3, 31)))[ANNA], at(date(2025, 3, 31))).consents) == 1
    assert view_as_of(state_as_of(log, at(date(2025, 4, 1)))[ANNA], at(date(2025, 4, 1))).consents == ()
    died = CustomerDeceased(envelope=envelope(ANNA, on=date(2025, 6, 10)), date_of_death=date(2025, 6, 5))
    state = state_as_of([*log, died], at(date(2025, 7, 1)))[ANNA]
    assert view_as_of(state, at(date(2025, 6, 4))).status == "ACTIVE"
    assert view_as_of(state, at(date(2025, 6, 5))).status == "DECEASED"


def test_a_protected_identity_has_no_name_or_address_in_the_view():
    protected = ProtectedIdentitySet(envelope=envelope(ANNA, on=date(2025, 2, 1)), protection=Protection.SKYDDAD_FOLKBOKFORING)
    as_of = at(date(2025, 3, 1))
    view = view_as_of(state_as_of([registered(), protected], as_of)[ANNA], as_of)
    assert (view.name, view.address, view.redacted) == (None, None, True)
    earlier = view_as_of(state_as_of([registered()], as_of)[ANNA], as_of, redact=True)
    assert (earlier.name, earlier.address) == (None, None), "protected later: redacted on request"
    assert "Storgatan" not in str(earlier.to_plain())


def test_as_of_a_date_means_the_end_of_that_day_in_utc():
    assert parse_as_of("2025-06-01") == datetime(2025, 6, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_as_of("2025-06-01T12:00:00+02:00") == datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert parse_as_of("2025-06-01T10:00:00Z") == datetime(2025, 6, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        parse_as_of("2025-06-01T10:00:00")
    late_same_day = moved("Kvällsgatan 1", effective=date(2025, 6, 1), recorded=date(2025, 6, 1))
    assert address_on([registered(), late_same_day], parse_as_of("2025-06-01")) == "Kvällsgatan 1"


@pytest.mark.parametrize("partitions", [1, 3, 7, 12])
def test_a_customer_maps_to_the_partition_kafkas_default_partitioner_picks(partitions):
    every = list(range(partitions))
    for customer in ["C-1", "C-00042", "kund-åäö", "C-" + "x" * 40]:
        assert partition_for(customer, partitions) == DefaultPartitioner()(customer.encode(), every, every)
