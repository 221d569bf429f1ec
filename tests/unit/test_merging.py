"""Merging a duplicate customer (CustomersMerged, schema release 4), without Kafka: the fold, the worker's policy on both
customers' streams, the refusals, and the customer at moments before and after the merge."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from events import codec
from events.catalog import (
    AddressChanged,
    Channel,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    CustomerDeceased,
    CustomerErased,
    CustomersMerged,
    ErasureReason,
    Event,
    MarketingOptOut,
    NixRegistered,
    PostalAddress,
    ProtectedIdentitySet,
    Protection,
)
from events.contactability import may_contact
from events.customer import CustomerState, Status, fold
from events.jsonlines import parse_event
from events.merging import kept_half, merge_event, pair_refusal
from events.refusal import Refusal
from events.sealing import MemoryKeyStore, seal, unseal
from events.timeline import state_at
from events.validation import validate
from processors.lifecycle import Lifecycle
from processors.policy import Append, DeadLetter, Drop, IntakeMessage, Sealer, decide
from tests.builders import envelope, person

KEEP, DROP = "C-keep", "C-drop"
ACME = "Acme AB"
MERGED_AT = datetime(2025, 6, 1, 12, tzinfo=UTC)
PLAIN = Sealer(None)
OTHER_NUMBER = "198507099805"  # a valid personnummer other than the builders' default


def registered(customer_id: str, on: date, **fields: object) -> Event:
    return parse_event(person(customer_id, occurred_at=f"{on.isoformat()}T09:00:00Z", **fields))


def telemarketing_consent(customer_id: str, on: date) -> ConsentGiven:
    return ConsentGiven(
        envelope=envelope(customer_id, on=on), purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, company=ACME, overrides_nix=True
    )


def moved(customer_id: str, effective: date, street: str) -> AddressChanged:
    address = PostalAddress(street=street, postal_code="22100", city="Lund")
    return AddressChanged(envelope=envelope(customer_id, on=effective), effective_date=effective, address=address)


KEPT_LIFE: list[Event] = [registered(KEEP, date(2024, 1, 10)), moved(KEEP, date(2024, 3, 1), "Storgatan 73")]
DROPPED_LIFE: list[Event] = [
    registered(DROP, date(2024, 6, 1), identity_number="198112189876"),
    moved(DROP, date(2025, 4, 1), "Storgatan 73 A"),
    telemarketing_consent(DROP, date(2025, 5, 1)),
    NixRegistered(envelope=envelope(DROP, on=date(2025, 5, 2), source="NIX"), phone="+46701234567", register_version_date=date(2025, 5, 2)),
    MarketingOptOut(envelope=envelope(DROP, on=date(2025, 5, 3)), channel=Channel.EMAIL),
]


def intake(event: Event, offset: int = 0) -> IntakeMessage:
    return IntakeMessage(key=event.customer_id.encode(), value=codec.encode(event), topic="registervard.intake", partition=0, offset=offset)


def merged_pair() -> tuple[CustomerState, CustomerState, CustomersMerged]:
    """Both customers' states after the merge, folded from their own events, and the kept customer's half of it."""
    dropped = fold([*DROPPED_LIFE, merge_event(KEEP, DROP, at=MERGED_AT)])
    assert dropped is not None
    half = kept_half(merge_event(KEEP, DROP, at=MERGED_AT), dropped)
    kept = fold([*KEPT_LIFE, half])
    assert kept is not None
    return kept, dropped, half


def test_the_kept_customer_takes_in_the_dropped_ones_consents_nix_opt_outs_and_newer_address_by_the_folds_rules():
    kept, dropped, _ = merged_pair()
    assert dropped.merged_into == KEEP and kept.merged_from == (DROP,)
    assert kept.customer_id == KEEP and kept.name is not None and kept.identity_number == KEPT_LIFE[0].registration.identity_number  # type: ignore[attr-defined]
    # Addresses are dated facts: both histories by effective date, the latest current (the dropped one's move of April).
    assert [(a.effective_date, a.value.street) for a in kept.addresses] == [
        (date(2024, 1, 10), "Storgatan 1"),
        (date(2024, 3, 1), "Storgatan 73"),
        (date(2024, 6, 1), "Storgatan 1"),
        (date(2025, 4, 1), "Storgatan 73 A"),
    ]
    (consent,) = kept.consents
    assert consent.event_id == str(DROPPED_LIFE[2].event_id) and consent.lapses_on == date(2025, 8, 1)  # 3 months, as given
    assert kept.nix_numbers == {"+46701234567"} and kept.opted_out == {Channel.EMAIL}
    # What a consent only the dropped customer had now decides: a NIX-registered number may be called by Acme.
    def allowed(state: CustomerState | None) -> bool:
        at = datetime(2025, 6, 2, tzinfo=UTC)
        return may_contact(state, channel=Channel.PHONE, purpose=ConsentPurpose.TELEMARKETING, company=ACME, at=at).allowed

    assert allowed(kept) and not allowed(fold(KEPT_LIFE))


def test_a_later_consent_of_the_kept_customer_wins_and_nothing_is_taken_in_after_a_death():
    _, _, half = merged_pair()
    renewed = telemarketing_consent(KEEP, date(2025, 5, 20))
    kept = fold([*KEPT_LIFE, renewed, half])
    assert kept is not None and [c.event_id for c in kept.consents] == [str(renewed.event_id)]
    dead = fold([*KEPT_LIFE, CustomerDeceased(envelope=envelope(KEEP, on=date(2025, 2, 1)), date_of_death=date(2025, 2, 1)), half])
    assert dead is not None and dead.consents == () and dead.status is Status.DECEASED and dead.merged_from == (DROP,)


def test_the_worker_admits_the_merge_for_the_dropped_customer_and_sends_the_kept_one_theirs_to_the_intake():
    lifecycle = Lifecycle()
    for offset, event in enumerate([*KEPT_LIFE, *DROPPED_LIFE]):
        assert isinstance(decide(intake(event, offset), lifecycle, PLAIN), Append)
    merge = merge_event(KEEP, DROP, at=MERGED_AT)
    decision = decide(intake(merge), lifecycle, PLAIN)
    assert isinstance(decision, Append) and decision.admitted == merge
    ((key, value),) = [(r.key, r.value) for r in decision.to_intake]
    forwarded = codec.decode(value)
    assert key == KEEP.encode()
    assert isinstance(forwarded, CustomersMerged) and forwarded.envelope.causation_id == merge.event_id and forwarded.customer_id == KEEP
    # The same message again (a crash before the intake had the kept half): dropped, and the kept half sent again, the same.
    again = decide(intake(merge), lifecycle, PLAIN)
    assert isinstance(again, Drop) and again.to_intake == decision.to_intake
    assert isinstance(decide(intake(forwarded), lifecycle, PLAIN), Append)
    assert DROP in lifecycle.states[KEEP].merged_from and lifecycle.states[KEEP].consents
    # Later facts about the dropped customer are refused, with advice to send them to the kept one.
    refused = decide(intake(moved(DROP, date(2025, 7, 1), "Ågatan 2")), lifecycle, PLAIN)
    assert isinstance(refused, DeadLetter) and refused.refusal.code == "MERGED" and KEEP in str(refused.refusal)
    # The consent lapses with the kept customer (the dropped one's timer has nothing left), caused by the same ConsentGiven.
    (expired,) = lifecycle.due(datetime(2025, 8, 2, tzinfo=UTC))
    assert isinstance(expired, ConsentExpired) and expired.customer_id == KEEP and expired.envelope.causation_id == DROPPED_LIFE[2].event_id
    assert lifecycle.states[KEEP].consents == ()


def test_erasing_the_kept_customer_erases_those_merged_into_it_too():
    lifecycle = Lifecycle()
    kept, dropped, _ = merged_pair()
    lifecycle.states.update({KEEP: kept, DROP: dropped})
    erasure = CustomerErased(envelope=envelope(KEEP, on=date(2025, 7, 1)), reason=ErasureReason.CUSTOMER_REQUEST)
    decision = decide(intake(erasure), lifecycle, PLAIN)
    assert isinstance(decision, Append) and decision.destroy_key == KEEP
    (cascade,) = [codec.decode(r.value) for r in decision.to_intake]
    assert isinstance(cascade, CustomerErased) and cascade.customer_id == DROP and cascade.envelope.causation_id == erasure.event_id
    second = decide(intake(cascade), lifecycle, PLAIN)  # admitted although merged: the right to erasure holds
    assert isinstance(second, Append) and second.destroy_key == DROP and second.to_intake == ()
    assert lifecycle.states[DROP].status is Status.ERASED and lifecycle.states[DROP].merged_into == KEEP


def test_the_kept_customers_half_carries_personal_data_sealed_with_their_key_and_comes_back_from_its_bytes():
    _, _, half = merged_pair()
    assert codec.decode(codec.encode(half)) == half
    keys = MemoryKeyStore()
    sealed = seal(half, keys.key_for(KEEP, create=True))  # type: ignore[arg-type]
    assert b"Storgatan" not in codec.encode(sealed) and unseal(codec.decode(codec.encode(sealed)), keys) == half
    erased = fold([*KEPT_LIFE, sealed])  # the kept customer's key destroyed: the facts without personal data still fold
    assert erased is not None and erased.consents and erased.addresses == fold(KEPT_LIFE).addresses  # type: ignore[union-attr]


def test_as_known_before_the_merge_the_two_are_separate_and_after_it_one():
    _, _, half = merged_pair()
    recorded = dataclasses.replace(half, envelope=dataclasses.replace(half.envelope, recorded_at=MERGED_AT + timedelta(days=1)))
    life = [*KEPT_LIFE, recorded]
    before = state_at(life, valid_at=MERGED_AT + timedelta(days=2), known_at=MERGED_AT)
    after = state_at(life, valid_at=MERGED_AT + timedelta(days=2), known_at=MERGED_AT + timedelta(days=2))
    earlier = state_at(life, valid_at=MERGED_AT - timedelta(days=1), known_at=MERGED_AT + timedelta(days=2))
    assert before is not None and before.merged_from == () and before.consents == ()
    assert after is not None and after.merged_from == (DROP,) and after.consents
    assert earlier is not None and earlier.merged_from == ()  # the merge holds from when it happened


def _state(*events: Event) -> CustomerState:
    state = fold(list(events))
    assert state is not None
    return state


PROTECT = ProtectedIdentitySet(envelope=envelope(DROP, on=date(2025, 5, 5)), protection=Protection.SKYDDAD_FOLKBOKFORING)


@pytest.mark.parametrize(
    ("kept", "dropped", "forced", "code"),
    [
        (KEPT_LIFE, [], False, "UNKNOWN_CUSTOMER"),
        (KEPT_LIFE, [*DROPPED_LIFE, CustomerErased(envelope=envelope(DROP, on=date(2025, 5, 6)), reason=ErasureReason.OTHER)], False, "CUSTOMER_ERASED"),
        (KEPT_LIFE, [*DROPPED_LIFE, PROTECT], False, "PROTECTED_IDENTITY"),
        ([*KEPT_LIFE, dataclasses.replace(PROTECT, envelope=envelope(KEEP))], DROPPED_LIFE, False, "PROTECTED_IDENTITY"),
        (KEPT_LIFE, [*DROPPED_LIFE, merge_event("C-other", DROP, at=MERGED_AT)], False, "ALREADY_MERGED"),
        (KEPT_LIFE, [parse_event({**person(DROP), "customer_kind": "COMPANY", "registration": {"company_name": "Åkeriet AB"}})], False, "KIND_DIFFERS"),
        (KEPT_LIFE, [registered(DROP, date(2024, 6, 1), identity_number=OTHER_NUMBER)], False, "IDENTITY_NUMBERS_DIFFER"),
        (KEPT_LIFE, [registered(DROP, date(2024, 6, 1), identity_number=OTHER_NUMBER)], True, None),
        (KEPT_LIFE, [*DROPPED_LIFE, CustomerDeceased(envelope=envelope(DROP, on=date(2025, 5, 9)), date_of_death=date(2025, 5, 9))], False, "STATUS_DIFFERS"),
        (KEPT_LIFE, DROPPED_LIFE, False, None),
    ],
)
def test_a_merge_is_refused_with_the_rule_named_and_no_personal_data(kept, dropped, forced, code):
    merge = merge_event(KEEP, DROP, at=MERGED_AT, forced=forced)
    refusal = pair_refusal(fold(kept), fold(dropped), merge)
    assert (refusal.code if refusal else None) == code
    if refusal is not None:
        assert not any(secret in str(refusal) for secret in ("198112189876", OTHER_NUMBER, "Svensson", "Storgatan"))


def test_a_merge_of_a_customer_into_itself_or_keyed_wrong_or_with_what_only_registervard_fills_in_is_refused():
    itself = merge_event(DROP, DROP, at=MERGED_AT)
    assert pair_refusal(_state(*DROPPED_LIFE), _state(*DROPPED_LIFE), itself).code == "SAME_CUSTOMER"  # type: ignore[union-attr]
    with pytest.raises(Refusal, match="cannot be merged into itself"):
        validate(itself)
    _, _, half = merged_pair()
    faked = dataclasses.replace(half, envelope=dataclasses.replace(half.envelope, customer_id=DROP))
    with pytest.raises(Refusal, match="absorbed: must be left out"):
        validate(faked)
    with pytest.raises(Refusal, match="customer_id: must be dropped_customer_id"):
        validate(dataclasses.replace(merge_event(KEEP, DROP, at=MERGED_AT), envelope=envelope("C-third")))
    with pytest.raises(Refusal, match="kept_customer_id: must be an opaque customer id"):
        validate(merge_event("198112189876", DROP, at=MERGED_AT))
