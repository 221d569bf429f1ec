"""NIX wash of a call list: may this company call each number now for telemarketing, and why not.

Pure: `wash(rows, states_by_phone, company, at, rules)` answers from the fold's
states (`events.customer.CustomerState`) and the contactability rules
(`events.contactability.may_contact`, channel PHONE, purpose TELEMARKETING).
Reading the register and the files is the caller's business (the CLI,
`registervard wash`; the HTTP API).

A row names a phone number or a customer id (or both). A number is found
through the customers whose current phone it is; a number no customer has is
`UNKNOWN_NUMBER`: the register knows nothing of it, so it cannot be washed
against our NIX data. When several customers share a number, it may be called
only if every one of them may be (their reasons are merged).

`wash` decides once per distinct set of facts, not once per row: a row's
answer depends on the row only through which customers it names; a customer's
decision depends on the customer only through `decision_facts` (status,
protection, NIX status of the current number, consents, ...: nothing that says
who they are). So a wash keeps one answer per number and one `may_contact`
decision per distinct facts, made on a stand-in state built from those facts
alone (`stand_in`): the rules are applied by `events.contactability` as ever,
just not again for facts already decided. `wash_one` is the plain per-row path;
tests hold the two equal over varied registers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from events.catalog import Channel, ConsentPurpose, ContactDetails, PostalAddress
from events.contactability import Decision, Rules, may_contact
from events.customer import Consent, CustomerState, DatedAddress, NixStatus, postal_address
from events.phone import normalise_phone

UNKNOWN_NUMBER = "UNKNOWN_NUMBER"
"""No customer in the register has this number: it cannot be washed against our NIX data."""
INVALID_NUMBER = "INVALID_NUMBER"
"""The row's phone number cannot be read as a phone number."""
NO_NUMBER = "NO_NUMBER"
"""The row names neither a phone number nor a customer id."""
NOT_CUSTOMERS_NUMBER = "NOT_CUSTOMERS_NUMBER"
"""The row names a customer and a number that is not the customer's current phone."""

WASH_REASONS = {
    UNKNOWN_NUMBER: "No customer in the register has this number; it cannot be washed against the register's NIX data.",
    INVALID_NUMBER: "The phone number cannot be read as a phone number.",
    NO_NUMBER: "The row names neither a phone number nor a customer id.",
    NOT_CUSTOMERS_NUMBER: "The number is not the customer's current phone number in the register.",
}
"""Reasons of the wash itself (they all deny), beside those of `may_contact`. What each code means to the person reading
a washed list, and what to do, in Swedish and English: `projections.wash_reasons`."""


@dataclass(frozen=True)
class WashRow:
    """One row of a call list: a phone number, a customer id, or both; `values` are the input row's cells, kept for the answer."""

    phone: str | None = None
    customer_id: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WashResult:
    """The answer for one row: may it be called, every reason code (denying first), and who the number belongs to."""

    row: WashRow
    may_call: bool
    reasons: tuple[str, ...]
    phone: str | None = None
    """The number in E.164 form, when readable."""
    customer_ids: tuple[str, ...] = ()
    """The customers the answer is about."""


def index_by_phone(states: Iterable[CustomerState]) -> dict[str, list[CustomerState]]:
    """States by their current phone number (E.164), for `wash`."""
    found: dict[str, list[CustomerState]] = {}
    for state in states:
        if state.contact and state.contact.phone:
            found.setdefault(state.contact.phone, []).append(state)
    return found


def wash(
    rows: Iterable[WashRow],
    states_by_phone: Mapping[str, CustomerState | Sequence[CustomerState]],
    company: str,
    at: datetime,
    rules: Rules | None = None,
    *,
    states_by_id: Mapping[str, CustomerState] | None = None,
) -> list[WashResult]:
    """For each row: may `company` call it at `at` for telemarketing, and why (not); the same answers as `wash_one`
    row by row, deciding once per number and once per distinct `decision_facts`."""
    washer = Washer(states_by_phone, company, at, rules, states_by_id=states_by_id)
    return [washer.wash_row(row) for row in rows]


def wash_one(
    row: WashRow,
    states_by_phone: Mapping[str, CustomerState | Sequence[CustomerState]],
    company: str,
    at: datetime,
    rules: Rules | None = None,
    *,
    states_by_id: Mapping[str, CustomerState] | None = None,
) -> WashResult:
    """The answer for one row, deciding from scratch (`may_contact` on each customer's whole state): the reference `wash`
    is held equal to."""
    phone = None
    if row.phone and row.phone.strip():
        try:
            phone = normalise_phone(row.phone)
        except ValueError:
            return WashResult(row, False, (INVALID_NUMBER,))
    if row.customer_id and row.customer_id.strip():
        state = (states_by_id or {}).get(row.customer_id.strip())
        decision = may_contact(state, channel=Channel.PHONE, purpose=ConsentPurpose.TELEMARKETING, company=company, at=at, rules=rules)
        current = state.contact.phone if state and state.contact else None
        if phone is not None and state is not None and phone != current:
            return WashResult(row, False, (NOT_CUSTOMERS_NUMBER, *decision.codes), phone, (state.customer_id,))
        return WashResult(row, decision.allowed, decision.codes, phone or current, (state.customer_id,) if state else ())
    if phone is None:
        return WashResult(row, False, (NO_NUMBER,))
    found = states_by_phone.get(phone)
    customers: Sequence[CustomerState] = [found] if isinstance(found, CustomerState) else list(found or [])
    if not customers:
        return WashResult(row, False, (UNKNOWN_NUMBER,), phone)
    decisions = [
        may_contact(state, channel=Channel.PHONE, purpose=ConsentPurpose.TELEMARKETING, company=company, at=at, rules=rules)
        for state in customers
    ]
    allowed = all(d.allowed for d in decisions)
    denying = [r.code for d in decisions for r in d.reasons if r.denies]
    supporting = [r.code for d in decisions for r in d.reasons if not r.denies]
    return WashResult(row, allowed, tuple(dict.fromkeys([*denying, *supporting])), phone, tuple(s.customer_id for s in customers))


# --- Deciding once per facts ----------------------------------------------------------------

Facts = tuple[Any, ...]
"""What `decision_facts` returns: hashable, and nothing in it says who the customer is."""

_NUMBER = "+0"
"""The stand-in's phone number: the facts keep whether there is one and which NIX entries are about it, not the number."""
_OTHER_NUMBER = "+00"
_EMAIL = "stand-in"


def decision_facts(state: CustomerState) -> Facts:
    """The facts of `state` a contactability decision may read: everything but who the customer is (id, identity
    number, names, the address's lines, the numbers themselves, event ids). Customers with equal facts get equal
    decisions, because the decision is made on `stand_in(facts)`."""
    contact = state.contact
    phone = contact.phone if contact else None
    postal = postal_address(state)
    address = postal.value if postal is not None else None
    return (
        state.kind,
        state.status,
        None if address is None else (address.country, address.care_of is not None),
        None if contact is None else (phone is not None, contact.email is not None),
        state.protections,
        state.deceased_on,
        state.emigrated_on,
        tuple([(c.purpose, c.channel, c.company, c.given_at, c.overrides_nix, c.valid_until, c.lapses_on) for c in state.consents]) if state.consents else (),
        tuple([(entry.phone == phone, entry.registered, entry.as_of) for entry in state.nix]),
        state.customer_of,
        state.opted_out,
        state.immigrated_on,
        state.deregistered_on,
    )


def stand_in(facts: Facts) -> CustomerState:
    """A customer state with these facts and nothing else: what `Washer` asks `may_contact` about."""
    kind, status, address, contact, protections, deceased_on, emigrated_on, consents, nix, customer_of, opted_out, immigrated_on, deregistered_on = facts
    return CustomerState(
        customer_id="",
        kind=kind,
        status=status,
        addresses=()
        if address is None
        else (
            DatedAddress(
                effective_date=date.min,
                value=PostalAddress(street="", postal_code="", city="", care_of="" if address[1] else None, country=address[0]),
                event_id="",
            ),
        ),
        contact=None if contact is None else ContactDetails(phone=_NUMBER if contact[0] else None, email=_EMAIL if contact[1] else None),
        protections=protections,
        deceased_on=deceased_on,
        emigrated_on=emigrated_on,
        consents=tuple(
            Consent(
                purpose=purpose, channel=channel, company=company, given_at=given_at, event_id="", overrides_nix=overrides_nix,
                valid_until=valid_until, lapses_on=lapses_on,
            )
            for purpose, channel, company, given_at, overrides_nix, valid_until, lapses_on in consents
        ),
        nix=tuple(NixStatus(phone=_NUMBER if current else _OTHER_NUMBER, registered=registered, as_of=as_of) for current, registered, as_of in nix),
        customer_of=customer_of,
        opted_out=opted_out,
        immigrated_on=immigrated_on,
        deregistered_on=deregistered_on,
    )


class Washer:
    """One wash (one company, one moment, one set of rules): answers rows, remembering each number's answer and each
    distinct facts' decision for the rest of the list."""

    def __init__(
        self,
        states_by_phone: Mapping[str, CustomerState | Sequence[CustomerState]],
        company: str,
        at: datetime,
        rules: Rules | None = None,
        *,
        states_by_id: Mapping[str, CustomerState] | None = None,
    ) -> None:
        self.states_by_phone = states_by_phone
        self.states_by_id = states_by_id or {}
        self.company = company
        self.at = at
        self.rules = rules
        self._decisions: dict[Facts, tuple[Decision, tuple[str, ...]]] = {}
        """Each distinct facts' decision, and its codes (denying first, each once)."""
        self._numbers: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]] = {}

    def decide(self, state: CustomerState | None) -> Decision:
        """`may_contact` for telemarketing by phone, made once per distinct `decision_facts`."""
        if state is None:
            return may_contact(None, channel=Channel.PHONE, purpose=ConsentPurpose.TELEMARKETING, company=self.company, at=self.at, rules=self.rules)
        return self._decided(state)[0]

    def _decided(self, state: CustomerState) -> tuple[Decision, tuple[str, ...]]:
        facts = decision_facts(state)
        decided = self._decisions.get(facts)
        if decided is None:
            decision = may_contact(
                stand_in(facts), channel=Channel.PHONE, purpose=ConsentPurpose.TELEMARKETING, company=self.company, at=self.at, rules=self.rules
            )
            decided = self._decisions[facts] = (decision, decision.codes)
        return decided

    def wash_row(self, row: WashRow) -> WashResult:
        """The answer for one row, as `wash_one` gives it."""
        phone = None
        if row.phone and row.phone.strip():
            try:
                phone = normalise_phone(row.phone)
            except ValueError:
                return WashResult(row, False, (INVALID_NUMBER,))
        if row.customer_id and row.customer_id.strip():
            state = self.states_by_id.get(row.customer_id.strip())
            decision = self.decide(state)
            current = state.contact.phone if state and state.contact else None
            if phone is not None and state is not None and phone != current:
                return WashResult(row, False, (NOT_CUSTOMERS_NUMBER, *decision.codes), phone, (state.customer_id,))
            return WashResult(row, decision.allowed, decision.codes, phone or current, (state.customer_id,) if state else ())
        if phone is None:
            return WashResult(row, False, (NO_NUMBER,))
        answer = self._numbers.get(phone)
        if answer is None:
            answer = self._numbers[phone] = self._number(phone)
        return WashResult(row, answer[0], answer[1], phone, answer[2])

    def _number(self, phone: str) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
        found = self.states_by_phone.get(phone)
        customers: Sequence[CustomerState] = [found] if isinstance(found, CustomerState) else list(found or [])
        if not customers:
            return False, (UNKNOWN_NUMBER,), ()
        if len(customers) == 1:  # the common case: a decision's codes are already denying first, each once
            decision, codes = self._decided(customers[0])
            return decision.allowed, codes, (customers[0].customer_id,)
        decisions = [self.decide(state) for state in customers]
        allowed = all(d.allowed for d in decisions)
        denying = [r.code for d in decisions for r in d.reasons if r.denies]
        supporting = [r.code for d in decisions for r in d.reasons if not r.denies]
        return allowed, tuple(dict.fromkeys([*denying, *supporting])), tuple(s.customer_id for s in customers)


# --- Reading the register (for the CLI and the API; `wash` itself does no I/O) -------------


def load_states_for(session: Any, phones: Iterable[str], customer_ids: Iterable[str] = ()) -> tuple[dict[str, list[CustomerState]], dict[str, CustomerState]]:
    """The states `wash` needs from the register: by phone (E.164, via `customers.phone`) and by customer id."""
    from sqlalchemy import select

    from projections.register import load_states
    from projections.tables import CustomerRow

    wanted_phones = sorted(set(phones))
    ids = set(customer_ids)
    for start in range(0, len(wanted_phones), 500):
        ids.update(session.scalars(select(CustomerRow.customer_id).where(CustomerRow.phone.in_(wanted_phones[start : start + 500]))))
    ordered = sorted(ids)
    states: dict[str, CustomerState] = {}
    for start in range(0, len(ordered), 500):
        states.update(load_states(session, ordered[start : start + 500]))
    wanted = set(wanted_phones)  # once: not per phone of the index
    by_phone = {phone: found for phone, found in index_by_phone(states.values()).items() if phone in wanted}
    return by_phone, states


def phones_of(rows: Iterable[WashRow]) -> list[str]:
    """The readable numbers of these rows, E.164."""
    found = []
    for row in rows:
        if row.phone and row.phone.strip():
            with contextlib.suppress(ValueError):
                found.append(normalise_phone(row.phone))
    return found
