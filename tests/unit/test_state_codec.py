"""The worker's stored customer state: bytes with a version, and back to the same state."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.catalog import Event
from events.customer import fold
from events.jsonlines import parse_event
from events.state_codec import VERSION, UnknownStateVersion, decode_state, encode_state
from tests.builders import person
from tests.unit.test_codec import any_event

ANNA = "C-1"


def _about_anna(event: Event) -> Event:
    return dataclasses.replace(event, envelope=dataclasses.replace(event.envelope, customer_id=ANNA))


lives = st.lists(any_event.map(_about_anna), max_size=8).map(lambda events: [parse_event(person(ANNA)), *events])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(lives)
def test_any_life_s_state_comes_back_from_its_bytes_unchanged(life: list[Event]):
    state = fold(life)
    assert state is not None
    data = encode_state(state)
    assert data[0] == VERSION
    assert decode_state(data) == state


def test_bytes_of_an_unknown_version_are_refused_with_the_version_named():
    data = encode_state(fold([parse_event(person(ANNA))]))
    with pytest.raises(UnknownStateVersion, match=f"version 7; this worker reads version {VERSION}") as refused:
        decode_state(bytes([7]) + data[1:])
    assert refused.value.version == 7


def test_empty_bytes_are_refused_as_having_no_version():
    with pytest.raises(UnknownStateVersion, match="no version byte"):
        decode_state(b"")
