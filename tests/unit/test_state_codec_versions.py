"""The stored state's format: version 4 gives back any state unchanged, and version 1, 2 and 3 bytes are still read."""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import state_codec
from events.catalog import Protection
from events.convert import to_plain
from events.customer import CustomerState, fold
from events.jsonlines import parse_event
from events.state_codec import FIELDS, FIELDS_ADDED_IN_3, FIELDS_ADDED_IN_4, VERSION, DamagedState, UnknownStateVersion, decode_state, encode_state
from tests.builders import person
from tests.type_strategies import moments, text, values_of

_SCALARS: dict[typing.Any, st.SearchStrategy] = {
    str: text,
    int: st.integers(0, 2**40),
    bool: st.booleans(),
    date: st.dates(min_value=date(1900, 1, 1)),
    datetime: moments,  # whole milliseconds in UTC, as the events the fold reads carry them (version 1 kept no more)
}


any_state = values_of(CustomerState, _SCALARS)
"""Every field of CustomerState, each with any value of its type: a field the codec forgot would not come back."""


PROTECTIONS_AT = FIELDS.index("protections")
"""Where version 4 writes the kinds of protection, and versions 2 and 3 wrote the yes/no `protected`."""


def old_plain(state: CustomerState) -> dict[str, typing.Any]:
    """The plain form before version 4: a yes/no `protected` instead of the kinds."""
    plain = to_plain(state, for_json=True)
    plain["protected"] = bool(plain.pop("protections"))
    return plain


def version_1(state: CustomerState) -> bytes:
    """The bytes a worker of version 1 wrote for `state`."""
    text = json.dumps(old_plain(state), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return bytes([1]) + text.encode("utf-8")


def old_array(state: CustomerState) -> list[typing.Any]:
    """Version 4's array with the yes/no `protected` of versions 2 and 3 in the place of the kinds."""
    fields = json.loads(encode_state(state)[1:])
    fields[PROTECTIONS_AT] = bool(fields[PROTECTIONS_AT])
    return fields


def version_2(state: CustomerState) -> bytes:
    """The bytes a worker of version 2 wrote for `state` (which has version 3's and 4's fields at their defaults): the
    array as version 2 wrote it, without the fields versions 3 and 4 added at its end."""
    text = json.dumps(old_array(state)[: -len(FIELDS_ADDED_IN_3) - len(FIELDS_ADDED_IN_4)], separators=(",", ":"), ensure_ascii=False)
    return bytes([2]) + text.encode("utf-8")


def version_3(state: CustomerState) -> bytes:
    """The bytes a worker of version 3 wrote for `state` (which has version 4's fields at their defaults)."""
    text = json.dumps(old_array(state)[: -len(FIELDS_ADDED_IN_4)], separators=(",", ":"), ensure_ascii=False)
    return bytes([3]) + text.encode("utf-8")


def kinds_unknown(state: CustomerState) -> CustomerState:
    """The state as read from a version before 4, which kept no kind of protection: a protected customer's is OTHER."""
    return dataclasses.replace(state, protections=frozenset({Protection.OTHER}) if state.protections else frozenset())


def before_version(version: int, state: CustomerState) -> CustomerState:
    """The state with the fields added in `version` and later at their defaults, and its protection's kind unknown
    (versions before 4 kept none): all an older worker could have stored."""
    added = {3: FIELDS_ADDED_IN_3 + FIELDS_ADDED_IN_4, 4: FIELDS_ADDED_IN_4}[version]
    defaults = {f.name: f.default for f in dataclasses.fields(CustomerState) if f.name in added}
    return kinds_unknown(dataclasses.replace(state, **defaults))


def before_version_3(state: CustomerState) -> CustomerState:
    """The state with the fields versions 3 and 4 added at their defaults: all a version 1 or 2 worker could have stored."""
    return before_version(3, state)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_any_state_comes_back_from_version_4_bytes_unchanged(state: CustomerState):
    data = encode_state(state)
    assert data[0] == VERSION == 4
    assert decode_state(data) == state


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_bytes_a_version_2_worker_wrote_are_still_read_as_the_same_state(state: CustomerState):
    old = before_version_3(state)
    assert decode_state(version_2(old)) == old


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_bytes_a_version_3_worker_wrote_are_still_read_as_the_same_state(state: CustomerState):
    old = before_version(4, state)
    assert decode_state(version_3(old)) == old


def test_the_fields_versions_3_and_4_added_come_last_so_that_older_arrays_are_their_prefixes():
    assert FIELDS[-len(FIELDS_ADDED_IN_4) :] == FIELDS_ADDED_IN_4 == ("merged_into", "merged_from", "registered_addresses")
    assert FIELDS[-len(FIELDS_ADDED_IN_4) - len(FIELDS_ADDED_IN_3) : -len(FIELDS_ADDED_IN_4)] == FIELDS_ADDED_IN_3
    assert FIELDS_ADDED_IN_3 == ("immigrated_on", "deregistered_on", "deregistration_cause", "past_contact_roles")
    state = fold([parse_event(person("C-1"))])
    assert state is not None
    current = old_array(state)  # but for the place of the kinds of protection, which held a yes/no before version 4
    assert json.loads(version_3(state)[1:]) == current[: len(FIELDS) - len(FIELDS_ADDED_IN_4)]
    assert json.loads(version_2(state)[1:]) == current[: len(FIELDS) - len(FIELDS_ADDED_IN_4) - len(FIELDS_ADDED_IN_3)]


def records_in(value: typing.Any) -> typing.Iterator[typing.Any]:
    """Every dataclass instance in a value, the value included."""
    if dataclasses.is_dataclass(value):
        yield value
        for f in dataclasses.fields(value):
            yield from records_in(getattr(value, f.name))
    elif isinstance(value, (tuple, frozenset)):
        for item in value:
            yield from records_in(item)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_every_record_read_from_version_4_is_the_record_its_fields_make(state: CustomerState):
    for record in records_in(decode_state(encode_state(state))):
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        assert vars(record) == fields  # every field set, nothing beside them
        assert type(record)(**fields) == record and hash(type(record)(**fields)) == hash(record)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_bytes_a_version_1_worker_wrote_are_still_read_as_the_same_state(state: CustomerState):
    assert decode_state(version_1(state)) == kinds_unknown(state)
    old = before_version_3(state)
    without_new_fields = json.loads(version_1(old)[1:])
    for name in FIELDS_ADDED_IN_3 + FIELDS_ADDED_IN_4:
        del without_new_fields[name]  # a version 1 worker's JSON object had no such keys
    assert decode_state(bytes([1]) + json.dumps(without_new_fields).encode()) == old


def test_the_format_names_every_field_of_the_state_once():
    assert sorted(FIELDS) == sorted(f.name for f in dataclasses.fields(CustomerState))


def test_the_same_state_always_makes_the_same_bytes_whatever_order_its_sets_were_built_in():
    state = fold([parse_event(person("C-1"))])
    assert state is not None
    ids = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(50)]
    forwards = dataclasses.replace(state, event_ids=frozenset(ids), customer_of=frozenset(["B", "A", "C"]))
    backwards = dataclasses.replace(state, event_ids=frozenset(reversed(ids)), customer_of=frozenset(["C", "A", "B"]))
    assert encode_state(forwards) == encode_state(backwards)


@pytest.mark.parametrize("version", [2, 3, 4])
@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"[1,2,3]",
        b'["C-1"' + b",null" * 19 + b"]",
        b"[" + b"null," * 19 + b"null]",
        b'["C-1"' + b",null" * 23 + b"]",
        b"[" + b"null," * 23 + b"null]",
        b"[",
        b"\xff",
    ],
)
def test_version_2_3_and_4_bytes_of_another_shape_are_refused_as_damaged_with_advice(version: int, body: bytes):
    with pytest.raises(DamagedState, match=rf"version {version}\) is damaged: .*rebuild the stored state from the event log") as refused:
        decode_state(bytes([version]) + body)
    assert isinstance(refused.value, ValueError)  # as UnknownStateVersion and any other unreadable state


def test_a_version_2_array_with_version_3_fields_is_damaged_and_so_is_the_reverse():
    state = fold([parse_event(person("C-1"))])
    assert state is not None
    with pytest.raises(DamagedState):
        decode_state(bytes([2]) + encode_state(state)[1:])
    with pytest.raises(DamagedState):
        decode_state(bytes([3]) + version_2(state)[1:])
    with pytest.raises(DamagedState):
        decode_state(bytes([3]) + encode_state(state)[1:])
    with pytest.raises(DamagedState):
        decode_state(bytes([4]) + version_3(state)[1:])


def test_an_unknown_version_names_the_versions_this_worker_reads():
    with pytest.raises(UnknownStateVersion, match=r"version 5; this worker reads version 4 \(and the older versions 1, 2 and 3\)"):
        decode_state(bytes([5]) + b"[]")


def test_a_damaged_state_does_not_echo_its_contents():
    secret = "198112189876"
    with pytest.raises(DamagedState) as refused:
        decode_state(bytes([2]) + json.dumps([secret] * 20).encode())
    assert secret not in str(refused.value)


def test_the_array_versions_are_smaller_than_version_1_for_a_typical_customer():
    state = fold([parse_event(person("C-1"))])
    assert state is not None
    assert len(encode_state(state)) < len(version_1(state)) * 0.7
    assert sorted(state_codec.READABLE) == [1, 2, 3, 4]


# --- The register's stored form ---------------------------------------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_any_state_the_register_stores_as_json_comes_back_unchanged(state: CustomerState):
    stored = json.loads(json.dumps(state_codec.to_stored(state)))  # through the JSON column
    assert state_codec.from_stored(stored) == state


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_a_state_the_register_stored_in_the_plain_form_before_is_still_read(state: CustomerState):
    stored = json.loads(json.dumps(old_plain(state)))
    assert state_codec.from_stored(stored) == kinds_unknown(state)


def test_version_4_keeps_the_kinds_of_protection_and_an_older_version_reads_a_protection_as_of_kind_other():
    registered = fold([parse_event(person("C-1"))])
    assert registered is not None
    both = dataclasses.replace(registered, protections=frozenset({Protection.SEKRETESSMARKERING, Protection.OTHER}))
    assert decode_state(encode_state(both)).protections == both.protections
    assert json.loads(encode_state(both)[1:])[PROTECTIONS_AT] == ["OTHER", "SEKRETESSMARKERING"]
    spar_only = dataclasses.replace(registered, protections=frozenset({Protection.SKYDDAD_FOLKBOKFORING}))
    for old in (version_1(spar_only), version_2(spar_only), version_3(spar_only)):
        assert decode_state(old).protections == {Protection.OTHER}  # the kind unknown: not one SPAR may lift
    for old in (version_1(registered), version_2(registered), version_3(registered)):
        assert decode_state(old).protections == frozenset()
    with pytest.raises(ValueError, match="protected: must be true or false"):
        decode_state(bytes([1]) + json.dumps({**old_plain(registered), "protected": "yes"}).encode())


def test_a_stored_state_of_a_version_this_code_does_not_know_is_refused_with_advice():
    with pytest.raises(UnknownStateVersion):
        state_codec.from_stored({"state_codec": 99, "fields": []})
