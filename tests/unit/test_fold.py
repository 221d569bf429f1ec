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


def test_a_marriage_changes_the_name_from_its_effective_date_and_keeps_the_old_one_in_history():
    from events.catalog import CivilStatus, CivilStatusChanged, NameChanged, NameChangeReason, PersonName

    married = NameChanged(
        envelope=envelope(ANNA, on=date(2025, 6, 1)),
        reason=NameChangeReason.MARRIAGE,
        effective_date=date(2025, 6, 1),
        name=PersonName(given_names="Anna", surname="Lind"),
    )
    status = CivilStatusChanged(envelope=envelope(ANNA, on=date(2025, 6, 1)), civil_status=CivilStatus.MARRIED, effective_date=date(2025, 6, 1))
    state = fold([registered(), married, status])
    assert state.name.surname == "Lind"
    assert [entry.value.surname for entry in state.names] == ["Svensson", "Lind"]
    assert state.civil_status is CivilStatus.MARRIED


def test_an_emigrated_customer_keeps_their_history_and_a_later_death_is_what_counts():
    from events.catalog import CustomerEmigrated

    emigrated = CustomerEmigrated(envelope=envelope(ANNA, on=date(2025, 3, 1)), effective_date=date(2025, 3, 1), destination_country="NO")
    state = fold([registered(), emigrated])
    assert (state.status, state.emigrated_on, state.address.street) == (Status.EMIGRATED, date(2025, 3, 1), "Storgatan 1")
    state = fold([CustomerDeceased(envelope=envelope(ANNA), date_of_death=date(2025, 9, 1))], state)
    assert state.status is Status.DECEASED


def test_an_older_nix_register_version_does_not_overrule_a_newer_one():
    from events.catalog import NixDeregistered, NixRegistered

    phone = "+46701234567"
    newer = NixRegistered(envelope=envelope(ANNA, on=date(2025, 6, 2)), phone=phone, register_version_date=date(2025, 6, 1))
    older = NixDeregistered(envelope=envelope(ANNA, on=date(2025, 6, 3)), phone=phone, register_version_date=date(2025, 3, 1))
    state = fold([registered(), newer, older])
    assert state.nix_numbers == {phone}


def test_a_nix_override_consent_lapses_three_months_after_it_was_given_even_at_the_end_of_a_month():
    given = ConsentGiven(
        envelope=envelope(ANNA, on=date(2025, 11, 30)), purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, company="Acme AB", overrides_nix=True
    )
    [consent] = fold([registered(), given]).consents
    assert consent.lapses_on == date(2026, 2, 28)


def test_an_event_applied_twice_changes_nothing_the_second_time():
    state = fold([registered(), moved("Majgatan 5", date(2025, 5, 1), date(2025, 5, 2))])
    again = fold([moved("Majgatan 5", date(2025, 5, 1), date(2025, 5, 2))], state)
    assert len(again.addresses) == 3  # a new event id: a second, separate report
    event = moved("Ekvägen 9", date(2025, 7, 1), date(2025, 7, 2))
    once = fold([event], state)
    assert fold([event], once) == once
