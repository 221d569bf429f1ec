"""Hypothesis strategies for any value of a type hint of our records (events, states), built from the hints themselves,
so that a field added to a record is generated without touching a test."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

from hypothesis import strategies as st

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
"""Any short text, surrogates aside."""
moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # whole milliseconds, as Avro's timestamp-millis
)
"""Any moment in UTC, in whole milliseconds, as the events carry them."""


def values_of(hint: typing.Any, scalars: Mapping[typing.Any, st.SearchStrategy]) -> st.SearchStrategy:
    """Any value of `hint`: unions, None, tuples, frozensets, enums and dataclasses from their hints, the rest from `scalars`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return st.one_of(*(values_of(option, scalars) for option in typing.get_args(hint)))
    if hint is type(None):
        return st.none()
    if typing.get_origin(hint) is tuple:
        return st.lists(values_of(typing.get_args(hint)[0], scalars), max_size=3).map(tuple)
    if typing.get_origin(hint) is frozenset:
        return st.frozensets(values_of(typing.get_args(hint)[0], scalars), max_size=4)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return st.sampled_from(list(hint))
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return st.builds(hint, **{f.name: values_of(hints[f.name], scalars) for f in dataclasses.fields(hint)})
    return scalars[hint]
