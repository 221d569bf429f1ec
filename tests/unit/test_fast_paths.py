"""The shortcuts of the per-event path keep what they shortcut: conversion, validation limits and the fold's states."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings

from events import validation
from events.catalog import AddressChanged, Channel, PostalAddress
from events.convert import from_plain, to_plain
from events.customer import CustomerState, fold
from events.refusal import Refusal
from tests.builders import envelope
from tests.unit.test_state_codec import lives


def moved(**address: str) -> AddressChanged:
    fields = {"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm", **address}
    return AddressChanged(envelope=envelope("C-1"), effective_date=date(2025, 1, 1), address=PostalAddress(**fields))


def test_a_type_converts_for_json_and_for_avro_each_in_its_own_way_whichever_came_first():
    day, moment, number = date(2025, 1, 2), datetime(2025, 1, 2, 3, tzinfo=UTC), UUID(int=7)
    assert (to_plain(day, for_json=True), to_plain(day)) == ("2025-01-02", day)
    assert (to_plain(moment), to_plain(moment, for_json=True)) == (moment, "2025-01-02T03:00:00+00:00")
    assert (to_plain(number, for_json=True), to_plain(number)) == (str(number), number)
    assert to_plain(frozenset({Channel.SMS, Channel.EMAIL}), for_json=True) == ["EMAIL", "SMS"]
    assert to_plain(b"\x00\x01", for_json=True) == "AAE=" and to_plain(b"\x00\x01") == b"\x00\x01"


def test_a_record_names_its_avro_type_only_for_avro():
    address = PostalAddress(street="S", postal_code="1", city="C")
    assert to_plain(address)["-type"] == "registervard.PostalAddress"
    assert "-type" not in to_plain(address, for_json=True)


def test_a_timestamp_keeps_whole_milliseconds_and_loses_the_rest():
    kept = datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=timezone(timedelta(hours=2)))
    assert from_plain(datetime, kept) == kept
    assert from_plain(datetime, kept.replace(microsecond=123456)) == kept
    assert from_plain(datetime, "2025-01-02T03:04:05.123456+02:00") == kept
    with pytest.raises(Refusal, match="with time zone"):
        from_plain(datetime, "2025-01-02T03:04:05")


def test_an_enum_takes_its_members_and_values_and_refuses_anything_else_listing_the_members():
    assert from_plain(Channel, "SMS") is Channel.SMS and from_plain(Channel, Channel.SMS) is Channel.SMS
    for wrong in ("sms", ["SMS"], {"SMS": 1}, 3):
        with pytest.raises(Refusal, match="must be one of PHONE, EMAIL, POST, SMS, ANY, OTHER"):
            from_plain(Channel, wrong)
    with pytest.raises(Refusal, match="is required"):
        from_plain(Channel, None)


def test_a_string_at_the_lowest_limit_passes_and_one_character_more_is_refused():
    validation.validate(moved(postal_code="1" * 20, country="NO"))
    with pytest.raises(Refusal, match="is 21 characters long; the limit is 20") as refused:
        validation.validate(moved(postal_code="1" * 21, country="NO"))
    assert (refused.value.field, refused.value.code) == ("address.postal_code", "FIELD_TOO_LONG")


def test_limits_put_in_place_after_a_check_are_the_ones_the_next_check_reads(monkeypatch):
    event = moved(street="Storgatan 12")
    validation.validate(event)  # the limits in force have been read once
    smaller = dataclasses.replace(validation.LIMITS, string_chars={**validation.LIMITS.string_chars, "street": 5}, max_string_chars=5)
    monkeypatch.setattr(validation, "LIMITS", smaller)
    with pytest.raises(Refusal, match="the limit is 5"):
        validation.validate(event)
    later = dataclasses.replace(smaller, earliest=date(2026, 1, 1))
    monkeypatch.setattr(validation, "LIMITS", dataclasses.replace(later, max_string_chars=500, string_chars=validation.LIMITS.string_chars))
    with pytest.raises(Refusal, match="must be from 2026-01-01") as refused:
        validation.validate(moved())
    assert refused.value.code == "DATE_OUT_OF_RANGE"


def test_a_text_value_in_a_list_is_checked_with_its_position():
    @dataclasses.dataclass(frozen=True)
    class Notes:
        lines: tuple[str, ...]

    with pytest.raises(Refusal) as refused:
        validation._check_values(Notes(lines=("fine", "bad\x00")), "")
    assert (refused.value.field, refused.value.code) == ("lines[1]", "INVALID_CHARACTER")


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(lives)
def test_every_state_the_fold_makes_is_the_state_its_fields_make(life):
    state = fold(life)
    assert isinstance(state, CustomerState)
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(CustomerState)}
    assert vars(state) == fields  # nothing beside the fields
    assert CustomerState(**fields) == state and hash(CustomerState(**fields)) == hash(state)
    assert dataclasses.replace(state) == state
