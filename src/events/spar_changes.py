"""What a SPAR record says has changed about a customer: `changes(record, state)` → the events to publish.

Pure: a parsed record (`events.spar_records`) and the customer's current state (the fold's, `events.customer`) in,
events out, each validated as `registervard publish` validates a line. Only what differs from the state is published,
so a record the register already agrees with gives nothing. Event ids are derived from the events' content
(`events.jsonlines.parse_event`), so the same record compared with the same state gives the same events, and a
second import of a file the register has applied gives none. Every event's source is SPAR.

The rules, in the order the events are published (a customer's events keep their order on the topic):

1. *Protection.* Either flag JA on a customer not protected: ProtectedIdentitySet (the first flag in the table's
   order names the kind; dated by the flag's own day). Every flag delivered and NEJ on a protected customer:
   ProtectedIdentityLifted. A flag not delivered says nothing. A protected person's record comes without name and
   address, which is SPAR's rule, not a removal: while the customer is protected no name or address is read from
   a record at all, so nothing the register holds is blanked or replaced.
2. *Return.* An emigrated customer whose record has no deregistration and a Swedish population register address:
   CustomerImmigrated at that address.
3. *Name* and 4. *Address.* The record's current entry (open on `as_of`, the latest begun) against the register's
   current one, case and spacing aside. The register keeps one postal address, so of the record's addresses the
   first kind in `SparTable.address_order` that has a current entry is compared (a special postal address before
   an address abroad, before the population register's address, before a contact address). SPAR is the authority:
   its name or address becomes the register's current one even when the register's own is dated later (say, the
   day a CRM import registered the customer); the change is then dated that day, as the fold orders by date.
5. *Civil status*, 6. *Direktreklamspärr* (MarketingOptOut on POST; a block lifted in SPAR does not opt the
   customer in again: the opt-out may have come from the customer directly).
7. *Deregistration*, last: a death (CustomerDeceased), an emigration (CustomerEmigrated, to the country of the
   address abroad when known), any other cause (CustomerDeregistered with the cause), when the register does not
   already say so. Which cause has an event of its own is `deregistration_causes.toml`'s `own_event`.

Nothing is published for an erased customer or a company, and for a deceased one nothing but a change of protection. A part of
the record left out because an element of it could not be read (`SparRecord.left_out`) is not compared at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from events.catalog import EVENT_TYPES, Channel, CustomerDeceased, CustomerDeregistered, CustomerEmigrated, CustomerKind, Event, PersonName, PostalAddress
from events.customer import CustomerState, Status, evolve
from events.deregistration import CAUSES
from events.jsonlines import parse_event
from events.refusal import Refusal
from events.spar_elements import TABLE, AddressKind, SparTable
from events.spar_records import Part, SparAddress, SparName, SparRecord, Where
from events.timeline import start_of

SOURCE = "SPAR"
"""The source of every event a SPAR file gives."""

E = TypeVar("E", SparName, SparAddress)


@dataclass(frozen=True, kw_only=True)
class Changes:
    """What one record gives for one customer: the events (in order), the events refused (where the fact was in the
    file, and why), and the customer's state with the events folded in (to compare a later record of theirs with)."""

    events: tuple[Event, ...] = ()
    refused: tuple[tuple[Where, Refusal], ...] = ()
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
            _address(out, record, as_of, table, death)
        _civil_status(out, record)
        _marketing_block(out, record)
        _deregistration(out, record, as_of)
    return Changes(events=tuple(out.events), refused=tuple(out.refused), state=out.state)


@dataclass
class _Out:
    """The events so far, and the state they make: each rule compares with what the rules before it published."""

    state: CustomerState
    day: date
    """The record's day: SenasteAndringSPAR, else the fallback."""
    now: datetime
    events: list[Event] = field(default_factory=list)
    refused: list[tuple[Where, Refusal]] = field(default_factory=list)

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
    flagged = [p for p in record.protections if p.flagged]
    if flagged and not out.state.protected:
        first = flagged[0]
        out.emit("ProtectedIdentitySet", first.where, on=first.since, protection=first.protection.value)
    elif record.protections and not flagged and out.state.protected and len(record.protections) == len(table.protections):
        out.emit("ProtectedIdentityLifted", record.protections[0].where)


def _return_to_sweden(out: _Out, record: SparRecord, as_of: date) -> None:
    if out.state.status is not Status.EMIGRATED or record.deregistration is not None or {Part.DEREGISTRATION, Part.ADDRESSES} & record.left_out:
        return
    home = current([a for a in record.addresses if a.kind is AddressKind.FOLKBOKFORINGSADRESS], as_of)
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


def _address(out: _Out, record: SparRecord, as_of: date, table: SparTable, death: date | None) -> None:
    entry = postal_address(record, as_of, table) if Part.ADDRESSES not in record.left_out else None
    if entry is None:
        return
    held = out.state.addresses[-1] if out.state.addresses else None
    if held is not None and same_address(held.value, entry.address):
        return
    since = max(entry.valid_from or out.day, held.effective_date if held else date.min)
    if death is None or since <= death:
        out.emit("AddressChanged", entry.where, effective_date=since.isoformat(), address=_plain_address(entry.address))


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
    if own is CustomerDeceased:
        if state.deceased_on is None:
            out.emit(own.__name__, found.where, date_of_death=(found.date_of_death or on).isoformat())
    elif own is CustomerEmigrated:
        if state.emigrated_on is None or state.emigrated_on < on:
            abroad = current([a for a in record.addresses if a.kind is AddressKind.UTLANDSADRESS], as_of)
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


def postal_address(record: SparRecord, as_of: date, table: SparTable = TABLE) -> SparAddress | None:
    """The record's address the register keeps: the current entry of the first kind in `table.address_order` that has one."""
    for kind in table.address_order:
        entry = current([a for a in record.addresses if a.kind is kind], as_of)
        if entry is not None:
            return entry
    return None


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
