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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.catalog import Channel, ConsentPurpose
from events.contactability import Rules, may_contact
from events.customer import CustomerState
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
"""Reasons of the wash itself (they all deny), beside those of `may_contact`."""


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
    """For each row: may `company` call it at `at` for telemarketing, and why (not)."""
    return [wash_one(row, states_by_phone, company, at, rules, states_by_id=states_by_id) for row in rows]


def wash_one(
    row: WashRow,
    states_by_phone: Mapping[str, CustomerState | Sequence[CustomerState]],
    company: str,
    at: datetime,
    rules: Rules | None = None,
    *,
    states_by_id: Mapping[str, CustomerState] | None = None,
) -> WashResult:
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
    by_phone = {phone: found for phone, found in index_by_phone(states.values()).items() if phone in set(wanted_phones)}
    return by_phone, states


def phones_of(rows: Iterable[WashRow]) -> list[str]:
    """The readable numbers of these rows, E.164."""
    found = []
    for row in rows:
        if row.phone and row.phone.strip():
            with contextlib.suppress(ValueError):
                found.append(normalise_phone(row.phone))
    return found
