"""Replay: the register as it stood at a moment, folded again from the log, on two time axes.

Two times matter, and this module keeps them apart (bitemporal):

* **known at** (`recorded_at`): an event counts only if it was recorded at or
  before `known_at`; what was reported later (even about earlier days) is left
  out, so the answer is what the register could have said then.
* **valid at** (effective dates): of those, only the facts that held in the
  world by `valid_at` count (`events.timeline.valid_from`): a move effective
  later, already announced, has not happened yet; a consent withdrawn or lapsed
  later is still in force. `view_as_of` then picks what applied on `valid_at`'s
  day (UTC): the name and address in force, the status, the consents in force.

The fold is the one fold (`events.customer.evolve`); `events.timeline.FoldAt`
only chooses which events it sees. Each moment defaults to now. `--as-of T`
(the option before there were two) means both: valid at T as known at T.
`state_as_of(events, as_of)` is the knowledge axis alone, for callers that pick
the day themselves with `view_as_of`.

Moments are timezone-aware datetimes. A bare date means the **end** of that day
in UTC (23:59:59.999999): an auditor asking "as of 2025-06-01" means everything
known on that day (see `parse_as_of`).

A protected identity's name and address are never part of a view (as in the
register, which downstream reads); a customer whose log holds a protected
identity at any time, even one set after the moments asked about, is left
without them too, so a replay cannot reveal where someone now protected used to live.

The log is read straight from Kafka (`read_log_records`): every partition from
the beginning up to the end offsets taken when reading starts, with no consumer
group; for one customer only the partition its key maps to (Kafka's default
partitioner, `partition_for`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from aiokafka.partitioner import murmur2

from events.catalog import Event, PersonName, PostalAddress, ProtectedIdentitySet
from events.customer import CustomerState, Status, evolve, postal_address
from events.event_log import Progress, log_partitions, open_records, read_log_records
from events.sealing import KeyStore
from events.settings import Settings
from events.timeline import FoldAt

# --- The pure core ------------------------------------------------------------


def state_as_of(
    events: Iterable[Event], as_of: datetime, states: dict[str, CustomerState] | None = None
) -> dict[str, CustomerState]:
    """Every customer's state from the events recorded at or before `as_of`, folded in the order given (log order).

    Pass `states` to go on folding into the result of an earlier call (the log read batch by batch).
    """
    cutoff = _aware(as_of)
    states = {} if states is None else states
    for event in events:
        if event.envelope.recorded_at <= cutoff:
            states[event.customer_id] = evolve(states.get(event.customer_id), event)
    return states


@dataclass(frozen=True)
class ConsentView:
    """A consent in force on the day."""

    purpose: str
    channel: str
    company: str
    given_at: datetime
    overrides_nix: bool
    lapses_on: date | None


@dataclass(frozen=True)
class CustomerView:
    """What applied to one customer on a day, as known at the moment asked about."""

    customer_id: str
    as_of: datetime
    """The moment of knowledge (recorded_at cut-off): `known_at`."""
    on: date
    """The day for effective dates: `valid_at`'s day (UTC)."""
    kind: str | None
    status: str
    protected: bool
    identity_number: str | None
    company_name: str | None
    name: PersonName | None
    """Name in force on the day; None for a protected identity."""
    address: PostalAddress | None
    """Address in force on the day; None for a protected identity."""
    address_since: date | None
    civil_status: str | None
    deceased_on: date | None
    emigrated_on: date | None
    immigrated_on: date | None = None
    """Day of the latest registration in Sweden after living abroad."""
    deregistered_on: date | None = None
    """Day of deregistration for a cause other than death or emigration, when that had happened by the day."""
    deregistration_cause: str | None = None
    """Its two-character cause (events/deregistration_causes.toml)."""
    consents: tuple[ConsentView, ...] = ()
    nix_registered: bool = False
    events_known: int = 0
    """Events recorded by `as_of` that made the state."""
    redacted: bool = False
    """Whether name and address were left out (protected identity)."""
    valid_at: datetime | None = None
    """The moment in the world asked about (its day is `on`)."""
    merged_into: str | None = None
    """Set when the customer had been merged into another as a duplicate by then: the kept customer, whose view holds
    what this one's record held (this view is the record as it stood at the merge)."""

    def to_plain(self) -> dict[str, Any]:
        """JSON-ready data."""

        def plain(value: Any) -> Any:
            if isinstance(value, datetime | date):
                return value.isoformat()
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            if hasattr(value, "__dataclass_fields__"):
                return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
            return value

        return plain(self)


def view_as_of(state: CustomerState, as_of: datetime, *, known_at: datetime | None = None, redact: bool | None = None) -> CustomerView:
    """What applied to the customer at `as_of` (valid at; its day, UTC, for effective dates), from a state folded as
    known at `known_at` (default: `as_of`).

    The name is the one with the latest effective date on or before the day (the fold keeps the history sorted by
    effective date), the address the postal address as it stood that day (`events.customer.postal_address`). `redact`
    (default: the state's protected flag) leaves name and address out.
    """
    moment = _aware(as_of)
    day = moment.astimezone(UTC).date()
    name = _in_force(state.names, day)
    address = postal_address(state, day)
    hidden = state.protected if redact is None else (redact or state.protected)
    consents = tuple(
        ConsentView(
            purpose=c.purpose.value,
            channel=c.channel.value,
            company=c.company,
            given_at=c.given_at,
            overrides_nix=c.overrides_nix,
            lapses_on=c.lapses_on,
        )
        for c in state.consents
        if c.given_at <= moment and (c.lapses_on is None or c.lapses_on > day)
    )
    return CustomerView(
        customer_id=state.customer_id,
        as_of=moment if known_at is None else _aware(known_at),
        on=day,
        kind=state.kind.value if state.kind else None,
        status=status_on(state, day).value,
        protected=state.protected,
        identity_number=state.identity_number,
        company_name=state.company_name,
        name=None if hidden or name is None else name.value,
        address=None if hidden or address is None else address.value,
        address_since=None if hidden or address is None else address.effective_date,
        civil_status=state.civil_status.value if state.civil_status else None,
        deceased_on=state.deceased_on,
        emigrated_on=state.emigrated_on,
        immigrated_on=_by(state.immigrated_on, day),
        deregistered_on=_by(state.deregistered_on, day),
        deregistration_cause=state.deregistration_cause if _by(state.deregistered_on, day) else None,
        consents=consents,
        nix_registered=any(n.registered and n.as_of <= day for n in state.nix),
        events_known=state.events_applied,
        redacted=hidden,
        valid_at=moment,
        merged_into=state.merged_into,
    )


def status_on(state: CustomerState, day: date) -> Status:
    """The customer's status on `day`: erasure from when it was recorded; death, deregistration, emigration and the
    return from abroad from their dates."""
    if state.status is Status.ERASED:
        return Status.ERASED
    if state.deceased_on is not None and state.deceased_on <= day:
        return Status.DECEASED
    if state.status is Status.DEREGISTERED and _by(state.deregistered_on, day):
        return Status.DEREGISTERED
    emigrated, back = state.emigrated_on, state.immigrated_on
    if emigrated is not None and emigrated <= day and not (back is not None and emigrated <= back <= day):
        return Status.EMIGRATED
    if state.status is not Status.ACTIVE and state.deceased_on is None and state.emigrated_on is None and state.deregistered_on is None:
        return state.status
    return Status.ACTIVE


def _by(day_of: date | None, day: date) -> date | None:
    """`day_of` if it is on or before `day`, else None."""
    return day_of if day_of is not None and day_of <= day else None


def _in_force(history: Sequence[Any], day: date) -> Any:
    """The latest entry effective on or before `day` (the history is sorted by effective date)."""
    found = None
    for entry in history:
        if entry.effective_date > day:
            break
        found = entry
    return found


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_as_of(text: str) -> datetime:
    """A date (the end of that day, UTC) or an ISO 8601 timestamp with a time zone ('Z' allowed)."""
    text = text.strip()
    if _DATE.match(text):
        return datetime.combine(date.fromisoformat(text), time.max, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a date (YYYY-MM-DD) nor an ISO timestamp") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add Z or an offset such as +02:00")
    return moment.astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("as_of must carry a time zone")
    return moment


# --- Reading the log ----------------------------------------------------------


def partition_for(customer_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2 of the key, made positive, modulo partitions) gives a customer."""
    return (murmur2(customer_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class Replay:
    """A replay's result: each customer's view, and what was read."""

    as_of: datetime
    """The moment of knowledge (`known_at`), as before there were two axes."""
    views: dict[str, CustomerView] = field(default_factory=dict)
    events_read: int = 0
    quarantined: int = 0
    """Log records skipped because they cannot be opened."""
    valid_at: datetime | None = None
    """The moment in the world asked about."""

    @property
    def known_at(self) -> datetime:
        return self.as_of


async def replay_as_of(
    settings: Settings,
    as_of: datetime | None = None,
    *,
    keys: KeyStore,
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
    customer_id: str | None = None,
    on_progress: Progress | None = None,
) -> Replay:
    """The register (or one customer) as it stood at `valid_at`, as known at `known_at`, folded from the log with
    `evolve`. Each defaults to `as_of` (both at once, as before there were two axes), else to now."""
    now = datetime.now(UTC)
    valid = _aware(valid_at if valid_at is not None else as_of if as_of is not None else now)
    known = _aware(known_at if known_at is not None else as_of if as_of is not None else now)
    partitions = None
    key = None
    if customer_id is not None:
        numbers = await log_partitions(settings)
        partitions = [numbers[partition_for(customer_id, len(numbers))]]
        key = customer_id.encode()
    result = Replay(as_of=known, valid_at=valid)
    folding = FoldAt(valid_at=valid, known_at=known)
    protected_ever: set[str] = set()
    async for batch in read_log_records(settings, partitions=partitions, key=key, on_progress=on_progress):
        opened, quarantined = open_records(batch, keys)  # a record no reader can open is skipped by every reader
        result.quarantined += len(quarantined)
        events = [logged.event for logged in opened]
        result.events_read += len(events)
        protected_ever.update(e.customer_id for e in events if isinstance(e, ProtectedIdentitySet))
        folding.add(events)
    result.views = {
        cid: view_as_of(state, valid, known_at=known, redact=cid in protected_ever)
        for cid, state in sorted(folding.states.items())
        # A customer merged by then is part of the customer they were merged into: not a customer of the register's
        # own, unless asked for by id (the view then names where they went).
        if (state.registered or state.events_applied) and (state.merged_into is None or cid == customer_id)
    }
    return result
