"""Every event survives the trip to bytes and back, in the standard single-object form."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from uuid import UUID

import avro.io
import avro.name
import avro.schema
from fastavro.schema import to_parsing_canonical_form
from hypothesis import given, settings
from hypothesis import strategies as st

from events import codec, schemas
from events.catalog import EVENT_TYPES, Event
from tests.type_strategies import moments, text, values_of

_SCALARS = {
    str: text,
    int: st.integers(-(2**31), 2**31 - 1),
    bool: st.booleans(),
    bytes: st.binary(max_size=16),
    date: st.dates(min_value=date(1900, 1, 1)),
    datetime: moments,
    UUID: st.uuids(),
}


any_event = st.sampled_from(sorted(EVENT_TYPES)).flatmap(lambda name: values_of(EVENT_TYPES[name], _SCALARS))


@given(any_event)
def test_any_event_decodes_to_itself(event: Event):
    assert codec.decode(codec.encode(event)) == event


def _apache_avro_schemas() -> dict[str, avro.schema.Schema]:
    """The schema files parsed by the Apache Avro library, by name.

    (Its Python fingerprint is not used: it keeps {"type": "string"} for logical
    types in the canonical form, against the spec, so it disagrees with Java's.)
    """
    folder = schemas.schema_dir()
    parsed = {}
    for path in sorted(folder.glob("events/*.avsc")):
        names = avro.name.Names()
        avro.schema.make_avsc_object(json.loads((folder / "common.avsc").read_text()), names)
        parsed[path.stem] = avro.schema.make_avsc_object(json.loads(path.read_text()), names)
    return parsed


APACHE_AVRO = _apache_avro_schemas()


def crc64_avro(text: str) -> bytes:
    """The Avro spec's 64-bit Rabin fingerprint, written out from the spec, little-endian."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in text.encode():
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def test_the_fingerprint_is_the_specs_crc64_of_the_canonical_form():
    assert crc64_avro('"null"') == (7195948357588979594).to_bytes(8, "little")  # the spec's test vector
    for schema in schemas.current().values():
        assert schema.fingerprint == crc64_avro(to_parsing_canonical_form(schema.parsed))


@settings(max_examples=50)
@given(any_event)
def test_the_apache_avro_library_with_only_the_schema_files_reads_our_bytes(event: Event):
    data = codec.encode(event)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == schemas.current()[type(event).__name__].fingerprint
    schema = APACHE_AVRO[type(event).__name__]
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert str(datum["envelope"]["event_id"]) == str(event.event_id)
    assert datum["envelope"]["customer_id"] == event.customer_id


def test_bytes_that_are_not_single_object_encoded_are_refused_with_a_reason():
    try:
        codec.decode(b"{\"type\": \"AddressChanged\"}")
    except codec.UndecodableMessage as error:
        assert error.code == "UNDECODABLE"
    else:
        raise AssertionError("decoded garbage")


def test_a_message_written_with_an_unknown_schema_is_refused_with_its_fingerprint():
    try:
        codec.decode(b"\xc3\x01" + b"\x01" * 8 + b"\x00")
    except codec.UndecodableMessage as error:
        assert error.code == "UNKNOWN_SCHEMA"
        assert "0101010101010101" in error.reason
    else:
        raise AssertionError("decoded an unknown schema")


def test_a_valid_body_followed_by_junk_bytes_is_refused_as_undecodable():
    from events.jsonlines import parse_event
    from tests.builders import person

    event = parse_event(person("C-1"))
    data = codec.encode(event)
    try:
        codec.decode(data + b"\x00" * 8)
    except codec.UndecodableMessage as error:
        assert error.code == "UNDECODABLE"
        assert "8 trailing bytes" in error.reason
    else:
        raise AssertionError("decoded a message with trailing junk")
    assert codec.decode(data) == event
