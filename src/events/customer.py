"""A customer's state, and the one fold that derives it from their events.

`evolve(state, event)` is pure: the processors, the projections and replay all
call it, so the register's rules live here and nowhere else. Facts that carry
an effective date are ordered by that date, not by arrival: a move effective in
March that arrives after one effective in May is kept in the history but does
not replace May's address.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from events.catalog import (
    AbsorbedFacts,
    AbsorbedPersonalData,
    AddressChanged,
    AddressKind,
    Channel,
    CivilStatus,
    CivilStatusChanged,
    ConsentEvent,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    ContactDetails,
    ContactDetailsChanged,
    ContactPersonLeft,
    CustomerDeceased,
    CustomerDeregistered,
    CustomerEmigrated,
    CustomerErased,
    CustomerImmigrated,
    CustomerKind,
    CustomerRegistered,
    CustomersMerged,
    Event,
    MarketingOptOut,
    MarketingOptOutLifted,
    NameChanged,
    NixDeregistered,
    NixRegistered,
    PersonalDataPurgeRequested,
    PersonalIdentityNumberAssigned,
    PersonName,
    PostalAddress,
    ProtectedIdentityLifted,
    ProtectedIdentitySet,
    Protection,
    Registration,
    SealedPersonalData,
)
from events.deregistration import cause as find_cause
from events.deregistration import ends_identity


class Status(StrEnum):
    """Where the customer stands in the population register."""

    ACTIVE = "ACTIVE"
    DECEASED = "DECEASED"
    EMIGRATED = "EMIGRATED"
    ERASED = "ERASED"
    DEREGISTERED = "DEREGISTERED"
    """Deregistered for a cause other than death or emigration (`deregistration_cause`)."""


@dataclass(frozen=True, kw_only=True)
class Dated:
    """Something that applies from a date, as kept in a history."""

    effective_date: date
    """The day from which it applies."""
    event_id: str
    """The event that reported it."""


D = TypeVar("D", bound=Dated)


@dataclass(frozen=True, kw_only=True)
class DatedName(Dated):
    """A name and the day it took effect."""

    value: PersonName
    """The name."""


@dataclass(frozen=True, kw_only=True)
class DatedAddress(Dated):
    """An address and the day it took effect."""

    value: PostalAddress
    """The address."""


@dataclass(frozen=True, kw_only=True)
class RegisteredAddress(DatedAddress):
    """One of the population register's addresses (SPAR), of one kind, and the day it took effect; or, `ended`, the day
    the customer stopped having an address of that kind (`value` is then the address that ended)."""

    kind: AddressKind
    """Folkbokföringsadress, särskild postadress, utlandsadress or kontaktadress."""
    ended: bool = False
    """From `effective_date` the customer has no address of this kind."""


REGISTERED_KINDS = frozenset({AddressKind.POPULATION_REGISTER, AddressKind.SPECIAL_POSTAL, AddressKind.ABROAD, AddressKind.CONTACT})
"""The kinds kept in a history of their own (`CustomerState.registered_addresses`). An AddressChanged without a kind,
or of a kind this code does not know (OTHER), is an address the customer or an upstream system gave."""

POOLED_KINDS = (AddressKind.POPULATION_REGISTER, AddressKind.CONTACT, AddressKind.ABROAD)
"""The kinds that compete by date with the addresses the customer gave for the postal address (`postal_address`); on
the same day the later in this order wins."""


NIX_OVERRIDE_VALIDITY_MONTHS = 3
"""Since 1 July 2017 a consent to be called despite NIX lapses by itself after 3 months."""


@dataclass(frozen=True, kw_only=True)
class Consent:
    """A consent the customer has given and not withdrawn, nor let lapse."""

    purpose: ConsentPurpose
    """What it allows."""
    channel: Channel
    """The channel it covers."""
    company: str
    """The company it covers."""
    given_at: datetime
    """When the customer gave it."""
    event_id: str
    """The ConsentGiven event."""
    overrides_nix: bool = False
    """Whether it allows calls despite NIX."""
    valid_until: date | None = None
    """Last valid day, when the consent says so."""
    lapses_on: date | None = None
    """First day it no longer applies: the earlier of its own end and, for a NIX override, 3 months after it was given."""


@dataclass(frozen=True, kw_only=True)
class NixStatus:
    """What the latest NIX register version read says about one phone number."""

    phone: str
    """The number, E.164."""
    registered: bool
    """Registered in NIX-Telefon: no telemarketing calls without an override consent."""
    as_of: date
    """Date of the NIX register version (or of the report, when no version was given)."""


@dataclass(frozen=True, kw_only=True)
class PastContactRole:
    """A company the customer was a contact person of, and left."""

    company_id: str
    """The company's customer id."""
    left_on: date
    """The day they left."""
    event_id: str
    """The ContactPersonLeft event."""


MARKETING_CHANNELS = frozenset(Channel) - {Channel.ANY}
"""The channels an opt-out on ANY covers, one by one: what stays opted out when it is lifted on one of them."""


@dataclass(frozen=True, kw_only=True)
class CustomerState:
    """Everything the register knows about one customer now."""

    customer_id: str
    """Opaque customer id."""
    kind: CustomerKind | None = None
    """Person or company; None until the customer is registered."""
    status: Status = Status.ACTIVE
    """Active, deceased, emigrated, deregistered or erased."""
    identity_number: str | None = None
    """12-digit identity number, when known."""
    company_name: str | None = None
    """A company's name."""
    names: tuple[DatedName, ...] = ()
    """Every name the person has had, by effective date."""
    addresses: tuple[DatedAddress, ...] = ()
    """Every address the customer (or an upstream system, or the customer's return to Sweden) gave, by effective date:
    the AddressChanged events without a kind. The population register's are in `registered_addresses`; the postal
    address is derived from both (`address`, `postal_address`)."""
    contact: ContactDetails | None = None
    """Current phone and e-mail."""
    civil_status: CivilStatus | None = None
    """Current civil status."""
    protections: frozenset[Protection] = frozenset()
    """The kinds of protected identity in force (name and address must not be disclosed while any is): each
    ProtectedIdentitySet adds its kind, and ProtectedIdentityLifted ends the kind it names (one that names none, as
    before schema release 4, ends them all). Kept so that a source lifts only what it may: SPAR only the population
    register's kinds, never one another source set (OTHER; `events.spar_changes`). A set, since a customer may be
    protected by more than one source at once."""
    deceased_on: date | None = None
    """Day of death."""
    emigrated_on: date | None = None
    """Day of emigration."""
    consents: tuple[Consent, ...] = ()
    """Consents in force."""
    nix: tuple[NixStatus, ...] = ()
    """NIX-Telefon status of each phone number checked."""
    customer_of: frozenset[str] = frozenset()
    """Companies the customer is an existing customer of (when registered with a company)."""
    contact_person_for: str | None = None
    """For a company's contact person: the company's customer id."""
    event_ids: frozenset[str] = frozenset()
    """Every event applied, so that an event delivered twice takes effect once."""
    opted_out: frozenset[Channel] = frozenset()
    """Channels the customer opted out of direct marketing on (ANY = all)."""
    events_applied: int = 0
    """How many events made this state."""
    last_occurred_at: datetime | None = None
    """When the latest fact applied happened."""
    immigrated_on: date | None = None
    """Day of the latest registration in Sweden after living abroad (CustomerImmigrated)."""
    deregistered_on: date | None = None
    """Day of deregistration for a cause other than death or emigration."""
    deregistration_cause: str | None = None
    """Its cause: the population register's two-character code (events/deregistration_causes.toml)."""
    past_contact_roles: tuple[PastContactRole, ...] = ()
    """Companies the customer was a contact person of and left, in the order they left."""
    merged_into: str | None = None
    """Set once the customer was merged into another as a duplicate (CustomersMerged): the kept customer's id. The
    state is kept as it stood at the merge; the id only points to the kept customer from then on."""
    merged_from: tuple[str, ...] = ()
    """The customers merged into this one as duplicates (and those merged into them before), in the order merged."""
    registered_addresses: tuple[RegisteredAddress, ...] = ()
    """The population register's addresses (SPAR), every kind kept apart, and the ends of a kind, by effective date
    (among equal dates in the order reported); a kind's latest entry is its current one, unless it is an end."""

    @property
    def registered(self) -> bool:
        return self.kind is not None

    @property
    def protected(self) -> bool:
        """Protected identity (of any kind): name and address must not be disclosed."""
        return bool(self.protections)

    @property
    def identity_ended(self) -> bool:
        """Deregistered for a cause that ended the identity for good (a false identity, say; not an old number replaced)."""
        return self.status is Status.DEREGISTERED and ends_identity(self.deregistration_cause)

    @property
    def nix_numbers(self) -> frozenset[str]:
        """Phone numbers registered in NIX-Telefon."""
        return frozenset(entry.phone for entry in self.nix if entry.registered)

    @property
    def name(self) -> PersonName | None:
        """The current name: the one with the latest effective date."""
        return self.names[-1].value if self.names else None

    @property
    def address(self) -> PostalAddress | None:
        """The current postal address, by the rule of `postal_address`."""
        current = postal_address(self)
        return current.value if current is not None else None

    @property
    def address_since(self) -> date | None:
        """The effective date of the current postal address."""
        current = postal_address(self)
        return current.effective_date if current is not None else None


# --- The postal address ----------------------------------------------------------------------


def postal_address(state: CustomerState, on: date | None = None) -> DatedAddress | None:
    """The customer's postal address, the one the register's row, contactability and downstream use, from the
    histories as they stood on `on` (default: all of them, the current one):

    1. a special postal address (särskild postadress) in force: the person asked for their post to go there;
    2. else the latest, by effective date, of the address the customer gave (`addresses`, the rule before addresses
       had kinds) and the current population register address, contact address and address abroad: an emigrant's
       address abroad is dated at or after their emigration, so it outranks the Swedish address they left, and a
       returning emigrant's new Swedish address outranks it in turn. On the same day the population register's
       outranks the customer's (SPAR is the authority: `events.spar_changes` dates an address SPAR says is current no
       earlier than the register's own, so that it becomes current).

    A kind whose latest entry is an end has no address in force. With no population register address at all this is
    the latest given address, as it always was."""
    given = _in_force(state.addresses, on)
    if not state.registered_addresses:
        return given
    latest = current_registered(state, on)
    special = latest.get(AddressKind.SPECIAL_POSTAL)
    if special is not None:
        return special
    best = given
    for kind in POOLED_KINDS:
        entry = latest.get(kind)
        if entry is not None and (best is None or entry.effective_date >= best.effective_date):
            best = entry
    return best


def current_registered(state: CustomerState, on: date | None = None) -> dict[AddressKind, RegisteredAddress]:
    """Each kind's population register address in force on `on` (default: now); a kind whose latest entry is an end has none."""
    latest: dict[AddressKind, RegisteredAddress] = {}
    for entry in state.registered_addresses:  # by effective date: the last of a kind is its latest
        if on is None or entry.effective_date <= on:
            latest[entry.kind] = entry
    return {kind: entry for kind, entry in latest.items() if not entry.ended}


def postal_history(state: CustomerState) -> tuple[DatedAddress, ...]:
    """The postal address over time (`postal_address` on each day an address took effect or ended), each dated the day
    it became the postal address. Without population register addresses, `addresses` as it is."""
    if not state.registered_addresses:
        return state.addresses
    history: list[DatedAddress] = []
    for day in sorted({entry.effective_date for entry in (*state.addresses, *state.registered_addresses)}):
        entry = postal_address(state, day)
        if entry is None or (history and history[-1].event_id == entry.event_id):
            continue
        history.append(entry if entry.effective_date == day else DatedAddress(effective_date=day, value=entry.value, event_id=entry.event_id))
    return tuple(history)


def _in_force(history: tuple[D, ...], on: date | None) -> D | None:
    """The latest entry of a history sorted by effective date that took effect by `on` (default: the latest)."""
    if on is None:
        return history[-1] if history else None
    return next((entry for entry in reversed(history) if entry.effective_date <= on), None)


def fold(events: list[Event], state: CustomerState | None = None) -> CustomerState | None:
    """The state after applying `events` in order."""
    for event in events:
        state = evolve(state, event)
    return state


def evolve(state: CustomerState | None, event: Event) -> CustomerState:
    """The customer's state after one more event; an event already applied changes nothing."""
    state = state or _with(_NEW, customer_id=event.customer_id)
    event_id = str(event.event_id)
    if event_id in state.event_ids:
        return state
    occurred_at, latest = event.envelope.occurred_at, state.last_occurred_at
    return _with(
        _apply(state, event, event_id),
        events_applied=state.events_applied + 1,
        last_occurred_at=occurred_at if latest is None or occurred_at > latest else latest,
        event_ids=state.event_ids | {event_id},
    )


_STATE_FIELDS = frozenset(f.name for f in fields(CustomerState))
_NEW = CustomerState(customer_id="")
"""A customer no event has been applied to yet (but for the id)."""


def _with(state: CustomerState, **changes: Any) -> CustomerState:
    """`dataclasses.replace(state, **changes)` at a fraction of its cost (the fold makes two states per event).

    It copies the fields instead of calling `__init__` again: the same state, because every field of
    CustomerState is an init field and it has no `__post_init__`."""
    assert _STATE_FIELDS.issuperset(changes), f"not fields of CustomerState: {sorted(set(changes) - _STATE_FIELDS)}"
    new = object.__new__(CustomerState)
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)  # the dict, not setattr: the class is frozen
    return new


def _apply(state: CustomerState, event: Event, event_id: str) -> CustomerState:
    match event:
        case CustomerRegistered(registration=Registration() as details):
            return _registered(state, event, details, event_id)
        case AddressChanged(address=PostalAddress() as address) if event.address_kind in REGISTERED_KINDS:
            return _with(state, registered_addresses=_insert(state.registered_addresses, _registered_address(event, address, event_id)))
        case AddressChanged(ended=True):
            return state  # only an address of a kind ends (publish and the intake refuse this one)
        case AddressChanged(address=PostalAddress() as address):
            return _with(state, addresses=_insert(state.addresses, DatedAddress(effective_date=event.effective_date, value=address, event_id=event_id)))
        case NameChanged(name=PersonName() as name):
            return _with(state, names=_insert(state.names, DatedName(effective_date=event.effective_date, value=name, event_id=event_id)))
        case CivilStatusChanged():
            return _with(state, civil_status=event.civil_status)
        case PersonalIdentityNumberAssigned(identity_number=str() as number):
            return _number_assigned(state, number)
        case ContactDetailsChanged(contact=ContactDetails() as contact):
            return _with(state, contact=contact)
        case ProtectedIdentitySet():
            return _with(state, protections=state.protections | {event.protection})
        case ProtectedIdentityLifted():
            # A lift of one kind leaves the others in force; one that names no kind ends every one (see `protections`).
            ended = state.protections if event.protection is None else {event.protection}
            return _with(state, protections=state.protections - ended)
        case CustomerDeceased():
            return _with(state, status=Status.DECEASED, deceased_on=event.date_of_death, consents=())
        case CustomerEmigrated():
            return _emigrated(state, event.effective_date)
        case CustomerImmigrated(address=PostalAddress() as address):
            return _immigrated(state, event, address, event_id)
        case CustomerDeregistered():
            return _deregistered(state, event)
        case ConsentGiven() if state.deceased_on is not None or state.status is Status.ERASED or state.identity_ended:
            return state  # death (or the end of the identity) ended every consent, including one reported late
        case ConsentGiven():
            return _with(state, consents=(*_without(state.consents, event), _consent(event)))
        case ConsentWithdrawn():
            return _with(state, consents=_without(state.consents, event))
        case ConsentExpired():  # caused by the ConsentGiven that lapsed; a renewed consent stays
            return _with(state, consents=_without(state.consents, event, given_by=event.envelope.causation_id))
        case NixRegistered(phone=str() as phone) | NixDeregistered(phone=str() as phone):
            return _with(state, nix=_nix_status(state.nix, event, phone))
        case MarketingOptOut():
            return _with(state, opted_out=state.opted_out | {event.channel})
        case MarketingOptOutLifted():
            return _with(state, opted_out=_opted_in(state.opted_out, event.channel))
        case ContactPersonLeft():
            return _left_company(state, event, event_id)
        case CustomersMerged() if event.customer_id == event.dropped_customer_id:
            return _with(state, merged_into=event.kept_customer_id)
        case CustomersMerged():
            return _absorbed(state, event)
        case CustomerErased():
            return CustomerState(
                customer_id=state.customer_id,
                kind=state.kind,
                status=Status.ERASED,
                deceased_on=state.deceased_on,
                emigrated_on=state.emigrated_on,
                customer_of=state.customer_of,
                immigrated_on=state.immigrated_on,
                deregistered_on=state.deregistered_on,
                deregistration_cause=state.deregistration_cause,
                merged_into=state.merged_into,  # the pointers are no personal data, and erased ids still lead somewhere
                merged_from=state.merged_from,
            )
        case PersonalDataPurgeRequested():
            return state  # an instruction to recipients; the register's own state is already right
        case CustomerRegistered(registration=SealedPersonalData()):
            # Still sealed after unsealing: the customer's key was destroyed, so their details are erased data.
            return _registered(state, event, Registration(), event_id)
        case _ if _is_sealed(event):
            return state  # personal data whose key was destroyed (erased): nothing left to fold
    raise TypeError(f"no rule for {type(event).__name__}")


def _registered_address(event: AddressChanged, address: PostalAddress, event_id: str) -> RegisteredAddress:
    assert event.address_kind is not None
    return RegisteredAddress(effective_date=event.effective_date, value=address, event_id=event_id, kind=event.address_kind, ended=event.ended)


def _registered(state: CustomerState, event: CustomerRegistered, details: Registration, event_id: str) -> CustomerState:
    since = event.envelope.occurred_at.date()
    return _with(
        state,
        kind=event.customer_kind,
        identity_number=details.identity_number or state.identity_number,
        company_name=details.company_name,
        names=_insert(state.names, DatedName(effective_date=since, value=details.name, event_id=event_id)) if details.name else state.names,
        addresses=_insert(state.addresses, DatedAddress(effective_date=since, value=details.address, event_id=event_id))
        if details.address
        else state.addresses,
        contact=details.contact or state.contact,
        customer_of=state.customer_of | ({event.company} if event.company else set()),
        contact_person_for=event.contact_person_for or state.contact_person_for,
    )


# --- Living in Sweden, leaving it, coming back; deregistration --------------------------------
# The population register's facts carry effective dates, and a late report of an older one must not overrule a newer
# one: the customer is emigrated when their latest emigration is later than their latest return. Death, erasure and a
# deregistration for another cause are not undone by a move across the border.

_FINAL = frozenset({Status.DECEASED, Status.ERASED, Status.DEREGISTERED})


def _emigrated(state: CustomerState, effective_date: date) -> CustomerState:
    emigrated_on = effective_date if state.immigrated_on is None or state.emigrated_on is None else max(state.emigrated_on, effective_date)
    abroad = state.immigrated_on is None or emigrated_on > state.immigrated_on
    status = state.status if state.status in _FINAL else (Status.EMIGRATED if abroad else state.status)
    return _with(state, status=status, emigrated_on=emigrated_on)


def _immigrated(state: CustomerState, event: CustomerImmigrated, address: PostalAddress, event_id: str) -> CustomerState:
    immigrated_on = event.effective_date if state.immigrated_on is None else max(state.immigrated_on, event.effective_date)
    back = state.emigrated_on is None or state.emigrated_on <= immigrated_on  # on the same day: back (the report came after)
    status = Status.ACTIVE if state.status is Status.EMIGRATED and back else state.status
    addresses = _insert(state.addresses, DatedAddress(effective_date=event.effective_date, value=address, event_id=event_id))
    return _with(state, status=status, immigrated_on=immigrated_on, addresses=addresses)


def _deregistered(state: CustomerState, event: CustomerDeregistered) -> CustomerState:
    ended = ends_identity(event.cause)
    status = state.status if state.status in (Status.DECEASED, Status.ERASED) else Status.DEREGISTERED
    return _with(
        state,
        status=status,
        deregistered_on=event.effective_date,
        deregistration_cause=event.cause,
        consents=() if ended else state.consents,  # a false identity's consents were never anyone's
    )


def _number_assigned(state: CustomerState, number: str) -> CustomerState:
    """The new number; after a deregistration because the old number was replaced, the customer lives on under it."""
    replaced = find_cause(state.deregistration_cause)
    if state.status is Status.DEREGISTERED and replaced is not None and replaced.number_replaced and number != state.identity_number:
        abroad = state.emigrated_on is not None and (state.immigrated_on is None or state.emigrated_on > state.immigrated_on)
        status = Status.EMIGRATED if abroad else Status.ACTIVE
        return _with(state, identity_number=number, status=status, deregistered_on=None, deregistration_cause=None)
    return _with(state, identity_number=number)


def _opted_in(opted_out: frozenset[Channel], channel: Channel) -> frozenset[Channel]:
    """The opt-outs left when the one on `channel` is lifted: ANY lifts all; one channel of an opt-out on ANY leaves the others."""
    if channel is Channel.ANY:
        return frozenset()
    if Channel.ANY in opted_out:
        return (opted_out | MARKETING_CHANNELS) - {Channel.ANY, channel}
    return opted_out - {channel}


def _left_company(state: CustomerState, event: ContactPersonLeft, event_id: str) -> CustomerState:
    if state.contact_person_for != event.company_id:
        return state  # not (or no longer) that company's contact person: nothing to end (the worker refuses it)
    role = PastContactRole(company_id=event.company_id, left_on=event.effective_date, event_id=event_id)
    return _with(state, contact_person_for=None, past_contact_roles=(*state.past_contact_roles, role))


# --- Merging a duplicate ----------------------------------------------------------------------
# The kept customer takes in what the dropped customer's record held (CustomersMerged keyed by the kept customer carries
# it), fact by fact by the rules the fold applies to the events that reported them. What identifies the customer (kind,
# identity number, company name, name, contact details, civil status) stays the kept customer's, the one the operator
# chose to keep; the dropped customer's fills only what the kept one lacks. Addresses are dated facts: they join the
# history of their kind (`addresses`, or `registered_addresses` for the population register's) by effective date (as
# `_insert` orders it), so the latest is current, the kept customer's on the same day. Consents: the one given later
# wins, as a later ConsentGiven replaces one for the same purpose, channel and company, and none after a death or an
# identity ended. NIX: per number, the newer register version (`_nix_status`). Opt-outs and the companies
# the customer is a customer of add up. The population register's facts (status, dates) stay the kept customer's: a
# merge is refused when the dropped customer's differ, unless forced (`events.merging`).


def _absorbed(state: CustomerState, event: CustomersMerged) -> CustomerState:
    facts = event.absorbed or AbsorbedFacts()
    personal = event.absorbed_personal if isinstance(event.absorbed_personal, AbsorbedPersonalData) else None  # sealed: erased
    changes: dict[str, Any] = {
        "merged_from": (*state.merged_from, *(c for c in (event.dropped_customer_id, *facts.merged_from) if c not in state.merged_from)),
        "opted_out": state.opted_out | frozenset(facts.opted_out),
        "customer_of": state.customer_of | frozenset(facts.customer_of),
        "civil_status": state.civil_status or facts.civil_status,
        "contact_person_for": state.contact_person_for or facts.contact_person_for,
        "consents": _absorbed_consents(state, facts),
    }
    if personal is not None:
        changes |= _absorbed_personal(state, personal)
    return _with(state, **changes)


def _absorbed_consents(state: CustomerState, facts: AbsorbedFacts) -> tuple[Consent, ...]:
    if state.deceased_on is not None or state.status is Status.ERASED or state.identity_ended:
        return state.consents  # as a ConsentGiven after the end: death or the end of the identity ended them all
    consents = state.consents
    for given in facts.consents:
        same = next((c for c in consents if (c.purpose, c.channel, c.company) == (given.purpose, given.channel, given.company)), None)
        if same is not None and same.given_at >= given.given_at:
            continue  # the kept customer's own is the later one: it replaced this one, as a later ConsentGiven does
        consent = Consent(
            purpose=given.purpose,
            channel=given.channel,
            company=given.company,
            given_at=given.given_at,
            event_id=given.given_event_id,
            overrides_nix=given.overrides_nix,
            valid_until=given.valid_until,
            lapses_on=lapses_on(given.given_at, valid_until=given.valid_until, overrides_nix=given.overrides_nix),
        )
        consents = (*(c for c in consents if c is not same), consent)
    return consents


def _absorbed_personal(state: CustomerState, personal: AbsorbedPersonalData) -> dict[str, Any]:
    addresses, registered = state.addresses, state.registered_addresses
    for dated in reversed(personal.addresses):  # last first: each goes before those of its day, so theirs keep their order
        if dated.address_kind in REGISTERED_KINDS:  # each kind joins its own history
            assert dated.address_kind is not None
            kept = RegisteredAddress(
                effective_date=dated.effective_date, value=dated.address, event_id=dated.event_id, kind=dated.address_kind, ended=dated.ended
            )
            registered = _insert_before_equal(registered, kept)
        elif not dated.ended:
            addresses = _insert_before_equal(addresses, DatedAddress(effective_date=dated.effective_date, value=dated.address, event_id=dated.event_id))
    names = state.names or tuple(DatedName(effective_date=n.effective_date, value=n.name, event_id=n.event_id) for n in personal.names)
    nix = state.nix
    for entry in personal.nix:
        as_of = entry.as_of
        current = next((n for n in nix if n.phone == entry.phone), None)
        if current is None or current.as_of <= as_of:  # an older register version does not overrule a newer one
            nix = (*(n for n in nix if n.phone != entry.phone), NixStatus(phone=entry.phone, registered=entry.registered, as_of=as_of))
    contact = state.contact
    if personal.contact is not None:
        mine = contact or ContactDetails()
        contact = ContactDetails(phone=mine.phone or personal.contact.phone, email=mine.email or personal.contact.email)
    return {
        "identity_number": state.identity_number or personal.identity_number,
        "company_name": state.company_name or personal.company_name,
        "names": names,
        "addresses": addresses,
        "registered_addresses": registered,
        "contact": contact,
        "nix": nix,
    }


def _insert_before_equal(history: tuple[D, ...], entry: D) -> tuple[D, ...]:
    """Insert by effective date, before the entries of the same date: a history merged in never outranks the record's
    own entry of that day."""
    position = len(history)
    while position > 0 and history[position - 1].effective_date >= entry.effective_date:
        position -= 1
    return (*history[:position], entry, *history[position:])


def _insert(history: tuple[D, ...], entry: D) -> tuple[D, ...]:
    """Insert by effective date; among equal dates, the later report wins."""
    position = len(history)
    while position > 0 and history[position - 1].effective_date > entry.effective_date:
        position -= 1
    return (*history[:position], entry, *history[position:])


def _same_consent(consent: Consent, event: ConsentEvent) -> bool:
    return (consent.purpose, consent.channel, consent.company) == (event.purpose, event.channel, event.company)


def _without(consents: tuple[Consent, ...], event: ConsentEvent, given_by: UUID | None = None) -> tuple[Consent, ...]:
    """The consents but the one `event` is about; when it names the ConsentGiven that caused it, only if that one is still in force."""

    def ended(consent: Consent) -> bool:
        return _same_consent(consent, event) and (given_by is None or consent.event_id == str(given_by))

    return tuple(c for c in consents if not ended(c))


def _consent(event: ConsentGiven) -> Consent:
    return Consent(
        purpose=event.purpose,
        channel=event.channel,
        company=event.company,
        given_at=event.envelope.occurred_at,
        event_id=str(event.event_id),
        overrides_nix=event.overrides_nix,
        valid_until=event.valid_until,
        lapses_on=consent_lapses_on(event),
    )


def consent_lapses_on(event: ConsentGiven) -> date | None:
    """The first day a consent no longer applies, from the consent alone; None if it never lapses by itself."""
    return lapses_on(event.envelope.occurred_at, valid_until=event.valid_until, overrides_nix=event.overrides_nix)


def lapses_on(given_at: datetime, *, valid_until: date | None, overrides_nix: bool) -> date | None:
    """The first day a consent given at `given_at` no longer applies: the day after `valid_until`, and for a NIX
    override 3 months after it was given, whichever comes first; None if it never lapses by itself."""
    ends = []
    if valid_until is not None:
        ends.append(valid_until + timedelta(days=1))
    if overrides_nix:
        ends.append(add_months(given_at.date(), NIX_OVERRIDE_VALIDITY_MONTHS))
    return min(ends, default=None)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _nix_status(entries: tuple[NixStatus, ...], event: NixRegistered | NixDeregistered, phone: str) -> tuple[NixStatus, ...]:
    as_of = event.register_version_date or event.envelope.occurred_at.date()
    current = next((entry for entry in entries if entry.phone == phone), None)
    if current is not None and current.as_of > as_of:
        return entries  # an older register version does not overrule a newer one
    others = tuple(entry for entry in entries if entry.phone != phone)
    return (*others, NixStatus(phone=phone, registered=isinstance(event, NixRegistered), as_of=as_of))


def _is_sealed(event: Event) -> bool:
    return any(isinstance(value, SealedPersonalData) for value in vars(event).values())
