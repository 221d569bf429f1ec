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
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from events import catalog
from events.refusal import Refusal

T = TypeVar("T")


InvalidEvent = Refusal
"""The name validation's callers know a refusal by (the same class)."""


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
    table = _JSON_PLAINERS if for_json else _AVRO_PLAINERS
    plain = table.get(type(value), _UNKNOWN)
    if plain is _UNKNOWN:
        plain = _plainer(type(value), for_json)
    return value if plain is None else plain(value)


Plainer = Callable[[Any], Any]

_UNKNOWN: Any = object()
_AVRO_PLAINERS: dict[type, Plainer | None] = {}
_JSON_PLAINERS: dict[type, Plainer | None] = {}
"""How `to_plain` turns a value of each type into plain data, found once per type: None where it keeps the value as it is.

The workers convert every event and state this way, so the checks on the type (dataclass, enum, collection) are made
once per type rather than once per value; what a value becomes depends on its type alone."""


def _plainer(tp: type, for_json: bool) -> Plainer | None:
    """The conversion of values of type `tp`, decided as `to_plain` has always decided it, remembered in its table."""
    plainer: Plainer | None = None
    if dataclasses.is_dataclass(tp):
        plainer = _record_plainer(tp, for_json)
    elif issubclass(tp, StrEnum):
        plainer = _enum_value
    elif issubclass(tp, (tuple, list)):
        plainer = _list_plainer(for_json)
    elif issubclass(tp, frozenset):
        plainer = _set_plainer(for_json)
    elif for_json and issubclass(tp, (datetime, date)):
        plainer = _isoformat
    elif for_json and issubclass(tp, UUID):
        plainer = str
    elif for_json and issubclass(tp, bytes):
        plainer = _base64
    (_JSON_PLAINERS if for_json else _AVRO_PLAINERS)[tp] = plainer
    return plainer


def _record_plainer(cls: type, for_json: bool) -> Plainer:
    names = tuple(f.name for f, _ in _fields(cls))
    table = _JSON_PLAINERS if for_json else _AVRO_PLAINERS
    tag = None if for_json else avro_name(cls)

    def plain(value: Any) -> dict[str, Any]:
        result = {}
        for name in names:
            item = getattr(value, name)
            convert = table.get(type(item), _UNKNOWN)
            if convert is _UNKNOWN:
                convert = _plainer(type(item), for_json)
            result[name] = item if convert is None else convert(item)
        if tag is not None:
            result["-type"] = tag  # picks the branch when the record sits in a union
        return result

    return plain


def _enum_value(value: StrEnum) -> str:
    return value.value


def _list_plainer(for_json: bool) -> Plainer:
    def plain(value: Any) -> list[Any]:
        return [to_plain(item, for_json=for_json) for item in value]

    return plain


def _set_plainer(for_json: bool) -> Plainer:
    def plain(value: Any) -> list[Any]:
        return sorted(to_plain(item, for_json=for_json) for item in value)

    return plain


def _isoformat(value: date) -> str:
    return value.isoformat()


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def from_plain(cls: type[T], data: Any, path: str = "") -> T:
    """Build a record of `cls` from plain data, or raise a Refusal naming the field."""
    try:
        return _converter(cls)(data)  # type: ignore[arg-type]  # a class is hashable; mypy says not (python/mypy#11470)
    except Refusal as error:
        raise error.within(path) if path else error from None


Converter = Callable[[Any], Any]


def _describe(tp: Any) -> str:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
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


@cache
def _converter(tp: Any) -> Converter:
    """A function converting plain data to `tp`, built once per type hint."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return _union_converter(typing.get_args(tp))
    if typing.get_origin(tp) in (tuple, frozenset):
        return _collection_converter(typing.get_origin(tp), typing.get_args(tp)[0])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _record_converter(tp)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return _enum_converter(tp)
    return _scalar_converter(tp)


def _union_converter(options: tuple[Any, ...]) -> Converter:
    optional = type(None) in options
    candidates = [(o, _converter(o)) for o in options if o is not type(None)]
    by_avro_name = {avro_name(o): c for o, c in candidates if isinstance(o, type) and dataclasses.is_dataclass(o)}
    only = candidates[0][1] if len(candidates) == 1 else None

    def convert(value: Any) -> Any:
        if value is None:
            if optional:
                return None
            raise Refusal("", "is required")
        if isinstance(value, tuple) and len(value) == 2 and value[0] in by_avro_name:
            return by_avro_name[value[0]](value[1])  # fastavro's (record name, value) for a union branch
        if only is not None:  # `X | None`: nothing to choose (and the refusal is X's, as below)
            return only(value)
        first_error: Refusal | None = None
        for _, candidate in candidates:
            try:
                return candidate(value)
            except Refusal as error:
                first_error = first_error or error
        assert first_error is not None
        raise first_error

    return convert


def _collection_converter(kind: type, item_type: Any) -> Converter:
    item = _converter(item_type)

    def convert(value: Any) -> Any:
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise Refusal("", "must be a list" if value is not None else "is required")
        items = []
        for index, element in enumerate(value):
            try:
                items.append(item(element))
            except Refusal as error:
                raise error.within(f"[{index}]") from None
        return kind(items)

    return convert


def _record_converter(cls: type) -> Converter:
    fields = [
        (
            f.name,
            _converter(hint),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            hint if hint in _AS_IS else None,
        )
        for f, hint in _fields(cls)
    ]
    known = frozenset(name for name, _, _, _ in fields) | {"-type"}

    def convert(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise Refusal("", f"must be {_describe(cls)}" if value is not None else "is required")
        if not known.issuperset(value):
            raise Refusal(_printable(min(k for k in value if k not in known)), f"is not a field of {cls.__name__}")
        arguments = {}
        for name, field_converter, required, as_is in fields:
            item = value.get(name, _ABSENT)
            if item is _ABSENT:
                if required:
                    raise Refusal(name, "is required")
            elif as_is is not None and type(item) is as_is:
                arguments[name] = item  # already the field's type: what its converter would return (saves a call per field)
            else:
                try:
                    arguments[name] = field_converter(item)
                except Refusal as error:
                    raise error.within(name) from None
        return cls(**arguments)

    return convert


_ABSENT: Any = object()


def _printable(name: Any) -> str:
    """A field name sent by upstream, safe to print: escaped and cut when it is not short plain text."""
    text = str(name)
    return text if text.isprintable() and len(text) <= 64 else ascii(text[:64])


def _enum_converter(enum: type[StrEnum]) -> Converter:
    allowed = ", ".join(member.value for member in enum)
    members = {member.value: member for member in enum}

    def convert(value: Any) -> Any:
        try:
            member = members.get(value)  # what enum(value) finds, without the Enum machinery
        except TypeError:  # unhashable: enum(value) below says why it is no member
            member = None
        if member is not None:
            return member
        try:
            return enum(value)
        except ValueError:
            raise Refusal("", f"must be one of {allowed}" if value is not None else "is required") from None

    return convert


def _scalar_converter(tp: Any) -> Converter:
    parse = _SCALARS[tp]
    expected = f"must be {_describe(tp)}"
    as_is = tp if tp in _AS_IS else None

    def convert(value: Any) -> Any:
        if type(value) is as_is:
            return value
        if value is None:
            raise Refusal("", "is required")
        try:
            return parse(value)
        except (TypeError, ValueError):
            raise Refusal("", expected) from None

    return convert


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
    if moment.microsecond % 1000 == 0:
        return moment  # as Avro gives it: already whole milliseconds
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

_AS_IS = frozenset({str, int, bool, bytes, date, UUID})
"""Scalar types whose parser returns a value of exactly that type as it is (not bool for int: `type(True)` is bool)."""
