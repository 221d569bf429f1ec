"""Turn event records into plain data and back, field by field.

Plain data is what Avro writes and reads (dicts, dates, UUIDs) or what a person
writes in JSON (the same, with dates and ids as strings). Conversion is driven
by the type hints of the classes in `catalog`, and every error names the field.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import types
import typing
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from events import catalog

T = TypeVar("T")


class InvalidEvent(ValueError):
    """An event that does not satisfy its schema or the domain's rules."""

    def __init__(self, field: str, reason: str, code: str = "INVALID_FIELD") -> None:
        self.field = field
        self.reason = reason
        self.code = code
        super().__init__(f"{field}: {reason}" if field else reason)


@cache
def _fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f, hints[f.name]) for f in dataclasses.fields(cls))


def avro_name(cls: type) -> str:
    """The Avro full name of the record a class mirrors."""
    if issubclass(cls, catalog.Event):
        return f"registervard.events.{cls.__name__}"
    return f"registervard.{cls.__name__}"


def to_plain(value: Any, *, for_json: bool = False) -> Any:
    """A record as plain data: for fastavro, or (for_json) for a JSON document."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        plain = {f.name: to_plain(getattr(value, f.name), for_json=for_json) for f, _ in _fields(type(value))}
        if not for_json:
            plain["-type"] = avro_name(type(value))  # picks the branch when the record sits in a union
        return plain
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_plain(item, for_json=for_json) for item in value]
    if isinstance(value, frozenset):
        return sorted(to_plain(item, for_json=for_json) for item in value)
    if for_json:
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
    return value


def from_plain(cls: type[T], data: Any, path: str = "") -> T:
    """Build a record of `cls` from plain data, or raise InvalidEvent naming the field."""
    return _convert(cls, data, path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return f"an object ({tp.__name__})"
    return {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        bytes: "base64 bytes",
        date: "a date (YYYY-MM-DD)",
        datetime: "a timestamp with time zone (e.g. 2025-03-01T10:00:00Z)",
        UUID: "a UUID",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(tp: Any, value: Any, path: str) -> Any:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return _convert_union(typing.get_args(tp), value, path)
    if value is None:
        raise InvalidEvent(path, "is required")
    if typing.get_origin(tp) in (tuple, frozenset):
        return _convert_collection(tp, value, path)
    if dataclasses.is_dataclass(tp):
        return _convert_record(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(m.value for m in tp)
            raise InvalidEvent(path, f"must be one of {allowed}") from None
    converter = _SCALARS.get(tp)
    if converter is None:  # pragma: no cover - a class in catalog uses a type we do not know
        raise TypeError(f"no conversion for {tp!r}")
    try:
        return converter(value)
    except (TypeError, ValueError):
        raise InvalidEvent(path, f"must be {_describe(tp)}") from None


def _convert_union(options: tuple[Any, ...], value: Any, path: str) -> Any:
    if value is None:
        if type(None) in options:
            return None
        raise InvalidEvent(path, "is required")
    candidates = [o for o in options if o is not type(None)]
    if isinstance(value, tuple) and len(value) == 2:  # fastavro's (record name, value) for a union branch
        name, value = value
        candidates = [o for o in candidates if dataclasses.is_dataclass(o) and avro_name(o) == name] or candidates
    first_error: InvalidEvent | None = None
    for option in candidates:
        try:
            return _convert(option, value, path)
        except InvalidEvent as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def _convert_collection(tp: Any, value: Any, path: str) -> Any:
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidEvent(path, "must be a list")
    item_type = typing.get_args(tp)[0]
    items = [_convert(item_type, item, f"{path}[{i}]") for i, item in enumerate(value)]
    return typing.get_origin(tp)(items)


def _convert_record(cls: type, value: Any, path: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise InvalidEvent(path, f"must be {_describe(cls)}")
    known = {f.name for f, _ in _fields(cls)}
    unknown = sorted(k for k in value if k not in known and k != "-type")
    if unknown:
        raise InvalidEvent(_join(path, unknown[0]), f"is not a field of {cls.__name__}")
    arguments = {}
    for field, hint in _fields(cls):
        if field.name in value:
            arguments[field.name] = _convert(hint, value[field.name], _join(path, field.name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise InvalidEvent(_join(path, field.name), "is required")
    return cls(**arguments)


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(_to_str(value), validate=True)
    except binascii.Error:
        raise ValueError from None


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise TypeError
    if isinstance(value, date):
        return value
    return date.fromisoformat(_to_str(value))


def _to_datetime(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(_to_str(value))
    if moment.tzinfo is None:
        raise ValueError
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # Avro timestamp-millis keeps no more


def _to_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(_to_str(value))


_SCALARS: dict[Any, Any] = {
    str: _to_str,
    int: _to_int,
    bool: _to_bool,
    bytes: _to_bytes,
    date: _to_date,
    datetime: _to_datetime,
    UUID: _to_uuid,
}
