"""The intake rules decide what enters the event log; nothing is dropped without a reason."""

from __future__ import annotations

import dataclasses

from events import codec
from events.catalog import CustomerKind, CustomerRegistered, PersonName, Registration
from events.jsonlines import parse_event
from events.refusal import Refusal
from processors.intake import admit, dead_letter
from tests.builders import envelope, person


def test_a_valid_event_keyed_by_its_customer_is_accepted():
    event = parse_event(person("C-7"))
    assert admit(b"C-7", codec.encode(event)) == event


def test_a_message_keyed_by_another_customer_is_rejected():
    verdict = admit(b"C-8", codec.encode(parse_event(person("C-7"))))
    assert isinstance(verdict, Refusal) and verdict.code == "KEY_MISMATCH"
    assert str(verdict) == "message key must be the event's customer_id"


def test_bytes_that_are_no_event_are_rejected_as_undecodable():
    verdict = admit(b"C-7", b"hello")
    assert isinstance(verdict, Refusal) and verdict.code == "UNDECODABLE"


def test_a_well_formed_event_breaking_a_domain_rule_is_rejected_naming_the_field():
    bad = CustomerRegistered(
        envelope=envelope("C-7"),
        customer_kind=CustomerKind.PERSON,
        registration=Registration(identity_number="198112189870", name=PersonName(given_names="A", surname="B")),
    )
    verdict = admit(b"C-7", codec.encode(bad))
    assert isinstance(verdict, Refusal)
    assert verdict.code == "INVALID_IDENTITY_NUMBER"
    assert verdict.field == "registration.identity_number" and str(verdict).startswith("registration.identity_number: ")
    assert "198112189870" not in str(verdict)


def test_a_dead_letter_keeps_the_original_bytes_and_the_reason():
    value = codec.encode(parse_event(person("C-7")))
    verdict = admit(b"C-8", value)
    record = dead_letter(
        verdict, event_type="CustomerRegistered", event_id=None, key=b"C-8", value=value, topic="intake", partition=2, offset=41
    )
    name, decoded = codec.decode_record(codec.encode_record("DeadLetter", record))
    assert name == "DeadLetter"
    assert decoded["value"] == value and decoded["reason_code"] == "KEY_MISMATCH"
    assert decoded["reason"] == "message key must be the event's customer_id"
    assert (decoded["source_partition"], decoded["source_offset"]) == (2, 41)


def test_a_message_larger_than_the_limit_is_rejected_before_it_is_decoded():
    from events.limits import LIMITS

    value = codec.encode(parse_event(person("C-7")))
    oversize = value + b"\x00" * (LIMITS.max_event_bytes - len(value) + 1)
    verdict = admit(b"C-7", oversize)
    assert isinstance(verdict, Refusal) and verdict.code == "EVENT_TOO_LARGE"
    assert str(verdict) == f"the encoded event is {len(oversize)} bytes; the limit is {LIMITS.max_event_bytes}"


def test_an_event_whose_personal_field_is_already_sealed_is_rejected_as_sealed_input():
    from datetime import date

    from events.catalog import AddressChanged, SealedPersonalData

    forged = AddressChanged(
        envelope=envelope("C-7"),
        effective_date=date(2025, 3, 1),
        address=SealedPersonalData(key_id="k", algorithm="AES-256-GCM", nonce=b"\x00" * 12, ciphertext=b"\x01" * 32),
    )
    verdict = admit(b"C-7", codec.encode(forged))
    assert isinstance(verdict, Refusal) and verdict.code == "SEALED_INPUT"
    assert verdict.field == "address" and str(verdict).startswith("address: ")


def test_an_event_with_a_control_character_is_rejected_at_intake_too():
    event = parse_event(person("C-7"))
    bad = dataclasses.replace(event, registration=dataclasses.replace(event.registration, company_name="ACME\x00"))
    verdict = admit(b"C-7", codec.encode(bad))
    assert isinstance(verdict, Refusal) and verdict.code == "INVALID_CHARACTER"
    assert verdict.field == "registration.company_name"


def test_a_message_without_a_value_is_refused_as_empty():
    assert admit(b"C-7", None) == Refusal("", "message has no value", code="EMPTY")
