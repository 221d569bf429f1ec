"""The wire format: Avro single-object encoding.

Every message value is `C3 01`, then the 8-byte little-endian CRC-64-AVRO
fingerprint of the writer's schema (its parsing canonical form), then the Avro
binary body. A consumer in any language decodes it with standard Avro tooling
and the files in `schemas/`; no registry is needed.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from events import avro_datum, schemas
from events.catalog import EVENT_TYPES, Event
from events.convert import InvalidEvent, from_plain
from events.refusal import Refusal

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


UndecodableMessage = Refusal
"""The name readers of the log and the dead letters know a refusal of bytes by (the same class)."""

UNREADABLE = frozenset({"UNDECODABLE", "UNKNOWN_SCHEMA", "NOT_AN_EVENT"})
"""The codes of a refusal of the bytes themselves; any other code from `decode` refuses the event they hold."""


def encode_record(name: str, datum: dict[str, Any]) -> bytes:
    """Single-object encoding of plain data with the current schema `name`."""
    return _write(schemas.current()[name], datum)


def _write(schema: schemas.Schema, datum: Any) -> bytes:
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    buffer.write(schema.fingerprint)
    schemaless_writer(buffer, schema.parsed, datum)
    return buffer.getvalue()


def decode_record(data: bytes) -> tuple[str, dict[str, Any]]:
    """The schema name and plain data of a single-object encoded message, read as the current schema."""
    if len(data) < HEADER_SIZE or data[:2] != MAGIC:
        raise Refusal("", "message is not Avro single-object encoded (no C3 01 header)", code="UNDECODABLE")
    writer = schemas.by_fingerprint().get(data[2:HEADER_SIZE])
    if writer is None:
        raise Refusal("", f"no schema in schemas/ has fingerprint {data[2:HEADER_SIZE].hex()}", code="UNKNOWN_SCHEMA")
    reader = schemas.current().get(writer.name, writer)
    body = io.BytesIO(data[HEADER_SIZE:])
    try:
        datum = schemaless_reader(
            body,
            writer.parsed,
            None if reader is writer else reader.parsed,
            return_record_name=True,
            return_record_name_override=True,
        )
    except Exception as error:  # fastavro raises many kinds for corrupt bodies
        raise Refusal("", f"{writer.name} body does not match its schema ({type(error).__name__})", code="UNDECODABLE") from None
    trailing = len(data) - HEADER_SIZE - body.tell()
    if trailing:  # a body that reads as an event but is not all of the message: corrupt, or smuggling bytes
        raise Refusal("", f"{writer.name} body is followed by {trailing} trailing bytes", code="UNDECODABLE")
    assert isinstance(datum, dict)  # every schema is a record (events.schemas), so fastavro read a dict
    return writer.name, datum


def encode(event: Event) -> bytes:
    """The wire bytes of an event."""
    schema = schemas.current()[type(event).__name__]
    return _write(schema, avro_datum.datum(schema.parsed, event))  # the bytes of encode_record(name, to_plain(event)), sooner


def decode(data: bytes) -> Event:
    """The event in a message value, or a Refusal saying what is wrong: with a code in UNREADABLE for the bytes, another for the event."""
    name, datum = decode_record(data)
    event_type = EVENT_TYPES.get(name)
    if event_type is None:
        raise Refusal("", f"{name} is not an event type", code="NOT_AN_EVENT")
    return from_plain(event_type, datum)


def written_with_current_schema(data: bytes) -> bool:
    """Whether a message value was written with the current version of its schema, so that decoding it and encoding
    the event again gives an event no reader can tell from it (the bytes may differ, the event does not)."""
    schema = schemas.by_fingerprint().get(data[2:HEADER_SIZE]) if data[:2] == MAGIC else None
    return schema is not None and schemas.current().get(schema.name) is schema


def event_name(data: bytes) -> str | None:
    """The event type named by a message's fingerprint, without decoding the body."""
    schema = schemas.by_fingerprint().get(data[2:HEADER_SIZE]) if data[:2] == MAGIC else None
    return schema.name if schema else None


__all__ = [
    "MAGIC",
    "UNREADABLE",
    "InvalidEvent",
    "Refusal",
    "UndecodableMessage",
    "decode",
    "decode_record",
    "encode",
    "encode_record",
    "event_name",
    "written_with_current_schema",
]
