"""The schema-shaped datum the codec and sealing write: the same bytes as the plain datum, sooner."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings

from events import codec, sealing
from events.avro_datum import _branch_for, datum
from events.catalog import Event, PersonName, PostalAddress
from events.convert import to_plain
from tests.unit.test_codec import any_event


def written(schema: Any, value: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, value)
    return buffer.getvalue()


@settings(max_examples=400)
@given(any_event)
def test_any_event_encodes_to_the_bytes_of_its_plain_datum(event: Event):
    assert codec.encode(event) == codec.encode_record(type(event).__name__, to_plain(event))


@settings(max_examples=200)
@given(any_event)
def test_the_plaintext_of_any_personal_field_is_the_avro_of_its_plain_value(event: Event):
    for field in sealing.personal_fields(event):
        value = getattr(event, field)
        if value is None or isinstance(value, sealing.SealedPersonalData):
            continue
        branch, _ = sealing._branch(type(event), field)
        assert sealing._avro(type(event), field, value) == written(branch, to_plain(value))


def test_a_union_branch_is_named_only_when_no_other_branch_could_take_the_value():
    moment = {"type": "long", "logicalType": "timestamp-millis"}
    day = {"type": "int", "logicalType": "date"}
    assert _branch_for(str, ["null", "string"], {}) is not None
    assert _branch_for(datetime, ["null", day, moment], {}) is None  # fastavro's date branch takes a datetime too
    assert _branch_for(int, ["null", "int", "long"], {}) is None  # which one depends on the number
    assert _branch_for(date, ["null", "string", {"type": "enum", "name": "E", "symbols": ["A"]}], {}) is None  # a kind not modelled


@dataclass(frozen=True)
class Mixed:
    number: int | None
    moment: date | None
    items: tuple[str, ...] | None


@dataclass(frozen=True)
class Holder:
    value: PersonName | PostalAddress


def test_values_in_unions_it_cannot_place_are_written_as_before():
    schema = parse_schema(
        {
            "type": "record",
            "name": "Mixed",
            "fields": [
                {"name": "number", "type": ["null", "int", "long"]},
                {"name": "moment", "type": ["null", {"type": "int", "logicalType": "date"}, {"type": "long", "logicalType": "timestamp-millis"}]},
                {"name": "items", "type": ["null", {"type": "array", "items": "string"}]},
            ],
        }
    )
    value = Mixed(number=2**40, moment=datetime(2025, 1, 2, 3, 4, tzinfo=UTC), items=("a", "b"))
    assert written(schema, datum(schema, value)) == written(schema, to_plain(value))


@pytest.mark.parametrize(
    "value", [PersonName(given_names="Åsa", surname="Öberg"), PostalAddress(street="Storgatan 1", postal_code="11122", city="Stockholm", care_of="Bo")]
)
def test_a_record_in_a_union_with_another_record_is_written_in_its_own_branch(value: Any):
    schema = parse_schema(
        {
            "type": "record",
            "name": "Holder",
            "namespace": "registervard",
            "fields": [
                {"name": "value", "type": [
                    {"type": "record", "name": "PersonName", "fields": [{"name": "given_names", "type": "string"}, {"name": "surname", "type": "string"}]},
                    {"type": "record", "name": "PostalAddress", "fields": [
                        {"name": "care_of", "type": ["null", "string"], "default": None},
                        {"name": "street", "type": "string"},
                        {"name": "postal_code", "type": "string"},
                        {"name": "city", "type": "string"},
                        {"name": "country", "type": "string", "default": "SE"},
                    ]},
                ]},
            ],
        }
    )
    assert written(schema, datum(schema, Holder(value))) == written(schema, to_plain(Holder(value)))
