"""A record as the datum fastavro writes, shaped by the schema it is written with.

`convert.to_plain` gives plain data that any writer can take: it names a
record's type (`-type`) but leaves fastavro to find the branch of every union
by trying each in turn, which for a record means validating all of it first.
The worker encodes every event it appends, and that search cost more than the
rest of the writing. `datum(schema, value)` names the branch instead, in
fastavro's tuple notation `(branch name, value)`, wherever the value's type
says which branch takes it; where it does not (numbers, enums and arrays in a
union, or a branch of a kind not listed here), the value is left as
`to_plain` makes it and fastavro picks the branch as before. Either way the
bytes are those of the `to_plain` datum (tests/unit/test_avro_datum.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from events.convert import avro_name, to_plain

Datum = Callable[[Any], Any]
"""Turns a value into what fastavro writes for one schema."""

_PLAIN_AS_IS = frozenset({str, int, bool, bytes, date, datetime, UUID, type(None)})
"""Types `to_plain` returns unchanged for fastavro."""

_PLANS: dict[int, tuple[Any, Datum]] = {}
"""The datum function of each schema (by identity; the schema is kept with it so that its id is not reused)."""


def datum(schema: Any, value: Any) -> Any:
    """`value` as fastavro writes it with `schema` (a parsed schema: `events.schemas`)."""
    return _plan(schema, schema.get("__named_schemas", {}) if isinstance(schema, dict) else {})(value)


def _plan(schema: Any, named: dict[str, Any]) -> Datum:
    known = _PLANS.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    plan = _build(schema, named)
    _PLANS[id(schema)] = (schema, plan)
    return plan


def _build(schema: Any, named: dict[str, Any]) -> Datum:
    if isinstance(schema, str) and schema in named:
        return _plan(named[schema], named)
    if isinstance(schema, list):
        return _union(schema, named)
    if isinstance(schema, dict) and schema.get("type") == "record":
        return _record(schema, named)
    if isinstance(schema, dict) and schema.get("type") == "array":
        items = _plan(schema["items"], named)
        return lambda value: [items(item) for item in value] if isinstance(value, (tuple, list)) else to_plain(value)
    return _scalar


def _scalar(value: Any) -> Any:
    return value if type(value) in _PLAIN_AS_IS else to_plain(value)


def _record(schema: dict[str, Any], named: dict[str, Any]) -> Datum:
    by_class: dict[type, Datum] = {}
    field_names = [f["name"] for f in schema["fields"]]

    def plain(value: Any) -> Any:
        fields = by_class.get(type(value))
        if fields is None:
            if not dataclasses.is_dataclass(value) or isinstance(value, type):
                return to_plain(value)
            fields = by_class[type(value)] = _record_fields(type(value), schema, field_names, named)
        return fields(value)

    return plain


def _record_fields(cls: type, schema: dict[str, Any], field_names: list[str], named: dict[str, Any]) -> Datum:
    """The fields of the schema that `cls` has (fastavro fills in the others' defaults, as it does for to_plain's datum)."""
    own = {f.name for f in dataclasses.fields(cls)}
    types = {f["name"]: f["type"] for f in schema["fields"]}
    plans = [(name, plan, plan is _scalar) for name, plan in ((name, _plan(types[name], named)) for name in field_names if name in own)]

    def plain(value: Any) -> dict[str, Any]:
        result = {}
        for name, field, scalar in plans:
            item = getattr(value, name)
            result[name] = item if scalar and type(item) in _PLAIN_AS_IS else field(item)  # most fields: no call at all
        return result

    return plain


def _union(branches: list[Any], named: dict[str, Any]) -> Datum:
    resolved = [named.get(b, b) if isinstance(b, str) else b for b in branches]
    chosen: dict[type, tuple[str, Datum] | None] = {}

    def plain(value: Any) -> Any:
        if value is None:
            return None
        tp = type(value)
        if tp not in chosen:
            chosen[tp] = _branch_for(tp, resolved, named)
        branch = chosen[tp]
        if branch is None:
            return to_plain(value)  # fastavro finds the branch, as it always has
        name, plan = branch
        return (name, plan(value))

    return plain


def _branch_for(tp: type, branches: list[Any], named: dict[str, Any]) -> tuple[str, Datum] | None:
    """The one branch that takes values of type `tp` whatever their value, or None when that is not certain."""
    takers = []
    for branch in branches:
        takes = _takes(branch, tp)
        if takes is None:
            return None  # a kind of branch not modelled here: it might take the value too
        if takes:
            takers.append(branch)
    if len(takers) != 1:
        return None
    branch = takers[0]
    if isinstance(branch, dict) and branch["type"] in ("record", "enum", "fixed"):
        return branch["name"], _plan(branch, named)
    return (branch["type"] if isinstance(branch, dict) else branch), _plan(branch, named)


def _takes(branch: Any, tp: type) -> bool | None:
    """Whether a union branch takes the values of type `tp` (after `to_plain`), as fastavro's validation decides; None
    when that depends on the value or is not known here."""
    kind = branch["type"] if isinstance(branch, dict) else branch
    logical = branch.get("logicalType") if isinstance(branch, dict) else None
    if kind == "null":
        return tp is type(None)
    if kind == "record":
        if dataclasses.is_dataclass(tp):
            return avro_name(tp) == branch["name"]  # to_plain names the record (-type), and no other record takes it
        return False if issubclass(tp, _NO_MAPPING) else None
    if kind == "string" and logical is None:
        return issubclass(tp, str)
    if kind == "string" and logical == "uuid":
        return issubclass(tp, (str, UUID))
    if kind == "long" and logical == "timestamp-millis":
        return True if issubclass(tp, datetime) else (None if issubclass(tp, int) else False)
    if kind == "int" and logical == "date":
        return True if issubclass(tp, date) else (None if issubclass(tp, int) else False)  # a datetime is a date to it too
    if kind == "bytes" and logical is None:
        return issubclass(tp, (bytes, bytearray))
    if kind == "boolean" and logical is None:
        return tp is bool
    return None


_NO_MAPPING = (str, bytes, int, float, date, UUID, tuple, list, frozenset, type(None))
"""Types whose plain form is no mapping, so no record branch takes them."""
