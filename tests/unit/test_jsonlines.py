"""Upstream systems write events as JSON Lines; a bad line is reported by number and reason."""

from __future__ import annotations

import json

import pytest

from events.catalog import AddressChanged, CustomerRegistered
from events.convert import InvalidEvent
from events.jsonlines import parse_event, parse_lines, to_json
from tests.builders import VALID_PERSONNUMMER, line, person


def reason(document) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(document)
    return caught.value


def test_a_registration_written_by_hand_becomes_an_event():
    event = parse_event(person("C-42"))
    assert isinstance(event, CustomerRegistered)
    assert event.customer_id == "C-42"
    assert event.registration.name.surname == "Svensson"


def test_the_same_line_always_gets_the_same_event_id_so_a_file_can_be_sent_twice():
    assert parse_event(person()).event_id == parse_event(person()).event_id
    assert parse_event(person("C-1")).event_id != parse_event(person("C-2")).event_id


def test_an_event_id_given_by_the_upstream_system_is_kept():
    event_id = "3f0c8a52-7b0b-4d7e-9a53-0d6c3c0b8f11"
    assert str(parse_event(person(event_id=event_id)).event_id) == event_id


def test_an_unknown_event_type_is_named_as_the_problem():
    error = reason(line("CustomerMoved"))
    assert error.field == "type" and error.code == "UNKNOWN_EVENT_TYPE"


def test_a_misspelt_field_is_named_rather_than_ignored():
    document = line("AddressChanged", effective_date="2025-01-10", adress={"street": "x", "postal_code": "11122", "city": "y"})
    assert reason(document).field == "adress"


def test_a_missing_field_is_named_with_its_path():
    document = line("AddressChanged", effective_date="2025-01-10", address={"street": "Storgatan 1", "city": "Stockholm"})
    error = reason(document)
    assert error.field == "address.postal_code" and "required" in error.reason


def test_a_date_that_is_not_a_date_is_named():
    document = line("CustomerDeceased", date_of_death="yesterday")
    assert reason(document).field == "date_of_death"


def test_a_timestamp_without_a_time_zone_is_refused():
    document = line("CustomerDeceased", date_of_death="2025-01-01")
    document["occurred_at"] = "2025-01-10T09:00:00"
    assert reason(document).field == "occurred_at"


def test_a_wrong_check_digit_is_refused_without_repeating_the_number():
    wrong = VALID_PERSONNUMMER[:-1] + "0"
    error = reason(person(identity_number=wrong))
    assert error.field == "registration.identity_number"
    assert error.code == "INVALID_IDENTITY_NUMBER"
    assert wrong not in str(error) and wrong[2:] not in str(error)


def test_an_identity_number_must_be_stored_in_its_twelve_digit_form():
    error = reason(person(identity_number="811218-9876"))
    assert "12-digit" in error.reason


def test_a_personnummer_is_never_accepted_as_a_customer_id():
    error = reason(person(customer_id=VALID_PERSONNUMMER))
    assert error.field == "customer_id" and error.code == "PERSONAL_DATA_IN_KEY"


def test_a_swedish_postal_code_has_five_digits():
    document = line("AddressChanged", effective_date="2025-01-10", address={"street": "Storgatan 1", "postal_code": "111", "city": "Stockholm"})
    assert reason(document).field == "address.postal_code"


def test_every_bad_line_of_a_file_is_reported_with_its_number_and_the_good_ones_parse():
    lines = [json.dumps(person("C-1")), "{not json", "", json.dumps(line("Nonsense")), json.dumps(person("C-2"))]
    parsed = list(parse_lines(lines))
    assert [(p.line_number, p.error is None) for p in parsed] == [(1, True), (2, False), (4, False), (5, True)]
    assert parsed[1].error.code == "INVALID_JSON"


def test_an_event_written_out_as_json_reads_back_the_same():
    event = parse_event(line("AddressChanged", effective_date="2025-03-01", address={"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm"}))
    assert isinstance(event, AddressChanged)
    assert parse_event(json.loads(to_json(event))) == event
