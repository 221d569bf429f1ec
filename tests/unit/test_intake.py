"""The intake rules decide what enters the event log; nothing is dropped without a reason."""

from __future__ import annotations

from events import codec
from events.catalog import CustomerRegistered, CustomerKind, PersonName, Registration
from events.jsonlines import parse_event
from processors.intake import Accepted, Rejected, admit, dead_letter
from tests.builders import envelope, person


def test_a_valid_event_keyed_by_its_customer_is_accepted():
    event = parse_event(person("C-7"))
    assert admit(b"C-7", codec.encode(event)) == Accepted(event)


def test_a_message_keyed_by_another_customer_is_rejected():
    verdict = admit(b"C-8", codec.encode(parse_event(person("C-7"))))
    assert isinstance(verdict, Rejected) and verdict.code == "KEY_MISMATCH"
    assert verdict.event_type == "CustomerRegistered"


def test_bytes_that_are_no_event_are_rejected_as_undecodable():
    verdict = admit(b"C-7", b"hello")
    assert isinstance(verdict, Rejected) and verdict.code == "UNDECODABLE"


def test_a_well_formed_event_breaking_a_domain_rule_is_rejected_naming_the_field():
    bad = CustomerRegistered(
        envelope=envelope("C-7"),
        customer_kind=CustomerKind.PERSON,
        registration=Registration(identity_number="198112189870", name=PersonName(given_names="A", surname="B")),
    )
    verdict = admit(b"C-7", codec.encode(bad))
    assert isinstance(verdict, Rejected)
    assert verdict.code == "INVALID_IDENTITY_NUMBER"
    assert verdict.reason.startswith("registration.identity_number")
    assert "198112189870" not in verdict.reason


def test_a_dead_letter_keeps_the_original_bytes_and_the_reason():
    value = codec.encode(parse_event(person("C-7")))
    verdict = admit(b"C-8", value)
    record = dead_letter(verdict, key=b"C-8", value=value, topic="intake", partition=2, offset=41)
    name, decoded = codec.decode_record(codec.encode_record("DeadLetter", record))
    assert name == "DeadLetter"
    assert decoded["value"] == value and decoded["reason_code"] == "KEY_MISMATCH"
    assert (decoded["source_partition"], decoded["source_offset"]) == (2, 41)
