"""What the customer page shows, as plain data: the record, the timeline, names and addresses over time, consents,
NIX status and recipients, now or as of a moment on both time axes.

Everything comes from the read side the CLI and the API use: the register row and its detail tables for now
(`projections.read.customer_history`, `projections.consent_lapses`), the customer's events in the audit trail
folded for the moments asked about (`projections.history_at`, the `--valid-at`/`--known-at` of `customer show`),
and the `disclosures` table as the register extract lists it. Which sections a role sees is decided by the caller
(`customer_pages`); a protected identity's name and address are never here: the register holds none while the
protection lasts, and a view of a past moment leaves them out if the identity has been protected at any time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events.catalog import (
    Channel,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    CustomerDeceased,
    Event,
    NixDeregistered,
    NixRegistered,
)
from events.contactability import Rules, may_contact
from events.customer import CustomerState, postal_history
from events.customer import fold as fold_events
from events.sealing import KeyStore
from events.timeline import FoldAt
from projections.access import DisclosureRow
from projections.consent_lapses import lapsed_consents, today_utc, with_lapsed_consents
from projections.history_at import StateAt, read_customer_log, record_at
from projections.merges import merged_customers
from projections.read import customer_history, customer_state
from projections.tables import CustomerRow
from registervard.api.records import record_dict
from registervard.web.formatting import postal_address

RECIPIENTS_SHOWN = 100
"""The latest disclosures the page lists; every console view adds one, so the list grows with use."""
CONTACT_CHANNELS = (Channel.PHONE, Channel.SMS, Channel.EMAIL, Channel.POST)
CONTACT_PURPOSES = (ConsentPurpose.MARKETING, ConsentPurpose.TELEMARKETING, ConsentPurpose.NEWSLETTER, ConsentPurpose.PROFILING)


class NotRegisteredThen(LookupError):
    """The register knows the customer, but they were not registered at the moments asked about."""


@dataclass(frozen=True)
class Moments:
    """The two time axes of a view of the past: the world at `valid_at`, as the register knew it at `known_at`."""

    valid_at: datetime
    known_at: datetime
    known_given: bool
    """Whether known_at was asked for (else it is now)."""


@dataclass(frozen=True)
class TimelineEntry:
    """One event of the customer's history, without its personal data."""

    event_type: str
    source: str
    occurred_at: datetime
    recorded_at: datetime
    effective: date | None
    """The day the fact holds from, when the event carries one (a move, a death, a lapse, a NIX register version)."""
    cause: str | None
    """A reason or cause code the event carries (MARRIAGE, CUSTOMER_REQUEST, a deregistration cause...)."""
    caused_by: str | None
    """The type of the event in the customer's history this one follows from, if it was derived."""


@dataclass(frozen=True)
class Dated:
    """A name or an address and the days it applied (`until` None: still)."""

    value: str
    since: date
    until: date | None


@dataclass(frozen=True)
class KindLine:
    """One of the population register's addresses (SPAR), its kind, and the days it applied (`until` None: still)."""

    kind: str
    """POPULATION_REGISTER, SPECIAL_POSTAL, ABROAD or CONTACT (`events.catalog.AddressKind`)."""
    value: str
    since: date
    until: date | None
    """The day the next address of the kind began, or the kind ended."""


@dataclass(frozen=True)
class ConsentLine:
    """A consent: in force, past its lapse date (expiry not yet recorded), lapsed or withdrawn."""

    company: str
    purpose: str
    channel: str
    given_at: datetime | None
    lapses_on: date | None
    state: str
    """in_force, lapsed (its lapse date passed; the register has not recorded the expiry yet), expired, withdrawn."""
    ended_on: date | None = None

    @property
    def lapsed(self) -> bool:
        return self.state in ("lapsed", "expired")


@dataclass(frozen=True)
class NixLine:
    """What a NIX register version says about one of the customer's phone numbers."""

    phone: str
    registered: bool
    as_of: date | None


@dataclass(frozen=True)
class Recipient:
    """Someone who received the customer's data (a row of `disclosures`)."""

    recipient: str
    channel: str
    purpose: str | None
    disclosed_at: datetime


@dataclass
class CustomerView:
    """The customer page's data: everything a role with every right sees. The page leaves out what a role may not."""

    customer_id: str
    record: dict[str, Any]
    moments: Moments | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    later_events: int = 0
    """Events of the customer's history that the view of a past moment does not see (they hold later, or were not known yet)."""
    unreadable_events: int = 0
    names: list[Dated] = field(default_factory=list)
    addresses: list[Dated] = field(default_factory=list)
    """The postal address over time (`events.customer.postal_history`)."""
    address_kinds: list[KindLine] = field(default_factory=list)
    """The population register's addresses over time, each kind apart (`CustomerState.registered_addresses`)."""
    consents: list[ConsentLine] = field(default_factory=list)
    nix: list[NixLine] = field(default_factory=list)
    merged_customer_ids: list[str] = field(default_factory=list)
    """The customers merged into this one as duplicates (their ids are pointers here)."""
    state: CustomerState | None = None
    """The fold's state the contactability decisions are made from (internal, never shown as such)."""
    hidden: bool = False
    """Name and address are not shown: a protected identity (in a view of the past: protected at any time)."""

    @property
    def at(self) -> datetime:
        """The moment decisions are made for: valid_at, or now."""
        return self.moments.valid_at if self.moments else datetime.now(UTC)


def customer_now(engine: Engine, customer_id: str, keys: KeyStore | None) -> CustomerView | None:
    """The customer as the register holds them now; None if the register has no such customer."""
    with Session(engine) as session:
        row = session.get(CustomerRow, customer_id)
        if row is None:
            return None
        lapsed = lapsed_consents(session, customer_id)
        record = with_lapsed_consents(record_dict(row), lapsed)
        log = read_customer_log(session, customer_id, keys)
        state = customer_state(session, customer_id)
        merged = merged_customers(session, [customer_id]).get(customer_id, [])
    history = customer_history(engine, customer_id) or {}
    today = today_utc()
    in_force = [
        ConsentLine(
            c["company"],
            c["purpose"],
            c["channel"],
            c["given_at"],
            c["lapses_on"],
            "lapsed" if c["lapses_on"] is not None and c["lapses_on"] <= today else "in_force",
        )
        for c in history.get("consents", [])
    ]
    return CustomerView(
        customer_id=customer_id,
        record=record,
        timeline=timeline(log.events),
        unreadable_events=log.unreadable,
        names=_spans([(n["effective_date"], f"{n['given_names']} {n['surname']}") for n in history.get("names", [])]),
        addresses=_spans([(a["effective_date"], postal_address(a)) for a in history.get("addresses", [])]),
        address_kinds=[] if record.get("protected") or state is None else address_kind_lines(state),
        consents=in_force + ended_consents(log.events),
        nix=[NixLine(n["phone"], n["registered"], n["as_of"]) for n in history.get("nix", [])],
        merged_customer_ids=merged,
        state=state,
        hidden=bool(record.get("protected")),
    )


def customer_at(engine: Engine, customer_id: str, moments: Moments, keys: KeyStore | None) -> CustomerView | None:
    """The customer as they stood at `moments.valid_at` as the register knew them at `moments.known_at`, folded from
    their events in the audit trail; None if the register has no such customer; NotRegisteredThen if it has, but they
    were not registered then."""
    with Session(engine) as session:
        log = read_customer_log(session, customer_id, keys)
        known = bool(log.events) or customer_state(session, customer_id) is not None
    fold = FoldAt(valid_at=moments.valid_at, known_at=moments.known_at)
    seen = [event for event in log.events if fold.holds(event)]  # in log order: `holds` remembers causes
    state = fold_events(seen)  # what `events.timeline.state_at` folds; the events it saw are the timeline's
    found = StateAt(state, moments.valid_at, moments.known_at, known=known, protected_ever=log.protected_ever, trail_events=len(log.events))
    record = record_at(found)
    if record is None:
        if not known:
            return None
        raise NotRegisteredThen(customer_id)
    day = moments.valid_at.astimezone(UTC).date()
    assert state is not None  # record_at found them registered
    consents = [
        ConsentLine(
            c.company,
            c.purpose.value,
            c.channel.value,
            c.given_at,
            c.lapses_on,
            "lapsed" if c.lapses_on is not None and c.lapses_on <= day else "in_force",
        )
        for c in sorted(state.consents, key=lambda c: (c.purpose.value, c.channel.value, c.company))
    ]
    hidden = found.protected_ever or state.protected
    lapsed_then = [c for c in consents if c.state == "lapsed"]
    record = {**record, "active_consents": max(0, int(record.get("active_consents") or 0) - len(lapsed_then))}
    return CustomerView(
        customer_id=customer_id,
        record=record,
        moments=moments,
        timeline=timeline(seen),
        later_events=len(log.events) - len(seen),
        unreadable_events=log.unreadable,
        names=[] if hidden else _spans([(n.effective_date, f"{n.value.given_names} {n.value.surname}") for n in state.names]),
        addresses=[] if hidden else _spans([(a.effective_date, postal_address(asdict(a.value))) for a in postal_history(state)]),
        address_kinds=[] if hidden else address_kind_lines(state),
        consents=consents + ended_consents(seen),
        nix=[NixLine(n.phone, n.registered, n.as_of) for n in state.nix],
        merged_customer_ids=sorted(state.merged_from),  # those merged by then, as known then
        state=state,
        hidden=hidden,
    )


def timeline(events: tuple[Event, ...] | list[Event]) -> list[TimelineEntry]:
    """Every event, in log order, as the timeline shows it: no personal data, only what happened, when, and why."""
    types = {str(event.event_id): type(event).__name__ for event in events}
    entries = []
    for event in events:
        envelope = event.envelope
        cause = envelope.causation_id
        entries.append(
            TimelineEntry(
                event_type=type(event).__name__,
                source=envelope.source,
                occurred_at=envelope.occurred_at,
                recorded_at=envelope.recorded_at,
                effective=_effective(event),
                cause=_cause(event),
                caused_by=types.get(str(cause)) if cause is not None else None,
            )
        )
    return entries


def ended_consents(events: tuple[Event, ...] | list[Event]) -> list[ConsentLine]:
    """The consents that lapsed (their expiry recorded) or were withdrawn, from the customer's events, latest last."""
    given: dict[tuple[str, str, str], ConsentGiven] = {}
    ended: list[ConsentLine] = []
    for event in events:
        if isinstance(event, ConsentGiven):
            given[(event.purpose.value, event.channel.value, event.company)] = event
        elif isinstance(event, ConsentExpired | ConsentWithdrawn):
            source = given.get((event.purpose.value, event.channel.value, event.company))
            if isinstance(event, ConsentExpired):
                state, day = "expired", event.expired_on
            else:
                state, day = "withdrawn", event.envelope.occurred_at.astimezone(UTC).date()
            ended.append(
                ConsentLine(
                    event.company,
                    event.purpose.value,
                    event.channel.value,
                    source.envelope.occurred_at if source else None,
                    source.valid_until if source else None,
                    state,
                    ended_on=day,
                )
            )
    return ended


def contact_grid(view: CustomerView, company: str, rules: Rules) -> list[tuple[str, list[tuple[str, bool, str]]]]:
    """For each purpose, for each channel: whether `company` may contact the customer at the view's moment, and the
    first reason (a denying one first), as `contact ...` and the API decide it."""
    grid = []
    for purpose in CONTACT_PURPOSES:
        cells = []
        for channel in CONTACT_CHANNELS:
            decision = may_contact(view.state, channel=channel, purpose=purpose, company=company, at=view.at, rules=rules)
            first = decision.reasons[0].message if decision.reasons else ""
            cells.append((channel.value, decision.allowed, first))
        grid.append((purpose.value, cells))
    return grid


def recipients(engine: Engine, customer_id: str, known_at: datetime | None = None) -> list[Recipient]:
    """Who received the customer's data, latest first (at most RECIPIENTS_SHOWN; with `known_at`, only until then)."""
    query = select(DisclosureRow).where(DisclosureRow.customer_id == customer_id)
    if known_at is not None:
        query = query.where(DisclosureRow.disclosed_at <= known_at)
    with Session(engine) as session:
        rows = session.scalars(query.order_by(DisclosureRow.disclosed_at.desc(), DisclosureRow.id.desc()).limit(RECIPIENTS_SHOWN))
        return [Recipient(r.recipient, r.channel, r.purpose, _utc(r.disclosed_at)) for r in rows]


def _effective(event: Event) -> date | None:
    if isinstance(event, CustomerDeceased):
        return event.date_of_death
    if isinstance(event, ConsentExpired):
        return event.expired_on
    if isinstance(event, NixRegistered | NixDeregistered):
        return event.register_version_date
    effective = getattr(event, "effective_date", None)
    return effective if isinstance(effective, date) else None


def _cause(event: Event) -> str | None:
    """The reason or cause code the event carries: a choice of the catalog (never free text, which could hold personal
    data), or a deregistration's two-character cause."""
    for name in ("reason", "protection"):
        value = getattr(event, name, None)
        if isinstance(value, Enum):
            return str(value.value)
    cause = getattr(event, "cause", None)
    return cause if isinstance(cause, str) and len(cause) <= 8 else None


def address_kind_lines(state: CustomerState) -> list[KindLine]:
    """Each of the population register's addresses, until the next of its kind began or the kind ended (an end is no line of its own)."""
    entries = state.registered_addresses
    return [
        KindLine(a.kind.value, postal_address(asdict(a.value)), a.effective_date, next((b.effective_date for b in entries[i + 1 :] if b.kind is a.kind), None))
        for i, a in enumerate(entries)
        if not a.ended
    ]


def _spans(dated: list[tuple[date, str]]) -> list[Dated]:
    """Values in the fold's order, each until the next one's day."""
    return [Dated(value, since, dated[i + 1][0] if i + 1 < len(dated) else None) for i, (since, value) in enumerate(dated)]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
