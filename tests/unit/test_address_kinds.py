"""The population register's addresses (AddressChanged.address_kind) kept apart in the one fold, and the postal
address derived from them by one rule (events/customer.py, postal_address); carried through the Avro codec, sealing,
the stored state and a merge."""

from __future__ import annotations

from datetime import date

import pytest

from events import codec
from events.catalog import AddressChanged, AddressKind, CustomerEmigrated, Event, PostalAddress
from events.customer import CustomerState, fold, postal_address, postal_history
from events.merging import kept_half, merge_event
from events.refusal import Refusal
from events.sealing import MemoryKeyStore, seal, unseal
from events.state_codec import decode_state, encode_state
from events.validation import validate
from tests.builders import envelope, person
from tests.unit.test_merging import MERGED_AT, registered

GIVEN = PostalAddress(street="Storgatan 1", postal_code="11122", city="Stockholm")  # the registration's, 2025-01-10
HOME = PostalAddress(street="Hemvägen 3", postal_code="22100", city="Lund")
BOX = PostalAddress(street="Box 123", postal_code="11120", city="Stockholm")
OSLO = PostalAddress(street="Karl Johans gate 1", postal_code="", city="0154 Oslo", country="NO")


def address(on: date, value: PostalAddress, kind: AddressKind | None = None, *, ended: bool = False, customer_id: str = "C-1") -> AddressChanged:
    return AddressChanged(envelope=envelope(customer_id, on=on), effective_date=on, address=value, address_kind=kind, ended=ended)


def life(*events: Event, customer_id: str = "C-1") -> CustomerState:
    state = fold([registered(customer_id, date(2025, 1, 10)), *events])
    assert state is not None
    return state


def test_an_address_without_a_kind_is_the_history_it_always_was_and_the_kinds_are_kept_apart():
    state = life(address(date(2025, 3, 1), HOME), address(date(2024, 6, 1), BOX, AddressKind.SPECIAL_POSTAL))
    assert [a.value for a in state.addresses] == [GIVEN, HOME] and state.address == BOX  # the special postal address first
    assert [(a.kind, a.value) for a in state.registered_addresses] == [(AddressKind.SPECIAL_POSTAL, BOX)]
    # OTHER (a kind added after this reader's schema) is an address the customer gave.
    other = life(address(date(2025, 3, 1), HOME, AddressKind.OTHER))
    assert other.registered_addresses == () and other.address == HOME


def test_a_special_postal_address_in_force_is_the_postal_address_until_it_ends():
    special = address(date(2024, 6, 1), BOX, AddressKind.SPECIAL_POSTAL)
    state = life(special, address(date(2025, 3, 1), HOME))
    assert state.address == BOX and state.address_since == date(2024, 6, 1)  # before the customer's later move, still first
    ended = life(special, address(date(2025, 3, 1), HOME), address(date(2025, 5, 1), BOX, AddressKind.SPECIAL_POSTAL, ended=True))
    assert ended.address == HOME
    assert postal_address(ended, date(2025, 4, 30)) is not None and postal_address(ended, date(2025, 4, 30)).value == BOX  # type: ignore[union-attr]
    assert [(a.effective_date, a.value) for a in postal_history(ended)] == [(date(2024, 6, 1), BOX), (date(2025, 5, 1), HOME)]


def test_otherwise_the_latest_of_the_given_and_the_population_registers_addresses_and_on_the_same_day_the_registers():
    older = life(address(date(2020, 1, 1), HOME, AddressKind.POPULATION_REGISTER))
    assert older.address == GIVEN  # the customer's, given later, stays
    same_day = life(address(date(2025, 1, 10), HOME, AddressKind.POPULATION_REGISTER))
    assert same_day.address == HOME
    assert [(a.effective_date, a.value) for a in postal_history(same_day)] == [(date(2025, 1, 10), HOME)]


def test_an_emigrants_address_abroad_outranks_the_swedish_address_they_left_by_its_date():
    emigrated = CustomerEmigrated(envelope=envelope(on=date(2025, 4, 1)), effective_date=date(2025, 4, 1), destination_country="NO")
    state = life(address(date(2020, 1, 1), HOME, AddressKind.POPULATION_REGISTER), address(date(2025, 4, 1), OSLO, AddressKind.ABROAD), emigrated)
    assert state.address == OSLO
    assert postal_address(state, date(2025, 3, 31)).value == GIVEN  # type: ignore[union-attr]


def test_only_an_address_of_a_kind_ends():
    with pytest.raises(Refusal, match="only with an address_kind") as refused:
        validate(address(date(2025, 3, 1), HOME, ended=True))
    assert refused.value.field == "ended"
    validate(address(date(2025, 3, 1), BOX, AddressKind.SPECIAL_POSTAL, ended=True))


def test_the_kind_and_the_end_survive_the_codec_sealing_and_the_stored_state_and_the_address_stays_sealed():
    event = address(date(2025, 5, 1), BOX, AddressKind.SPECIAL_POSTAL, ended=True)
    assert codec.decode(codec.encode(event)) == event
    keys = MemoryKeyStore()
    sealed = seal(event, keys.key_for("C-1", create=True))  # type: ignore[arg-type]
    assert b"Box 123" not in codec.encode(sealed) and (sealed.address_kind, sealed.ended) == (AddressKind.SPECIAL_POSTAL, True)  # type: ignore[attr-defined]
    assert unseal(codec.decode(codec.encode(sealed)), keys) == event
    state = life(address(date(2024, 6, 1), BOX, AddressKind.SPECIAL_POSTAL), event)
    assert decode_state(encode_state(state)) == state


def test_a_merge_carries_each_kind_into_its_own_history():
    dropped = life(address(date(2024, 6, 1), BOX, AddressKind.SPECIAL_POSTAL, customer_id="C-drop"), customer_id="C-drop")
    merge = merge_event("C-keep", "C-drop", at=MERGED_AT)
    half = kept_half(merge, fold([merge], dropped))  # type: ignore[arg-type]
    assert codec.decode(codec.encode(half)) == half
    kept = fold([registered("C-keep", date(2025, 2, 1)), half])
    assert kept is not None and [a.value for a in kept.addresses] == [GIVEN, GIVEN]  # both registrations' addresses
    assert [(a.kind, a.value) for a in kept.registered_addresses] == [(AddressKind.SPECIAL_POSTAL, BOX)] and kept.address == BOX


def test_a_registration_alone_folds_as_before():
    state = fold([registered("C-1", date(2025, 1, 10))])
    assert state is not None and state.registered_addresses == () and postal_history(state) == state.addresses
    assert person()["registration"]["address"]["street"] == GIVEN.street


def test_the_extract_and_the_console_show_each_address_with_its_kind(tmp_path):
    from sqlalchemy.orm import Session

    from projections.extract import build_extract, render_html
    from registervard.web.customer_view import address_kind_lines
    from tests.unit.test_extract import NOW, register

    events = [
        registered("C-9", date(2025, 1, 10)),
        address(date(2020, 1, 1), HOME, AddressKind.POPULATION_REGISTER, customer_id="C-9"),
        address(date(2025, 2, 1), BOX, AddressKind.SPECIAL_POSTAL, customer_id="C-9"),
        address(date(2025, 5, 1), BOX, AddressKind.SPECIAL_POSTAL, ended=True, customer_id="C-9"),
    ]
    with Session(register(tmp_path, events)) as session:
        extract = build_extract(session, "C-9", now=NOW)
    assert extract is not None
    assert [(a["effective_date"], a["street"], a["kind"], a["ended"]) for a in extract["data"]["addresses"]] == [
        ("2020-01-01", "Hemvägen 3", "POPULATION_REGISTER", False),
        ("2025-01-10", "Storgatan 1", None, False),
        ("2025-02-01", "Box 123", "SPECIAL_POSTAL", False),
        ("2025-05-01", "Box 123", "SPECIAL_POSTAL", True),
    ]
    page = render_html(extract)
    assert "Folkbokföringsadress" in page and "Särskild postadress" in page and "Upphörde: Box 123" in page
    state = fold(events)
    assert state is not None
    assert [(k.kind, k.since, k.until) for k in address_kind_lines(state)] == [
        ("POPULATION_REGISTER", date(2020, 1, 1), None),
        ("SPECIAL_POSTAL", date(2025, 2, 1), date(2025, 5, 1)),
    ]
