"""The fold: a customer's life, event by event, becomes their state."""

from __future__ import annotations

from datetime import date

from events.catalog import (
    AddressChanged,
    Channel,
    ConsentGiven,
    ConsentPurpose,
    CustomerDeceased,
    CustomerErased,
    ErasureReason,
    PostalAddress,
    ProtectedIdentitySet,
    Protection,
)
from events.convert import from_plain, to_plain
from events.customer import CustomerState, Status, fold
from events.jsonlines import parse_event
from projections.register import register_row
from tests.builders import envelope, person

ANNA = "C-1"


def registered():
    return parse_event(person(ANNA))


def moved(to_street: str, effective: date, reported: date) -> AddressChanged:
    return AddressChanged(
        envelope=envelope(ANNA, on=reported),
        effective_date=effective,
        address=PostalAddress(street=to_street, postal_code="11122", city="Stockholm"),
    )


def test_a_late_report_of_an_older_move_is_kept_in_history_but_does_not_replace_the_newer_address():
    state = fold([registered(), moved("Majgatan 5", date(2025, 5, 1), date(2025, 5, 2)), moved("Marsvägen 3", date(2025, 3, 1), date(2025, 5, 20))])
    assert state.address.street == "Majgatan 5"
    assert [entry.value.street for entry in state.addresses] == ["Storgatan 1", "Marsvägen 3", "Majgatan 5"]


def test_a_customer_who_dies_loses_every_consent():
    consent = ConsentGiven(envelope=envelope(ANNA), purpose=ConsentPurpose.MARKETING, channel=Channel.EMAIL, company="Acme AB")
    state = fold([registered(), consent, CustomerDeceased(envelope=envelope(ANNA), date_of_death=date(2025, 2, 1))])
    assert state.status is Status.DECEASED and state.consents == ()


def test_a_protected_identity_leaves_no_name_or_address_in_the_register():
    state = fold([registered(), ProtectedIdentitySet(envelope=envelope(ANNA), protection=Protection.SKYDDAD_FOLKBOKFORING)])
    row = register_row(state)
    assert row["protected"]
    assert [row[column] for column in ("given_names", "surname", "street", "postal_code", "city")] == [None] * 5


def test_an_erased_customer_keeps_no_personal_data():
    state = fold([registered(), CustomerErased(envelope=envelope(ANNA), reason=ErasureReason.CUSTOMER_REQUEST)])
    assert state.status is Status.ERASED
    assert (state.name, state.address, state.identity_number, state.contact) == (None, None, None, None)


def test_the_state_survives_being_stored_as_json():
    state = fold([registered(), moved("Majgatan 5", date(2025, 5, 1), date(2025, 5, 2))])
    assert from_plain(CustomerState, to_plain(state, for_json=True)) == state
