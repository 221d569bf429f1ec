"""The lifecycle rules: what may enter the log given what we know, and what follows from it.

All of it is pure and deterministic. `Lifecycle` holds every customer's state
(the fold of the canonical log) and answers three questions:

* `admit(event)`: may this event enter the log now? If so, which events follow
  from it (a death, or a deregistration that ends the identity, withdraws every
  consent; a protected identity asks recipients to purge name and address)?
* `due(now)`: which consents have lapsed by `now` (a NIX override consent
  3 months after it was given), even if no other event for the customer came?
* `replay(log)`: rebuild the states from the log and list the consequences the
  log should hold but does not (after a crash between an event and its
  consequences).

Some consequences concern another customer, whose state lives in another partition (and maybe another worker):
`for_others(state, event)` names them, and the worker sends them to the intake, keyed by that customer, whose worker
admits them in that customer's order. A merge's fact for the kept customer, carrying what the dropped customer held,
and the erasure of the customers merged into an erased one. They are derived again when the event that caused them
comes again as a duplicate (a crash before the intake had them), with the same ids.

Derived events are computed from event time only: their ids, times and
contents depend on the events that caused them, never on when or how often the
processor ran. Replaying the same log always yields the same derived events.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from events.catalog import (
    AddressChanged,
    ConsentExpired,
    ConsentGiven,
    ConsentWithdrawn,
    ContactPersonLeft,
    CustomerDeceased,
    CustomerDeregistered,
    CustomerErased,
    CustomerImmigrated,
    CustomerRegistered,
    CustomersMerged,
    DataCategory,
    Envelope,
    Event,
    NameChanged,
    PersonalDataPurgeRequested,
    ProtectedIdentitySet,
    PurgeReason,
    WithdrawalReason,
)
from events.customer import Consent, CustomerState, Status, evolve
from events.deregistration import ends_identity
from events.merging import dropped_refusal, erasure_of_merged, kept_half, kept_refusal
from events.refusal import Refusal

SOURCE = "REGISTERVARD"
"""Source of the events Registervård derives itself."""

DERIVED_ID_NAMESPACE = uuid.UUID("0d9f7c2e-3b1a-4c55-8e0b-6a2f4d1c9e73")


@dataclass(frozen=True)
class Admitted:
    """The event may enter the log, after `lapsed` and before `derived` (`in_log_order`)."""

    event: Event
    derived: tuple[Event, ...] = ()
    """What follows from the event (a death withdraws the consents), in this order."""
    lapsed: tuple[ConsentExpired, ...] = ()
    """The customer's consents that had lapsed by the event's own time but were not yet expired: their expiry comes
    first, so that what the event withdraws or renews never depends on whether the expiry timer ran before it."""

    @property
    def in_log_order(self) -> tuple[Event, ...]:
        """The events for the log, in order: the lapsed consents' expiries, the event, what follows from it."""
        return (*self.lapsed, self.event, *self.derived)


@dataclass(frozen=True)
class Duplicate:
    """The event is already in the log; it is dropped."""

    event: Event


def check(state: CustomerState | None, event: Event) -> Refusal | Duplicate | None:
    """Why `event` may not enter the log given the customer's state, or None if it may.

    A refusal here sends the event to the dead-letter topic. Its reason names the field in its own words
    ("customer_id has not been registered"), so `field` is left empty and the text reads as it always has."""
    if state is not None and str(event.event_id) in state.event_ids:
        return Duplicate(event)
    if isinstance(event, CustomersMerged):
        return dropped_refusal(state, event) if event.customer_id == event.dropped_customer_id else kept_refusal(state, event)
    registered = state is not None and state.registered
    if isinstance(event, CustomerRegistered):
        if registered:
            return Refusal("", "customer_id is already registered; send the changes as their own events", code="ALREADY_REGISTERED")
        return None
    if not registered:
        return Refusal("", "customer_id has not been registered (CustomerRegistered must come first)", code="UNKNOWN_CUSTOMER")
    assert state is not None
    if state.status is Status.ERASED:
        return Refusal("", "the customer has been erased; no new facts may be recorded about them", code="CUSTOMER_ERASED")
    if state.merged_into is not None and not isinstance(event, CustomerErased):
        return Refusal(
            "",
            f"the customer was merged into {state.merged_into} as a duplicate; send facts about them with customer_id {state.merged_into}",
            code="MERGED",
        )
    if isinstance(event, ContactPersonLeft) and state.contact_person_for != event.company_id:
        return Refusal("", "company_id is not the company this customer is a contact person of (or they have left it already)", code="NOT_A_CONTACT_PERSON")
    if state.deceased_on is not None:
        return _after_death(state.deceased_on, event)
    if state.status is Status.DEREGISTERED:
        return _after_deregistration(state, event)
    return None


def _after_death(died: date, event: Event) -> Refusal | None:
    if isinstance(event, CustomerDeceased):
        return Refusal("", "the customer's death is already recorded", code="ALREADY_DECEASED")
    if isinstance(event, CustomerDeregistered):
        return Refusal("", "the customer's death is already recorded: it deregistered them (cause AV)", code="ALREADY_DECEASED")
    if isinstance(event, (AddressChanged, NameChanged, CustomerImmigrated)) and event.effective_date > died:
        return Refusal("", "effective_date is after the customer's date of death", code="AFTER_DEATH")
    if isinstance(event, ConsentGiven) and event.envelope.occurred_at.date() > died:
        return Refusal("", "occurred_at is after the customer's date of death; the dead cannot consent", code="AFTER_DEATH")
    return None


def _after_deregistration(state: CustomerState, event: Event) -> Refusal | None:
    """A customer deregistered for another cause (false identity, old number replaced...): no way back by immigration,
    and no consent from an identity that has ended. Their reasons name no cause: it is personal data."""
    if isinstance(event, CustomerImmigrated):
        return Refusal(
            "",
            "the customer is deregistered from the population register for a cause an immigration does not end; "
            "for an old number replaced, send the new number (PersonalIdentityNumberAssigned) first",
            code="DEREGISTERED",
        )
    ended_on = state.deregistered_on if state.identity_ended else None
    if isinstance(event, ConsentGiven) and ended_on is not None and event.envelope.occurred_at.date() >= ended_on:
        return Refusal("", "occurred_at is on or after the day the customer's identity was deregistered for good", code="AFTER_DEREGISTRATION")
    return None


def consequences(before: CustomerState | None, event: Event) -> tuple[Event, ...]:
    """The events that follow from `event`, given the state before it."""
    if isinstance(event, CustomerDeceased) and before is not None:
        return tuple(_withdrawn(consent, event, WithdrawalReason.DECEASED) for consent in before.consents)
    if isinstance(event, CustomerDeregistered) and before is not None and ends_identity(event.cause):
        return tuple(_withdrawn(consent, event, WithdrawalReason.DEREGISTERED) for consent in before.consents)
    if isinstance(event, CustomerErased) and before is not None:
        withdrawn = tuple(_withdrawn(consent, event, WithdrawalReason.ERASED) for consent in before.consents)
        return (*withdrawn, _purge(event, PurgeReason.ERASURE, (DataCategory.ALL,)))
    if isinstance(event, ProtectedIdentitySet) and not (before and before.protected):
        return (_purge(event, PurgeReason.PROTECTED_IDENTITY, (DataCategory.NAME, DataCategory.ADDRESS)),)
    return ()


def for_others(state: CustomerState | None, event: Event) -> tuple[Event, ...]:
    """The events that follow from `event` for other customers, given the state after it: for the intake, keyed by them.

    A merge admitted for the dropped customer: the same fact for the kept customer, with what the dropped customer's
    record held. An erasure asked for (not itself derived) of a customer others were merged into: their erasure too,
    since their data is the same person's."""
    if state is None:
        return ()
    if isinstance(event, CustomersMerged) and event.customer_id == event.dropped_customer_id and state.merged_into == event.kept_customer_id:
        return () if state.status is Status.ERASED else (kept_half(event, state),)
    if isinstance(event, CustomerErased) and event.envelope.causation_id is None:
        return tuple(erasure_of_merged(event, merged) for merged in state.merged_from)
    return ()


def expiry(consent: Consent, customer_id: str) -> ConsentExpired | None:
    """The ConsentExpired a consent will need, or None if it never lapses by itself."""
    if consent.lapses_on is None:
        return None
    moment = datetime.combine(consent.lapses_on, time(0), tzinfo=UTC)
    envelope = Envelope(
        event_id=_derived_id(consent.event_id, "expired"),
        customer_id=customer_id,
        occurred_at=moment,
        recorded_at=moment,
        source=SOURCE,
        causation_id=uuid.UUID(consent.event_id),
    )
    return ConsentExpired(
        envelope=envelope, purpose=consent.purpose, channel=consent.channel, company=consent.company, expired_on=consent.lapses_on
    )


def lapsed_by(state: CustomerState | None, moment: datetime) -> tuple[ConsentExpired, ...]:
    """The expiries of the state's consents that have lapsed by `moment` (event time), in order of lapse."""
    if state is None:
        return ()
    day = moment.astimezone(UTC).date()
    lapsed = sorted((c for c in state.consents if c.lapses_on is not None and c.lapses_on <= day), key=lambda c: (c.lapses_on, c.event_id))
    return tuple(event for event in (expiry(c, state.customer_id) for c in lapsed) if event is not None)


@dataclass
class Lifecycle:
    """Every customer's state, and the consents waiting to lapse."""

    states: MutableMapping[str, CustomerState] = field(default_factory=dict)
    """By customer id: a dict, or the worker's state table (`processors.state_table.TableStates`)."""
    _lapses: list[tuple[date, str, str]] = field(default_factory=list)
    """Heap of (lapses_on, customer_id, ConsentGiven event id)."""

    def admit(self, event: Event) -> Admitted | Refusal | Duplicate:
        """Decide on an intake event; if admitted, the state already includes it, the consents that had lapsed by its
        time, and its consequences."""
        state = self.states.get(event.customer_id)
        verdict = check(state, event)
        if verdict is not None:
            return verdict
        lapsed = lapsed_by(state, event.envelope.occurred_at)
        for expired in lapsed:
            self._fold(expired)
        derived = self.apply(event)
        return Admitted(event, derived, lapsed)

    def apply(self, event: Event) -> tuple[Event, ...]:
        """Fold an event that is in the log, and its consequences; return the consequences."""
        before = self.states.get(event.customer_id)
        self._fold(event)
        derived = consequences(before, event)
        for follower in derived:
            self._fold(follower)
        return derived

    def due(self, now: datetime) -> list[ConsentExpired]:
        """Consents that have lapsed by `now`, as events, folded into the state."""
        expired: list[ConsentExpired] = []
        today = now.astimezone(UTC).date()
        while self._lapses and self._lapses[0][0] <= today:
            _, customer_id, given_id = heapq.heappop(self._lapses)
            state = self.states.get(customer_id)
            consent = next((c for c in state.consents if c.event_id == given_id), None) if state and state.merged_into is None else None
            if consent is None:
                continue  # withdrawn, renewed or ended with the customer; or moved with a merge, to lapse with the kept one
            event = expiry(consent, customer_id)
            assert event is not None
            self._fold(event)
            expired.append(event)
        return expired

    def replay(self, log: Iterable[Event]) -> list[Event]:
        """Fold the log; return the consequences it should hold but does not, in order."""
        expected: dict[str, Event] = {}
        for event in log:
            before = self.states.get(event.customer_id)
            self._fold(event)
            expected.pop(str(event.event_id), None)
            for follower in consequences(before, event):
                if str(follower.event_id) not in self.states[follower.customer_id].event_ids:
                    expected[str(follower.event_id)] = follower
        missing = list(expected.values())
        for follower in missing:
            self._fold(follower)
        return missing

    def _fold(self, event: Event) -> None:
        before = self.states.get(event.customer_id)
        state = evolve(before, event)
        self.states[event.customer_id] = state
        if isinstance(event, ConsentGiven):
            given = next((c for c in state.consents if c.event_id == str(event.event_id)), None)
            if given is not None and given.lapses_on is not None:
                heapq.heappush(self._lapses, (given.lapses_on, event.customer_id, given.event_id))
        elif isinstance(event, CustomersMerged) and state is not before:  # the consents a merge brought lapse here now
            had = {c.event_id for c in before.consents} if before is not None else set()
            for taken in state.consents:
                if taken.lapses_on is not None and taken.event_id not in had:
                    heapq.heappush(self._lapses, (taken.lapses_on, event.customer_id, taken.event_id))


def _derived_id(cause_id: uuid.UUID | str, kind: str) -> uuid.UUID:
    return uuid.uuid5(DERIVED_ID_NAMESPACE, f"{cause_id}:{kind}")


def _derived_envelope(cause: Event, kind: str) -> Envelope:
    return Envelope(
        event_id=_derived_id(cause.event_id, kind),
        customer_id=cause.customer_id,
        occurred_at=cause.envelope.occurred_at,
        recorded_at=cause.envelope.recorded_at,
        source=SOURCE,
        correlation_id=cause.envelope.correlation_id,
        causation_id=cause.event_id,
    )


def _withdrawn(consent: Consent, cause: Event, reason: WithdrawalReason) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        envelope=_derived_envelope(cause, f"withdrawn:{consent.event_id}"),
        purpose=consent.purpose,
        channel=consent.channel,
        company=consent.company,
        reason=reason,
    )


def _purge(cause: Event, reason: PurgeReason, categories: tuple[DataCategory, ...]) -> PersonalDataPurgeRequested:
    return PersonalDataPurgeRequested(envelope=_derived_envelope(cause, "purge"), reason=reason, data_categories=categories)
