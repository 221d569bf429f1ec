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


# --- Issue 9: every bad line is a rejected line with its number, never an aborted file ---------


def moved(**address) -> dict:
    """An AddressChanged document with a valid address, some fields replaced."""
    return line("AddressChanged", effective_date="2025-03-01", address={"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm", **address})


def codes(lines) -> list[tuple[int, str | None]]:
    return [(p.line_number, p.error.code if p.error else None) for p in parse_lines(lines)]


def test_the_event_id_derived_from_content_is_the_same_as_before_so_old_files_resend_safely():
    assert str(parse_event(person("C-1")).event_id) == "e2c160e9-033d-585b-8f24-1630ff083217"
    document = line("AddressChanged", "C-1", effective_date="2025-03-01", address={"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"})
    assert str(parse_event(document).event_id) == "9982d785-3aa0-5f22-be45-d23176d903c9"


def test_json_nested_deeper_than_python_can_parse_is_a_rejected_line_and_the_file_goes_on():
    deep = "[" * 50_000 + "]" * 50_000
    assert codes([json.dumps(person("C-1")), deep, json.dumps(person("C-2"))]) == [(1, None), (2, "NESTED_TOO_DEEP"), (3, None)]


def test_json_nested_deeper_than_any_event_is_refused_before_it_is_looked_at():
    document = person("C-1")
    document["registration"]["address"]["street"] = json.loads("[" * 20 + "]" * 20)
    assert codes([json.dumps(document)]) == [(1, "NESTED_TOO_DEEP")]


def test_a_lone_surrogate_is_refused_naming_the_field():
    text = json.dumps(moved()).replace("Storgatan 1", "Storgatan \\ud800")
    [parsed] = parse_lines([text])
    assert parsed.error.code == "INVALID_CHARACTER" and parsed.error.field == "address.street"


@pytest.mark.parametrize("character", ["\x00", "\x07", "\t", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused_in_any_string_naming_the_field(character):
    error = reason(moved(street=f"Storgatan{character}1"))
    assert (error.field, error.code) == ("address.street", "INVALID_CHARACTER")
    assert f"U+{ord(character):04X}" in error.reason
    document = person("C-1")
    document["registration"]["name"]["given_names"] = f"An{character}na"
    assert reason(document).field == "registration.name.given_names"
    assert reason(line("ConsentGiven", purpose="NEWSLETTER", channel="EMAIL", company=f"ACME{character}")).field == "company"


def test_letters_of_every_script_are_still_allowed():
    assert parse_event(moved(street="Åsgränd 3 – Ørsted Ñandú 東京 ☃", city="Malmö"))


def test_a_sealed_value_sent_by_upstream_is_refused_with_advice():
    sealed = {"key_id": "k1", "algorithm": "AES-256-GCM", "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAA"}
    error = reason(line("AddressChanged", effective_date="2025-03-01", address=sealed))
    assert (error.field, error.code) == ("address", "SEALED_INPUT")
    assert "send the plain value" in error.reason and "seals personal data itself" in error.reason
    assert reason(line("NixRegistered", phone=sealed)).field == "phone"
    assert reason(line("CustomerRegistered", customer_kind="PERSON", registration=sealed)).code == "SEALED_INPUT"


@pytest.mark.parametrize(
    "field, value",
    [
        ("occurred_at", "0001-01-01T00:00:00+14:00"),
        ("occurred_at", "9999-12-31T23:59:59-14:00"),
        ("occurred_at", "1899-12-31T23:59:59Z"),
        ("occurred_at", "2100-01-01T00:00:00Z"),
        ("recorded_at", "9999-12-31T23:59:59-14:00"),
    ],
)
def test_a_timestamp_outside_the_accepted_range_is_refused_naming_the_field(field, value):
    document = line("CustomerDeceased", date_of_death="2025-01-01", recorded_at="2099-12-31T00:00:00Z")
    document[field] = value
    error = reason(document)
    assert (error.field, error.code) == (field, "DATE_OUT_OF_RANGE")
    assert "1900-01-01" in error.reason and "2100-01-01" in error.reason


def test_a_date_outside_the_accepted_range_is_refused_and_the_edges_are_kept():
    assert reason(line("CustomerDeceased", date_of_death="0001-01-01")).field == "date_of_death"
    assert reason(line("ConsentGiven", purpose="NEWSLETTER", channel="EMAIL", company="A", valid_until="2100-01-01")).code == "DATE_OUT_OF_RANGE"
    assert parse_event(line("CustomerDeceased", date_of_death="1900-01-01"))
    assert parse_event(line("ConsentGiven", purpose="NEWSLETTER", channel="EMAIL", company="A", valid_until="2099-12-31"))


@pytest.mark.parametrize("version", [2**40, 2**31, 0, -1, 99])
def test_only_a_released_schema_version_is_accepted(version):
    error = reason(person(schema_version=version))
    assert (error.field, error.code) == ("schema_version", "UNKNOWN_SCHEMA_VERSION")


def test_every_released_schema_version_is_accepted():
    assert parse_event(person(schema_version=1)).envelope.schema_version == 1
    assert parse_event(person(schema_version=2)).envelope.schema_version == 2


def test_a_string_longer_than_its_limit_is_refused_naming_the_field_and_the_limit():
    error = reason(moved(street="x" * 201))
    assert (error.field, error.code) == ("address.street", "FIELD_TOO_LONG")
    assert "201" in error.reason and "200" in error.reason
    assert reason(line("ContactDetailsChanged", contact={"email": "a" * 250 + "@b.se"})).field == "contact.email"
    assert reason(line("ConsentGiven", purpose="NEWSLETTER", channel="EMAIL", company="A" * 301)).code == "FIELD_TOO_LONG"
    assert reason(line("CustomerEmigrated", effective_date="2025-01-01", destination_country="X" * 501)).code == "FIELD_TOO_LONG"


def test_a_field_name_sent_by_upstream_is_never_echoed_raw():
    document = moved()
    document["\x1b[2J\ud800"] = 1
    error = reason(document)
    assert error.field.isprintable() and "\x1b" not in str(error)


def test_a_number_too_long_to_read_is_invalid_json_not_a_crash():
    assert codes(['{"type": "CustomerDeceased", "schema_version": ' + "9" * 5000 + "}"]) == [(1, "INVALID_JSON")]
