"""Merging a duplicate customer into another: the events that say so, and when a merge is refused.

A merge is one fact, `CustomersMerged`, told on both customers' streams (events are keyed by customer id, and each
customer's state is the fold of their own events alone):

1. `merge_event(KEEP, DROP)`, keyed by the dropped customer, is what an operator publishes. Its id depends on the pair
   only, so asking twice merges once. The fold marks the dropped customer `merged_into` KEEP; the worker refuses every
   later fact about them (but their erasure) with advice to send it to KEEP.
2. `kept_half(event, dropped_state)`, keyed by the kept customer, is what the worker that admitted step 1 sends to
   the intake next: the same fact, carrying what the dropped customer's record held (`absorbed_of`), with an id
   derived from step 1's. Its worker admits it in the kept customer's order, and the fold takes the dropped
   customer's facts in by the register's rules (`events.customer`). So the kept customer's own log says everything
   that makes their record: the worker's expiry timers, replay, rebuilds and the register fold it like any event.

The refusals name the rule and the customer ids (opaque), never personal data. `pair_refusal` is the whole check, for
the command and the API, from the register's two states; the worker can see one customer at a time and checks each
side again (`dropped_refusal`, `kept_refusal`), since the register may lag behind the log.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from events.catalog import (
    AbsorbedAddress,
    AbsorbedConsent,
    AbsorbedFacts,
    AbsorbedName,
    AbsorbedNixStatus,
    AbsorbedPersonalData,
    CustomerErased,
    CustomersMerged,
    Envelope,
)
from events.customer import CustomerState, Status
from events.refusal import Refusal

MERGE_ID_NAMESPACE = uuid.UUID("3c7e9b1a-52d4-4f0e-8a6b-d90f1e2c7a58")
"""Namespace of the uuid5 ids of merges and of the events derived from them."""

SOURCE = "REGISTERVARD"
"""Source of a merge asked for on the command line (the API names its caller's key instead)."""


def merge_event(kept_customer_id: str, dropped_customer_id: str, *, at: datetime, forced: bool = False, source: str = SOURCE) -> CustomersMerged:
    """The merge of `dropped_customer_id` into `kept_customer_id`, keyed by the dropped customer, as an operator
    publishes it; its id depends on the two ids only, so that the same merge asked for twice takes effect once."""
    moment = at.replace(microsecond=at.microsecond // 1000 * 1000)  # Avro keeps milliseconds
    envelope = Envelope(
        event_id=uuid.uuid5(MERGE_ID_NAMESPACE, f"merge:{kept_customer_id}:{dropped_customer_id}"),
        customer_id=dropped_customer_id,
        occurred_at=moment,
        recorded_at=moment,
        source=source,
    )
    return CustomersMerged(envelope=envelope, kept_customer_id=kept_customer_id, dropped_customer_id=dropped_customer_id, forced=forced)


def kept_half(merge: CustomersMerged, dropped: CustomerState) -> CustomersMerged:
    """The same merge keyed by the kept customer, carrying what the dropped customer's record held at the merge."""
    facts, personal = absorbed_of(dropped)
    envelope = Envelope(
        event_id=derived_id(merge.event_id, "kept"),
        customer_id=merge.kept_customer_id,
        occurred_at=merge.envelope.occurred_at,
        recorded_at=merge.envelope.recorded_at,
        source=merge.envelope.source,
        correlation_id=merge.envelope.correlation_id,
        causation_id=merge.event_id,
    )
    return CustomersMerged(
        envelope=envelope,
        kept_customer_id=merge.kept_customer_id,
        dropped_customer_id=merge.dropped_customer_id,
        forced=merge.forced,
        absorbed=facts,
        absorbed_personal=personal,
    )


def erasure_of_merged(erasure: CustomerErased, merged_customer_id: str) -> CustomerErased:
    """The erasure of a customer merged into an erased one: the same person, so their data goes too (Art. 17)."""
    envelope = Envelope(
        event_id=derived_id(erasure.event_id, f"erase:{merged_customer_id}"),
        customer_id=merged_customer_id,
        occurred_at=erasure.envelope.occurred_at,
        recorded_at=erasure.envelope.recorded_at,
        source=erasure.envelope.source,
        correlation_id=erasure.envelope.correlation_id,
        causation_id=erasure.event_id,
    )
    return CustomerErased(envelope=envelope, reason=erasure.reason)


def derived_id(cause_id: uuid.UUID, kind: str) -> uuid.UUID:
    """The id of an event derived from a merge or an erasure: the same every time it is derived."""
    return uuid.uuid5(MERGE_ID_NAMESPACE, f"{cause_id}:{kind}")


def absorbed_of(state: CustomerState) -> tuple[AbsorbedFacts, AbsorbedPersonalData]:
    """What a customer's record holds, as a merge carries it to the customer they are merged into."""
    facts = AbsorbedFacts(
        consents=tuple(
            AbsorbedConsent(
                purpose=c.purpose,
                channel=c.channel,
                company=c.company,
                given_at=c.given_at,
                given_event_id=c.event_id,
                overrides_nix=c.overrides_nix,
                valid_until=c.valid_until,
            )
            for c in state.consents
        ),
        opted_out=tuple(sorted(state.opted_out)),
        customer_of=tuple(sorted(state.customer_of)),
        civil_status=state.civil_status,
        contact_person_for=state.contact_person_for,
        merged_from=state.merged_from,
    )
    personal = AbsorbedPersonalData(
        identity_number=state.identity_number,
        company_name=state.company_name,
        names=tuple(AbsorbedName(effective_date=n.effective_date, name=n.value, event_id=n.event_id) for n in state.names),
        addresses=(
            *(AbsorbedAddress(effective_date=a.effective_date, address=a.value, event_id=a.event_id) for a in state.addresses),
            *(
                AbsorbedAddress(effective_date=a.effective_date, address=a.value, event_id=a.event_id, address_kind=a.kind, ended=a.ended)
                for a in state.registered_addresses
            ),
        ),
        contact=state.contact,
        nix=tuple(AbsorbedNixStatus(phone=n.phone, registered=n.registered, as_of=n.as_of) for n in state.nix),
    )
    return facts, personal


# --- When a merge is refused ---------------------------------------------------------------------


def dropped_refusal(state: CustomerState | None, merge: CustomersMerged) -> Refusal | None:
    """Why the dropped customer cannot be merged into another, from their state alone; None if they can."""
    who = merge.dropped_customer_id
    if state is None or not state.registered:
        return Refusal("dropped_customer_id", f"{who} has not been registered", code="UNKNOWN_CUSTOMER")
    if state.merged_into is not None:
        return Refusal("dropped_customer_id", f"{who} was merged into {state.merged_into} already", code="ALREADY_MERGED")
    if state.status is Status.ERASED:
        return Refusal("dropped_customer_id", f"{who} has been erased: nothing of them is left to merge", code="CUSTOMER_ERASED")
    if state.protected:
        return Refusal(
            "dropped_customer_id",
            f"{who} has a protected identity: a merge would move their name and address into another record; "
            "merge once the protection is lifted",
            code="PROTECTED_IDENTITY",
        )
    return None


def kept_refusal(state: CustomerState | None, merge: CustomersMerged) -> Refusal | None:
    """Why a customer cannot take another in, from their state alone; None if they can.

    A kept customer's protected identity is checked before a merge is published (`pair_refusal`), not here: once the
    dropped customer is merged, their facts are safer inside a protected record than nowhere."""
    who = merge.kept_customer_id
    if state is None or not state.registered:
        return Refusal("kept_customer_id", f"{who} has not been registered", code="UNKNOWN_CUSTOMER")
    if state.merged_into is not None:
        return Refusal(
            "kept_customer_id",
            f"{who} was itself merged into {state.merged_into}: merge into {state.merged_into} instead",
            code="ALREADY_MERGED",
        )
    if state.status is Status.ERASED:
        return Refusal("kept_customer_id", f"{who} has been erased: nothing may be merged into them", code="CUSTOMER_ERASED")
    return None


def pair_refusal(kept: CustomerState | None, dropped: CustomerState | None, merge: CustomersMerged) -> Refusal | None:
    """Why `merge` may not be made, given both customers' states in the register; None if it may.

    Beyond each side's own rules: the same customer twice; a protected identity on either side; a person and a
    company; two different identity numbers, unless the merge is `forced` (a coordination number and the personal
    identity number that replaced it are one person); and a population-register status of the dropped customer (dead,
    emigrated, deregistered) the kept one does not share, unless `forced`: keep the customer whose status is right, and
    merge the other one into them (the kept customer's status and dates stay either way).
    """
    if merge.kept_customer_id == merge.dropped_customer_id:
        return Refusal("dropped_customer_id", "is the kept customer: a customer cannot be merged into itself", code="SAME_CUSTOMER")
    refusal = kept_refusal(kept, merge) or dropped_refusal(dropped, merge)
    if refusal is not None:
        return refusal
    assert kept is not None and dropped is not None
    if kept.protected:
        return Refusal(
            "kept_customer_id",
            f"{merge.kept_customer_id} has a protected identity: a merge would show another record's history with theirs; "
            "merge once the protection is lifted",
            code="PROTECTED_IDENTITY",
        )
    if kept.kind != dropped.kind:
        return Refusal(
            "dropped_customer_id",
            f"{merge.dropped_customer_id} is a {_kind(dropped)} and {merge.kept_customer_id} a {_kind(kept)}: only the same kind can be one customer",
            code="KIND_DIFFERS",
        )
    if kept.identity_number and dropped.identity_number and kept.identity_number != dropped.identity_number and not merge.forced:
        return Refusal(
            "dropped_customer_id",
            "the two customers have different identity numbers, so they look like two people or companies; if they are one "
            "(say a coordination number replaced by a personal identity number), merge with --force: the kept customer's number stays",
            code="IDENTITY_NUMBERS_DIFFER",
        )
    if dropped.status is not Status.ACTIVE and dropped.status is not kept.status and not merge.forced:
        return Refusal(
            "dropped_customer_id",
            f"{merge.dropped_customer_id} is {dropped.status.value.lower()} in the population register and {merge.kept_customer_id} is "
            f"{kept.status.value.lower()}: keep the customer whose status is right (merge {merge.kept_customer_id} into "
            f"{merge.dropped_customer_id}), record the fact for {merge.kept_customer_id} first, or merge with --force: the kept "
            "customer's status stays",
            code="STATUS_DIFFERS",
        )
    return None


def _kind(state: CustomerState) -> str:
    return state.kind.value.lower() if state.kind else "customer"
