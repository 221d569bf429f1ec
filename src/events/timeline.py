"""Two time axes: what was true in the world at a moment ("valid at"), as the register had been told by a moment ("known at").

A customer's state at (valid_at, known_at) is the one fold (`events.customer.evolve`) of the customer's events, in log
order, that the register had recorded by `known_at` (`recorded_at`) and that hold in the world by `valid_at`
(`valid_from`). A consent that lapsed or was withdrawn after `valid_at` is still there; a consent reported after
`known_at` is not; a move effective after `valid_at` has not happened yet. Nothing here copies a rule of the fold: it
only chooses which events the fold sees.

When a fact holds (`valid_from`):

* a fact with a date of its own holds from the start of that day (00:00 UTC), whenever it was reported: a move or a
  name change (`effective_date`), civil status, emigration, return, deregistration, a contact person leaving
  (`effective_date`), a death (`date_of_death`), a lapse (`expired_on`), a NIX status (`register_version_date`, the
  NIX register version it was read from, when given);
* every other fact from the moment it happened (`occurred_at`): a registration, a consent given or withdrawn, an
  opt-out or opt-in, new contact details or identity number, a protected identity set or lifted;
* a consequence the register derived (a consent withdrawn because of a death, say: its `causation_id` names the cause
  in the customer's own history) holds no earlier than its cause, so a deregistration announced ahead of its day does
  not end the consents before that day;
* an erasure (GDPR Art. 17) is not a fact about a day in the customer's life but about what the register may still
  say: once known (by `known_at`), it applies at every `valid_at`, so no question about an earlier moment brings an
  erased customer's data or decisions back.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from events.catalog import (
    AddressChanged,
    CivilStatusChanged,
    ConsentExpired,
    ContactPersonLeft,
    CustomerDeceased,
    CustomerDeregistered,
    CustomerEmigrated,
    CustomerErased,
    CustomerImmigrated,
    Event,
    NameChanged,
    NixDeregistered,
    NixRegistered,
)
from events.customer import CustomerState, evolve


def start_of(day: date) -> datetime:
    """00:00 UTC on `day`: when a fact dated `day` begins to hold."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def valid_from(event: Event) -> datetime:
    """The moment the event's fact holds in the world: its own date at 00:00 UTC where it carries one, else `occurred_at`."""
    match event:
        case (
            AddressChanged() | NameChanged() | CivilStatusChanged() | CustomerEmigrated() | CustomerImmigrated() | CustomerDeregistered() | ContactPersonLeft()
        ):
            return start_of(event.effective_date)
        case CustomerDeceased():
            return start_of(event.date_of_death)
        case ConsentExpired():
            return start_of(event.expired_on)
        case NixRegistered(register_version_date=date() as version) | NixDeregistered(register_version_date=date() as version):
            return start_of(version)
    return event.envelope.occurred_at


def _aware(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a time zone")
    return moment


class FoldAt:
    """Folds events, batch by batch and in log order, into each customer's state as it stood at (valid_at, known_at).

    For a whole log read in batches (replay); `state_at` is the same for one customer's events.
    """

    def __init__(self, *, valid_at: datetime, known_at: datetime) -> None:
        self.valid_at = _aware("valid_at", valid_at)
        self.known_at = _aware("known_at", known_at)
        self.states: dict[str, CustomerState] = {}
        """By customer id: the state of every customer at least one chosen event was about."""
        self._ahead: dict[str, datetime] = {}
        """Event id -> valid_from, of the events that hold later than they happened (reported ahead): what a
        consequence of theirs must wait for. Consequences of the others happen no earlier than their cause does."""

    def holds(self, event: Event) -> bool:
        """Whether the fold at (valid_at, known_at) sees `event` (call in log order: it remembers causes)."""
        if event.envelope.recorded_at > self.known_at:
            return False
        if isinstance(event, CustomerErased):
            return True  # known, an erasure applies at every moment asked about (see the module's documentation)
        moment = valid_from(event)
        if moment > event.envelope.occurred_at:
            self._ahead[str(event.event_id)] = moment
        cause = event.envelope.causation_id
        if cause is not None and not isinstance(event, ConsentExpired):  # a lapse has its own day, after the consent's
            moment = max(moment, self._ahead.get(str(cause), moment))
        return moment <= self.valid_at

    def add(self, events: Iterable[Event]) -> None:
        """Fold the events this fold sees into `states`."""
        for event in events:
            if self.holds(event):
                self.states[event.customer_id] = evolve(self.states.get(event.customer_id), event)


def state_at(events: Iterable[Event], *, valid_at: datetime, known_at: datetime) -> CustomerState | None:
    """One customer's state as it stood at `valid_at`, as known at `known_at`, from their events in log order; None if
    no event of theirs holds by then (time zones required)."""
    fold = FoldAt(valid_at=valid_at, known_at=known_at)
    fold.add(events)
    if len(fold.states) > 1:
        raise ValueError(f"state_at folds one customer's events, not those of {len(fold.states)} customers")
    return next(iter(fold.states.values()), None)
