"""What a SPAR record says has changed about a customer: `changes(record, state)` → the events to publish.

Pure: a parsed record (`events.spar_records`) and the customer's current state (the fold's, `events.customer`) in,
events out, each validated as `registervard publish` validates a line. Only what differs from the state is published,
so a record the register already agrees with gives nothing. Event ids are derived from the events' content
(`events.jsonlines.parse_event`), so the same record compared with the same state gives the same events, and a
second import of a file the register has applied gives none. Every event's source is SPAR.

The rules, in the order the events are published (a customer's events keep their order on the topic):

1. *Protection.* Either flag JA on a customer none of whose protections in force (`CustomerState.protections`) is
   of a kind SPAR reports (the table's flags: sekretessmarkering, skyddad folkbokföring): ProtectedIdentitySet (the
   first flag in the table's order names the kind; dated by the flag's own day), also when another source's
   protection (OTHER) is in force, so that the population register's stays recorded when that one is lifted. Every
   flag delivered and NEJ: a ProtectedIdentityLifted naming each of SPAR's kinds in force, one event per kind. SPAR
   lifts only what the population register set: a protection another source set (OTHER: a company's own decision,
   say) stays, and the customer with it; the import is told so (`Changes.notes`, PROTECTION_KEPT), which is no
   refusal. A flag not delivered says nothing. A protected person's record comes without name and
   address, which is SPAR's rule, not a removal: while the customer is protected no name or address is read from
   a record at all, so nothing the register holds is blanked or replaced.
2. *Return.* An emigrated customer whose record has no deregistration and a Swedish population register address:
   CustomerImmigrated at that address.
3. *Name.* The record's current entry (open on `as_of`, the latest begun) against the register's current one, case
   and spacing aside. SPAR is the authority: its name becomes the register's current one even when the register's own
   is dated later (say, the day a CRM import registered the customer); the change is then dated that day, as the fold
   orders by date.
4. *Addresses*, each kind apart (`spar_elements.REGISTER_KINDS`: the population register's address, a contact
   address, an address abroad, a special postal address): the record's current entry of a kind against the
   register's current one of that kind, case and spacing aside, gives an AddressChanged of that kind, dated by its
   own DatumFrom, never before the kind's latest entry in the register. The population register's, contact and
   abroad addresses are also dated no earlier than the address the customer gave when they differ from it, so that
   SPAR's becomes the postal address (`events.customer.postal_address`; SPAR is the authority, as for the name).
   A special postal address the register holds that the record no longer has (the record has addresses, none of
   them a current special postal address) has ended: an AddressChanged of that kind with `ended`, dated the day
   after the record's ended entry's DatumTill, else the record's day. A kind the register holds a fact of dated after
   the record's day (SenasteAndringSPAR) is left alone: the record is older, so an older file imported again after a
   newer one does not bring an ended address back. The postal address needs no event of its own: the fold derives it.
5. *Civil status*, 6. *Direktreklamspärr* (MarketingOptOut on POST; a block lifted in SPAR does not opt the
   customer in again: the opt-out may have come from the customer directly).
7. *Deregistration*, last: a death (CustomerDeceased), an emigration (CustomerEmigrated, to the country of the
   address abroad when known), any other cause (CustomerDeregistered with the cause), when the register does not
   already say so. Which cause has an event of its own is `deregistration_causes.toml`'s `own_event`. An old number
   replaced (a cause with `number_replaced`) whose record names the new number is no end of the customer: they take
   the new number (PersonalIdentityNumberAssigned; after an earlier deregistration for the old number it makes them
   active again), and are not deregistered, so that the customer follows the person.

Nothing is published for an erased customer or a company, and for a deceased one nothing but a change of protection. A part of
the record left out because an element of it could not be read (`SparRecord.left_out`) is not compared at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from events.catalog import (
    EVENT_TYPES,
    AddressKind,
    Channel,
    CustomerDeceased,
    CustomerDeregistered,
    CustomerEmigrated,
    CustomerKind,
    Event,
    PersonName,
    PostalAddress,
)
from events.customer import POOLED_KINDS, CustomerState, RegisteredAddress, Status, current_registered, evolve
from events.deregistration import CAUSES
from events.jsonlines import parse_event
from events.refusal import Refusal
from events.spar_elements import REGISTER_KINDS, TABLE, SparTable
from events.spar_elements import AddressKind as SparKind
from events.spar_records import Part, SparAddress, SparName, SparRecord, Where
from events.timeline import start_of

SOURCE = "SPAR"
"""The source of every event a SPAR file gives."""

E = TypeVar("E", SparName, SparAddress)


@dataclass(frozen=True, kw_only=True)
class Note:
    """Something the import did not do, rightly, that the operator should know: a code and a reason (never personal data)."""

    code: str
    reason: str

    def __str__(self) -> str:
        return self.reason


PROTECTION_KEPT = "PROTECTION_KEPT"
"""The record says the person is not protected, but a protection SPAR does not report (OTHER) is in force: it stays
(SPAR's own kinds, if any were in force, are lifted)."""


@dataclass(frozen=True, kw_only=True)
class Changes:
    """What one record gives for one customer: the events (in order), the events refused (where the fact was in the
    file, and why), what was rightly left undone (`notes`: where, and why), and the customer's state with the events
    folded in (to compare a later record of theirs with)."""

    events: tuple[Event, ...] = ()
    refused: tuple[tuple[Where, Refusal], ...] = ()
    notes: tuple[tuple[Where, Note], ...] = ()
    state: CustomerState


def changes(record: SparRecord, state: CustomerState, *, as_of: date, fallback_day: date, now: datetime, table: SparTable = TABLE) -> Changes:
    """The events `record` implies for the customer in `state` (see the module's rules).

    `as_of`: the day the record's entries are read as current on (an entry ended before it is history).
    `fallback_day`: the day a fact is dated when neither it nor the record (SenasteAndringSPAR) carries one.
    `now`: the moment of publishing, which the events are validated against (occurred_at not ahead of it)."""
    if not state.registered or state.kind is not CustomerKind.PERSON or state.status is Status.ERASED:
        return Changes(state=state)
    out = _Out(state, record.last_changed or fallback_day, now)
    _protection(out, record, table)
    if state.deceased_on is None:
        death = _day_of_death(record)
        readable = not out.state.protected and not any(p.flagged for p in record.protections)
        if readable:
            _return_to_sweden(out, record, as_of)
            _name(out, record, as_of, death)
            _addresses(out, record, as_of, death)
        _civil_status(out, record)
        _marketing_block(out, record)
        _deregistration(out, record, as_of)
    return Changes(events=tuple(out.events), refused=tuple(out.refused), notes=tuple(out.notes), state=out.state)


@dataclass
class _Out:
    """The events so far, and the state they make: each rule compares with what the rules before it published."""

    state: CustomerState
    day: date
    """The record's day: SenasteAndringSPAR, else the fallback."""
    now: datetime
    events: list[Event] = field(default_factory=list)
    refused: list[tuple[Where, Refusal]] = field(default_factory=list)
    notes: list[tuple[Where, Note]] = field(default_factory=list)

    def emit(self, type_name: str, where: Where, *, on: date | None = None, **fields: Any) -> None:
        """Publish a fact: validated as a line of `registervard publish` is, its id derived from its content."""
        document = {
            "type": type_name,
            "customer_id": self.state.customer_id,
            "occurred_at": start_of(on or self.day).isoformat().replace("+00:00", "Z"),
            "source": SOURCE,
            **fields,
        }
        try:
            event = parse_event(document, now=self.now)
        except Refusal as refusal:
            self.refused.append((where, refusal))
            return
        self.events.append(event)
        self.state = evolve(self.state, event)


def _protection(out: _Out, record: SparRecord, table: SparTable) -> None:
    reported = {flag.protection for flag in table.protections}
    flagged = [p for p in record.protections if p.flagged]
    if flagged and not out.state.protections & reported:
        first = flagged[0]
        out.emit("ProtectedIdentitySet", first.where, on=first.since, protection=first.protection.value)
    elif record.protections and not flagged and len(record.protections) == len(table.protections):
        where = record.protections[0].where
        # Each kind by name: a lift naming none would end another source's protection too.
        for flag in table.protections:
            if flag.protection in out.state.protections:
                out.emit("ProtectedIdentityLifted", where, protection=flag.protection.value)
        kept = out.state.protections - reported
        if kept:
            kinds = ", ".join(sorted(kept))
            reason = (
                f"the protected identity stays: SPAR reports none, but one of a kind SPAR does not report ({kinds}) is in force, "
                "and SPAR lifts only what the population register set; it ends when whoever set it lifts it"
            )
            out.notes.append((where, Note(code=PROTECTION_KEPT, reason=reason)))


def _return_to_sweden(out: _Out, record: SparRecord, as_of: date) -> None:
    if out.state.status is not Status.EMIGRATED or record.deregistration is not None or {Part.DEREGISTRATION, Part.ADDRESSES} & record.left_out:
        return
    home = current([a for a in record.addresses if a.kind is SparKind.FOLKBOKFORINGSADRESS], as_of)
    if home is None or home.address.country != "SE":
        return
    since = max(home.valid_from or out.day, out.state.emigrated_on or date.min)
    out.emit("CustomerImmigrated", home.where, effective_date=since.isoformat(), address=_plain_address(home.address))


def _name(out: _Out, record: SparRecord, as_of: date, death: date | None) -> None:
    entry = current(record.names, as_of) if Part.NAMES not in record.left_out else None
    if entry is None:
        return
    held = out.state.names[-1] if out.state.names else None
    if held is not None and same_name(held.value, entry.name):
        return
    since = max(entry.valid_from or out.day, held.effective_date if held else date.min)
    if death is None or since <= death:  # a change dated after the death would be refused (AFTER_DEATH)
        name = {"given_names": entry.name.given_names, "surname": entry.name.surname}
        out.emit("NameChanged", entry.where, reason="OTHER", effective_date=since.isoformat(), name=name)


def _addresses(out: _Out, record: SparRecord, as_of: date, death: date | None) -> None:
    if Part.ADDRESSES in record.left_out:
        return
    for spar_kind, kind in REGISTER_KINDS.items():
        entries = [a for a in record.addresses if a.kind is spar_kind]
        if _latest_of_kind(out.state, kind) > out.day:
            continue  # the register knows a later fact of this kind: an older file imported again does not undo it
        entry = current(entries, as_of)
        held = current_registered(out.state).get(kind)
        if entry is None:
            if kind is AddressKind.SPECIAL_POSTAL and held is not None and record.addresses:
                _special_postal_ended(out, record, entries, held, death)
            continue
        if held is not None and same_address(held.value, entry.address):
            continue
        since = max(entry.valid_from or out.day, _latest_of_kind(out.state, kind))
        given = out.state.addresses[-1] if out.state.addresses else None
        if kind in POOLED_KINDS and given is not None and not same_address(given.value, entry.address):
            since = max(since, given.effective_date)  # SPAR's becomes the postal address (on a tie, the fold's rule)
        if death is None or since <= death:
            out.emit("AddressChanged", entry.where, effective_date=since.isoformat(), address=_plain_address(entry.address), address_kind=kind.value)


def _special_postal_ended(out: _Out, record: SparRecord, entries: list[SparAddress], held: RegisteredAddress, death: date | None) -> None:
    """The special postal address the register holds is no longer in the record: it ended the day after the record's
    ended entry (if it delivers one), else on the record's day, and never before it began."""
    ends = [e.valid_to for e in entries if e.valid_to is not None]
    since = max((max(ends) + timedelta(days=1)) if ends else out.day, held.effective_date)
    if death is None or since <= death:
        address = _plain_address(held.value)
        out.emit("AddressChanged", record.where, effective_date=since.isoformat(), address=address, address_kind=AddressKind.SPECIAL_POSTAL.value, ended=True)


def _latest_of_kind(state: CustomerState, kind: AddressKind) -> date:
    """The day of the latest entry (an address or an end) of `kind` the register holds; date.min if none."""
    return max((a.effective_date for a in state.registered_addresses if a.kind is kind), default=date.min)


def _civil_status(out: _Out, record: SparRecord) -> None:
    found = record.civil_status
    if found is not None and found.status != out.state.civil_status:
        out.emit("CivilStatusChanged", found.where, civil_status=found.status.value, effective_date=(found.since or out.day).isoformat())


def _marketing_block(out: _Out, record: SparRecord) -> None:
    if record.direct_marketing_block and not {Channel.POST, Channel.ANY} & out.state.opted_out:
        out.emit("MarketingOptOut", record.where, channel=Channel.POST.value)


def _day_of_death(record: SparRecord) -> date | None:
    """The day of death the record reports, if it reports a death (its deregistration day when it gives none)."""
    found = record.deregistration
    if found is None or CAUSES[found.cause].own_event != CustomerDeceased.__name__:
        return None
    return found.date_of_death or found.on


def _deregistration(out: _Out, record: SparRecord, as_of: date) -> None:
    found = record.deregistration
    if found is None:
        return
    cause = CAUSES[found.cause]
    own = EVENT_TYPES[cause.own_event] if cause.own_event else CustomerDeregistered
    on = found.on or out.day
    state = out.state
    if cause.number_replaced and found.new_identity_number is not None:
        # The person lives on under the new number: the customer takes it instead of ending with the old one. Once
        # they have it, the record (still filed under the old number) says nothing more.
        if state.identity_number != found.new_identity_number:
            out.emit("PersonalIdentityNumberAssigned", found.where, on=on, identity_number=found.new_identity_number)
        return
    if own is CustomerDeceased:
        if state.deceased_on is None:
            out.emit(own.__name__, found.where, date_of_death=(found.date_of_death or on).isoformat())
    elif own is CustomerEmigrated:
        if state.emigrated_on is None or state.emigrated_on < on:
            abroad = current([a for a in record.addresses if a.kind is SparKind.UTLANDSADRESS], as_of)
            country = abroad.address.country if abroad is not None else None
            out.emit(own.__name__, found.where, effective_date=on.isoformat(), destination_country=country)
    elif own is CustomerDeregistered:
        if (state.deregistration_cause, state.deregistered_on) != (found.cause, on):
            out.emit(own.__name__, found.where, cause=found.cause, effective_date=on.isoformat())
    else:  # a cause whose own event this mapping does not know: say so rather than guess
        reason = f"has an event of its own ({cause.own_event}) that a SPAR import does not publish"
        out.refused.append((found.where, Refusal("cause", reason, code="UNKNOWN_CAUSE")))


def current(entries: Iterable[E], as_of: date) -> E | None:
    """The entry in force on `as_of`: not ended before it (no end, or an end on or after it), the latest begun."""
    open_ = [e for e in entries if e.valid_to is None or e.valid_to >= as_of]
    return max(open_, key=lambda e: e.valid_from or date.min, default=None)


def _folded(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _same(a: object, b: object, fields_: Iterable[str], key: Callable[[Any], str] = _folded) -> bool:
    return all(key(getattr(a, name)) == key(getattr(b, name)) for name in fields_)


def same_name(held: PersonName, delivered: PersonName) -> bool:
    """Whether two names are the same, case and spacing aside."""
    return _same(held, delivered, ("given_names", "surname"))


def same_address(held: PostalAddress, delivered: PostalAddress) -> bool:
    """Whether two addresses are the same, case and spacing aside (a postal code's spaces too)."""
    return _same(held, delivered, ("care_of", "street", "city", "country")) and held.postal_code.replace(" ", "") == delivered.postal_code.replace(" ", "")


def _plain_address(address: PostalAddress) -> dict[str, Any]:
    plain = {"street": address.street, "postal_code": address.postal_code, "city": address.city, "country": address.country}
    return {"care_of": address.care_of, **plain} if address.care_of else plain
