"""The worker's policy without Kafka: what becomes of an intake message, a lapsed consent and the log at startup."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from fastavro import schemaless_writer

from events import avro_datum, codec, schemas
from events.catalog import (
    AddressChanged,
    Channel,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    CustomerDeceased,
    CustomerErased,
    CustomerKind,
    CustomerRegistered,
    ErasureReason,
    Event,
    PersonalDataPurgeRequested,
    PersonName,
    PostalAddress,
    Registration,
    WithdrawalReason,
)
from events.jsonlines import parse_event
from events.limits import LIMITS
from events.refusal import Refusal
from events.sealing import (
    SEALED_BYTES_MAGIC,
    MemoryKeyStore,
    is_sealed,
    unseal,
    unseal_bytes,
)
from processors import intake
from processors.lifecycle import Lifecycle
from processors.policy import (
    Append,
    DeadLetter,
    Drop,
    IntakeMessage,
    Record,
    Sealer,
    decide,
    expire,
    rebuild,
    to_log,
)
from tests.builders import VALID_PERSONNUMMER, envelope, person

ANNA = "C-1"
PLAIN = Sealer(None)
"""Encryption off: records are the events' own bytes, so they can be compared."""
WHEN = datetime(2025, 6, 1, 12, tzinfo=UTC)


def message(value: bytes | None, key: bytes | None = ANNA.encode(), offset: int = 7) -> IntakeMessage:
    return IntakeMessage(key=key, value=value, topic="registervard.intake", partition=3, offset=offset)


def sent(event: Event, key: str | None = None) -> IntakeMessage:
    return message(codec.encode(event), key=(key or event.customer_id).encode())


def registered(customer_id: str = ANNA) -> CustomerRegistered:
    return parse_event(person(customer_id))


def consent(on: date, customer_id: str = ANNA) -> ConsentGiven:
    return ConsentGiven(
        envelope=envelope(customer_id, on=on), purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, company="Acme AB", overrides_nix=True
    )


def died(on: date, customer_id: str = ANNA) -> CustomerDeceased:
    return CustomerDeceased(envelope=envelope(customer_id, on=on), date_of_death=on)


def moved(effective: date, customer_id: str = ANNA) -> AddressChanged:
    return AddressChanged(
        envelope=envelope(customer_id, on=effective), effective_date=effective, address=PostalAddress(street="Ny 1", postal_code="22100", city="Lund")
    )


def erased(customer_id: str = ANNA) -> CustomerErased:
    return CustomerErased(envelope=envelope(customer_id, on=date(2025, 5, 1)), reason=ErasureReason.CUSTOMER_REQUEST)


def known(*events: Event) -> Lifecycle:
    """A lifecycle that has admitted `events`."""
    lifecycle = Lifecycle()
    for event in events:
        assert isinstance(decide(sent(event), lifecycle, PLAIN), Append)
    return lifecycle


def dead_letter(decision: object) -> dict:
    assert isinstance(decision, DeadLetter), decision
    assert decision.record["reason_code"] == decision.refusal.code and decision.record["reason"] == str(decision.refusal)
    name, record = codec.decode_record(decision.encoded())  # it is a DeadLetter the topic can hold
    assert name == "DeadLetter"
    return record


# --- Admitted -----------------------------------------------------------------------------------


def test_an_admitted_event_is_appended_first_then_its_consequences_each_keyed_by_the_customer():
    lifecycle = known(registered(), consent(date(2025, 2, 1)))
    death = died(date(2025, 3, 1))
    decision = decide(sent(death), lifecycle, PLAIN)
    assert isinstance(decision, Append)
    assert decision.admitted == death and decision.destroy_key is None
    (withdrawn,) = decision.derived
    assert isinstance(withdrawn, ConsentWithdrawn) and withdrawn.reason is WithdrawalReason.DECEASED
    assert decision.records == (Record(b"C-1", codec.encode(death)), Record(b"C-1", codec.encode(withdrawn)))
    assert lifecycle.states[ANNA].deceased_on == date(2025, 3, 1) and not lifecycle.states[ANNA].consents


def test_with_encryption_the_records_hold_the_events_sealed_with_the_customers_key():
    keys = MemoryKeyStore()
    event = registered()
    decision = decide(sent(event), Lifecycle(), Sealer(keys))
    assert isinstance(decision, Append)
    (record,) = decision.records
    stored = codec.decode(record.value)
    assert is_sealed(stored) and b"Svensson" not in record.value
    assert unseal(stored, keys) == event


def test_an_event_sealing_leaves_unchanged_is_logged_as_the_bytes_it_came_in():
    keys = MemoryKeyStore()
    lifecycle = Lifecycle()
    decide(sent(registered()), lifecycle, Sealer(keys))
    given = sent(consent(date(2025, 2, 1)))
    decision = decide(given, lifecycle, Sealer(keys))
    assert isinstance(decision, Append)
    assert decision.records == (Record(b"C-1", given.value),)  # no personal data: nothing to seal, nothing to encode again


def test_an_event_written_with_an_older_schema_is_logged_in_the_current_one():
    event = registered()
    old = schemas.released()["1"]["CustomerRegistered"]
    assert old.fingerprint != schemas.current()["CustomerRegistered"].fingerprint
    buffer = io.BytesIO()
    buffer.write(codec.MAGIC + old.fingerprint)
    schemaless_writer(buffer, old.parsed, avro_datum.datum(old.parsed, event))
    decision = decide(message(buffer.getvalue()), Lifecycle(), PLAIN)
    assert isinstance(decision, Append)
    (record,) = decision.records
    assert record.value == codec.encode(event) and codec.written_with_current_schema(record.value)


def test_an_erasure_asks_for_the_key_to_be_destroyed_after_its_appends_and_destroys_nothing_itself():
    keys = MemoryKeyStore()
    sealer = Sealer(keys)
    lifecycle = Lifecycle()
    for event in (registered(), consent(date(2025, 2, 1))):
        decide(sent(event), lifecycle, sealer)
    erasure = erased()
    decision = decide(sent(erasure), lifecycle, sealer)
    assert isinstance(decision, Append) and decision.admitted == erasure
    assert decision.destroy_key == ANNA
    # The consent lapsed before the erasure, so it expired first (nothing left for the erasure to withdraw).
    assert [type(e) for e in decision.derived] == [ConsentExpired, PersonalDataPurgeRequested]
    assert len(decision.records) == 3  # the expiry, the erasure and its purge, all before the key goes
    assert keys.key_for(ANNA) is not None and not keys.is_destroyed(ANNA)


def test_once_the_key_is_gone_nothing_of_the_customer_can_be_appended():
    keys = MemoryKeyStore()
    keys.destroy(ANNA)
    with pytest.raises(RuntimeError, match="no data key for customer C-1"):
        to_log([moved(date(2025, 4, 1))], Sealer(keys))


# --- Dead letters ---------------------------------------------------------------------------------


def test_a_duplicate_is_dropped_and_changes_nothing():
    event = registered()
    lifecycle = known(event)
    before = lifecycle.states[ANNA]
    assert decide(sent(event), lifecycle, PLAIN) == Drop(event)
    assert lifecycle.states[ANNA] == before


def _invalid_identity_number() -> CustomerRegistered:
    return CustomerRegistered(
        envelope=envelope(ANNA),
        customer_kind=CustomerKind.PERSON,
        registration=Registration(identity_number="198112189870", name=PersonName(given_names="A", surname="B")),
    )


REGISTERED = registered()
INVALID = _invalid_identity_number()
AGAIN = parse_event(person(ANNA, source="CRM2"))
CONSENT_IN_JUNE = consent(date(2025, 6, 1))
DIED_AGAIN = died(date(2025, 3, 2))
MOVED = moved(date(2025, 4, 1))
NOT_AN_EVENT = intake.dead_letter(
    Refusal("", "x", code="X"), event_type=None, event_id=None, key=None, value=None, topic="t", partition=0, offset=0, at=WHEN
)


@pytest.mark.parametrize(
    ("known_events", "value", "key", "code", "reason", "event_type", "refused"),
    [
        ((), None, b"C-1", "EMPTY", "message has no value", None, None),
        ((), b"hello", b"C-1", "UNDECODABLE", "message is not Avro single-object encoded (no C3 01 header)", None, None),
        ((), b"\xc3\x01" + b"\x01" * 8 + b"\x00", b"C-1", "UNKNOWN_SCHEMA", "no schema in schemas/ has fingerprint 0101010101010101", None, None),
        ((), codec.encode_record("DeadLetter", NOT_AN_EVENT), b"C-1", "NOT_AN_EVENT", "DeadLetter is not an event type", "DeadLetter", None),
        ((), codec.encode(REGISTERED), b"C-2", "KEY_MISMATCH", "message key must be the event's customer_id", "CustomerRegistered", REGISTERED),
        ((), codec.encode(INVALID), b"C-1", "INVALID_IDENTITY_NUMBER", None, "CustomerRegistered", INVALID),
        ((), codec.encode(MOVED), b"C-1", "UNKNOWN_CUSTOMER",
         "customer_id has not been registered (CustomerRegistered must come first)", "AddressChanged", MOVED),
        ((REGISTERED,), codec.encode(AGAIN), b"C-1", "ALREADY_REGISTERED",
         "customer_id is already registered; send the changes as their own events", "CustomerRegistered", AGAIN),
        ((REGISTERED, erased()), codec.encode(CONSENT_IN_JUNE), b"C-1", "CUSTOMER_ERASED",
         "the customer has been erased; no new facts may be recorded about them", "ConsentGiven", CONSENT_IN_JUNE),
        ((REGISTERED, died(date(2025, 3, 1))), codec.encode(DIED_AGAIN), b"C-1", "ALREADY_DECEASED",
         "the customer's death is already recorded", "CustomerDeceased", DIED_AGAIN),
        ((REGISTERED, died(date(2025, 3, 1))), codec.encode(MOVED), b"C-1", "AFTER_DEATH",
         "effective_date is after the customer's date of death", "AddressChanged", MOVED),
    ],
    ids=lambda value: value if isinstance(value, str) and value.isupper() else "",
)
def test_each_refusal_becomes_a_dead_letter_with_its_code_and_reason_and_the_message_kept(known_events, value, key, code, reason, event_type, refused):
    lifecycle = known(*known_events)
    before = dict(lifecycle.states)
    decision = decide(message(value, key=key), lifecycle, PLAIN, now=WHEN)
    record = dead_letter(decision)
    assert record["reason_code"] == code
    if reason is not None:
        assert record["reason"] == reason
    assert record["event_type"] == event_type
    assert record["event_id"] == (str(refused.event_id) if refused is not None else None)
    assert (record["key"], record["value"]) == (key, value)  # encryption off: the message as it came
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == ("registervard.intake", 3, 7)
    assert record["rejected_at"] == WHEN
    assert lifecycle.states == before  # a refused message changes nothing


def test_a_refusal_of_a_field_names_the_field_and_not_its_value():
    record = dead_letter(decide(sent(_invalid_identity_number()), Lifecycle(), PLAIN))
    assert record["reason"].startswith("registration.identity_number: ")
    assert "198112189870" not in record["reason"]


def test_an_oversize_message_is_event_too_large_named_by_its_fingerprint_without_being_decoded():
    value = codec.encode(registered())
    oversize = value + b"\x00" * (LIMITS.max_event_bytes - len(value) + 1)
    record = dead_letter(decide(message(oversize), Lifecycle(), PLAIN))
    assert record["reason_code"] == "EVENT_TOO_LARGE"
    assert record["reason"] == f"the encoded event is {len(oversize)} bytes; the limit is {LIMITS.max_event_bytes}"
    assert (record["event_type"], record["event_id"]) == ("CustomerRegistered", None)


def test_undecodable_bytes_are_dead_lettered_sealed_whole_when_the_customer_has_a_key():
    keys = MemoryKeyStore()
    keys.key_for(ANNA, create=True)
    record = dead_letter(decide(message(b"Anna Svensson 198112189876"), Lifecycle(), Sealer(keys)))
    assert record["reason_code"] == "UNDECODABLE"
    assert record["value"].startswith(SEALED_BYTES_MAGIC) and b"Svensson" not in record["value"]
    assert unseal_bytes(record["value"], ANNA, keys) == b"Anna Svensson 198112189876"


def test_undecodable_bytes_are_kept_as_they_are_when_no_key_may_or_does_exist():
    keys = MemoryKeyStore()
    no_key = dead_letter(decide(message(b"garbage", key=b"C-9"), Lifecycle(), Sealer(keys)))
    identity_as_key = dead_letter(decide(message(b"garbage", key=VALID_PERSONNUMMER.encode()), Lifecycle(), Sealer(keys)))
    assert no_key["value"] == identity_as_key["value"] == b"garbage"
    assert keys.keys == {}  # a dead letter of bytes creates no key, and an identity number never names one


def test_a_refused_event_is_dead_lettered_with_its_personal_fields_sealed_and_without_its_value_once_the_key_is_gone():
    keys = MemoryKeyStore()
    again = parse_event(person(ANNA, source="CRM2"))
    lifecycle = Lifecycle()
    decide(sent(registered()), lifecycle, Sealer(keys))
    sealed = dead_letter(decide(sent(again), lifecycle, Sealer(keys)))
    assert sealed["reason_code"] == "ALREADY_REGISTERED"
    assert b"Svensson" not in sealed["value"] and unseal(codec.decode(sealed["value"]), keys) == again
    keys.destroy(ANNA)
    gone = dead_letter(decide(sent(again), lifecycle, Sealer(keys)))
    assert gone["reason_code"] == "ALREADY_REGISTERED" and gone["value"] is None


# --- Consent expiry and the startup rebuild ---------------------------------------------------------


def test_expiry_is_decided_from_event_time_alone_whenever_the_timer_runs():
    given = consent(date(2025, 1, 1))
    early = known(registered(), given)
    assert expire(early, datetime(2025, 3, 31, 23, 59, tzinfo=UTC), PLAIN) == Append((), admitted=None, derived=())
    on_time = expire(early, datetime(2025, 4, 1, 0, 0, tzinfo=UTC), PLAIN)
    late = expire(known(registered(), given), datetime(2025, 9, 30, 15, 0, tzinfo=UTC), PLAIN)
    assert on_time == late  # same ids, times and bytes whenever it ran
    (lapsed,) = on_time.derived
    assert isinstance(lapsed, ConsentExpired) and lapsed.expired_on == date(2025, 4, 1)
    assert lapsed.envelope.occurred_at == datetime(2025, 4, 1, tzinfo=UTC) and lapsed.envelope.causation_id == given.event_id
    assert on_time.records == (Record(b"C-1", codec.encode(lapsed)),) and on_time.destroy_key is None
    assert expire(early, datetime(2025, 10, 1, tzinfo=UTC), PLAIN).derived == ()  # folded: lapses once


def test_the_rebuild_finds_the_consequences_the_log_lacks_and_every_erased_customer():
    given, death = consent(date(2025, 2, 1)), died(date(2025, 3, 1))
    log = [registered(), given, death, registered("C-2"), erased("C-2")]  # crashed before the withdrawal and C-2's purge
    rebuilt = rebuild(log)
    assert [type(e) for e in rebuilt.missing] == [ConsentWithdrawn, PersonalDataPurgeRequested]
    assert rebuilt.missing[0].envelope.causation_id == death.event_id
    assert rebuilt.erased == ("C-2",)
    assert set(rebuilt.lifecycle.states) == {"C-1", "C-2"}
    assert rebuild([*log, *rebuilt.missing]).missing == ()  # once appended, nothing is missing


def test_a_dead_letter_decision_is_plain_data():
    decision = decide(message(b"hello"), Lifecycle(), PLAIN, now=WHEN)
    assert decision == DeadLetter(Refusal("", "message is not Avro single-object encoded (no C3 01 header)", code="UNDECODABLE"), decision.record)
    assert decision.key == b"C-1"
