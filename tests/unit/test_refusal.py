"""One refusal type for every refusal: its text, its old names, and what readers and the API make of it."""

from __future__ import annotations

import pickle

import pytest

from events import codec, convert
from events.event_log import LogRecord, open_records
from events.jsonlines import parse_event
from events.refusal import Refusal
from registervard import importing
from registervard.api.errors import refused, validation_message
from tests.builders import person


def test_a_refusal_reads_field_then_reason_or_the_reason_alone():
    assert str(Refusal("registration.name", "is required for a person")) == "registration.name: is required for a person"
    assert str(Refusal("", "message has no value", code="EMPTY")) == "message has no value"
    assert Refusal("email", "is not an e-mail address").code == "INVALID_FIELD"


def test_within_names_the_field_from_the_record_that_holds_it():
    assert Refusal("", "is required").within("address").field == "address"
    assert Refusal("city", "must not be empty", code="X").within("address") == Refusal("address.city", "must not be empty", code="X")
    assert Refusal("[2]", "must be a string").within("data_categories").field == "data_categories[2]"


def test_a_refusal_is_a_value_equal_by_code_field_and_reason_and_survives_pickling():
    one = Refusal("source", "must name the reporting system")
    assert one == Refusal("source", "must name the reporting system") and hash(one) == hash(Refusal("source", "must name the reporting system"))
    assert one != Refusal("source", "must name the reporting system", code="OTHER")
    assert pickle.loads(pickle.dumps(one)) == one and isinstance(one, ValueError)


def test_the_old_names_are_the_same_class():
    assert convert.InvalidEvent is codec.InvalidEvent is codec.UndecodableMessage is importing.RowRejected is Refusal


def test_a_log_record_whose_event_is_refused_is_quarantined_as_invalid_event_and_unreadable_bytes_keep_their_code(monkeypatch):
    good = codec.encode(parse_event(person("C-1")))
    garbage = LogRecord("registervard.events", 0, 1, b"hello")

    def refuse(*_args: object) -> None:
        raise Refusal("registration.name", "is required for a person")

    monkeypatch.setattr(codec, "from_plain", refuse)  # the bytes decode; the event they hold is refused
    opened, quarantined = open_records([LogRecord("registervard.events", 0, 0, good), garbage], keys=None)
    assert not opened
    assert [(q.code, q.reason) for q in quarantined] == [
        ("INVALID_EVENT", "registration.name: is required for a person"),
        ("UNDECODABLE", "message is not Avro single-object encoded (no C3 01 header)"),
    ]


def test_the_api_says_where_a_refusal_is_with_its_code_and_never_the_value():
    error = refused(Refusal("identity_number", "is not a valid personnummer", code="INVALID_IDENTITY_NUMBER"))
    assert (error.status, error.code, error.message) == (422, "INVALID_IDENTITY_NUMBER", "body.identity_number: is not a valid personnummer")
    assert refused(Refusal("", "is required"), where="path").message == "path: is required"


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        ([{"loc": ("query", "channel"), "msg": "Input should be 'POST'", "input": "198112189876"}], "query.channel: Input should be 'POST'"),
        ([{"loc": (), "msg": "Field required"}, {"loc": ("body", "reason")}], "Field required; body.reason: invalid"),
        ([], "The request is not valid."),
    ],
)
def test_a_request_validation_message_lists_locations_and_problems_never_the_input(errors, message):
    assert validation_message(errors) == message
