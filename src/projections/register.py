"""The register projection: each customer's current record, folded from their events.

The fold (`events.customer.evolve`) decides what a customer's state is; this
module only stores it: the full state for the fold to go on from, the register
row that downstream systems read, the customer's rows in the detail tables
(address and name history, consents, NIX status, company contact persons), and
an outbox row per changed customer for the downstream topic's publisher, all in
the runner's transaction. `customer_rows` is every row a customer has in the
register; the rebuild (`projections.rebuild`) writes the very same rows into its
fresh tables, with `replace_rows` as here.

What may be disclosed is decided here, from the state alone: a protected
identity's name and address appear nowhere (no register columns, no history
rows) until the protection is lifted, when the state still has them. An erased
customer has no personal rows at all. A customer merged into another as a
duplicate has no register row and no detail rows either, only the fold's state
and a pointer (`customer_merges`) to the customer that took in what they held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstrumentedAttribute, Session

from events.catalog import Event
from events.customer import CustomerState, Status, evolve, postal_history
from events.event_log import LoggedEvent
from events.state_codec import from_stored, to_stored
from projections.lookup import stored_number_hash
from projections.sql import execute_rows, insert_fresh, upsert
from projections.tables import (
    AddressHistoryRow,
    Base,
    CompanyContactRow,
    ConsentRow,
    CustomerRow,
    CustomerStateRow,
    IdentityLookupRow,
    MergeRow,
    NameHistoryRow,
    NixStatusRow,
    OutboxRow,
)

DETAIL_TABLES: dict[type[Base], InstrumentedAttribute[str]] = {
    AddressHistoryRow: AddressHistoryRow.customer_id,
    NameHistoryRow: NameHistoryRow.customer_id,
    ConsentRow: ConsentRow.customer_id,
    NixStatusRow: NixStatusRow.customer_id,
    CompanyContactRow: CompanyContactRow.contact_id,
    IdentityLookupRow: IdentityLookupRow.customer_id,
    MergeRow: MergeRow.customer_id,
}
"""The tables holding several rows per customer, and the column naming the customer the rows belong to."""

ROW_TABLES: dict[type[Base], InstrumentedAttribute[str]] = {
    CustomerStateRow: CustomerStateRow.customer_id,
    CustomerRow: CustomerRow.customer_id,
    **DETAIL_TABLES,
}
"""Every table `customer_rows` fills (every register table but the outbox), and the column naming the customer a row belongs to."""

Rows = dict[type[Base], list[dict[str, Any]]]
"""One customer's rows, per table."""

_CHUNK = 500
"""Customers per DELETE ... IN (...), well below every database's limit on bound parameters."""


class RegisterProjection:
    """Folds events into `customer_state`, `customers`, the detail tables and `downstream_outbox`."""

    name = "register"

    def __init__(self, lookup_key: str | None = None) -> None:
        self.lookup_key = lookup_key
        """Secret of the identity-number lookup's keyed hash (`Settings.lookup_key`)."""

    def apply(self, session: Session, batch: Sequence[LoggedEvent]) -> None:
        """Fold a batch of events into the register, inside the caller's transaction."""
        events = [logged.event for logged in batch]
        states = load_states(session, sorted({e.customer_id for e in events}))
        changed = sorted(fold_events(states, events))
        if not changed:
            return
        rows = [customer_rows(states[c], self.lookup_key) for c in changed]
        # One row per customer: upserted, which locks them in customer order as downstream.acknowledge expects.
        for table in (CustomerStateRow, CustomerRow):
            upsert(session, table, [row for per_customer in rows for row in per_customer[table]])
        gone = [c for c, per_customer in zip(changed, rows, strict=True) if not per_customer[CustomerRow]]
        if gone:  # merged into another customer: no register row any more (downstream gets a tombstone)
            session.execute(delete(CustomerRow).where(CustomerRow.customer_id.in_(gone)))
        replace_rows(session, changed, rows, {table: table.__table__ for table in DETAIL_TABLES})
        upsert(session, OutboxRow, [{"customer_id": c} for c in changed])


def fold_events(states: dict[str, CustomerState], events: Iterable[Event]) -> set[str]:
    """Fold events, in log order, into `states` (customer id -> state) with `evolve`; return the customers whose state changed."""
    changed: set[str] = set()
    for event in events:
        before = states.get(event.customer_id)
        after = evolve(before, event)
        if after is not before:  # evolve hands back the same state for an event it has already applied
            states[event.customer_id] = after
            changed.add(event.customer_id)
    return changed


def replace_rows(
    db: Session | Connection,
    customer_ids: Sequence[str],
    rows: Sequence[Rows],
    into: Mapping[type[Base], Table],
    *,
    fresh: bool = False,
) -> None:
    """Replace these customers' rows (`rows`: their `customer_rows`) in each table of `into`.

    `into` maps a register table to the table written: its own, or a rebuild's
    copy of it. One DELETE per table and chunk of customers (none when `fresh`:
    they have no rows there yet), then one executemany INSERT (COPY into a
    fresh table on PostgreSQL).
    """
    for table, target in into.items():
        if not fresh:
            owner = target.c[ROW_TABLES[table].key]
            for start in range(0, len(customer_ids), _CHUNK):
                db.execute(delete(target).where(owner.in_(customer_ids[start : start + _CHUNK])))
        new_rows = [row for per_customer in rows for row in per_customer[table]]
        if fresh and isinstance(db, Connection):
            insert_fresh(db, target, new_rows)  # COPY on PostgreSQL
        else:
            execute_rows(db, insert(target), new_rows)


def load_states(session: Session, customer_ids: Sequence[str]) -> dict[str, CustomerState]:
    """The stored fold state of each of these customers that has one."""
    # Columns, not mapped objects: the states are read to be folded on, never changed through the ORM.
    table = CustomerStateRow.__table__
    rows = session.execute(select(table.c.customer_id, table.c.state).where(table.c.customer_id.in_(customer_ids)))
    return {customer_id: from_stored(state) for customer_id, state in rows}


def customer_rows(state: CustomerState, lookup_key: str | None = None) -> Rows:
    """The customer's rows in every register table but the outbox (`ROW_TABLES`): the fold's state, the register row
    and the detail rows, the identity lookup's hashed with `lookup_key` (`Settings.lookup_key`). A customer merged into
    another has the fold's state and the pointer to the other only."""
    if state.merged_into is not None:
        pointer: dict[type[Base], list[dict[str, Any]]] = {table: [] for table in DETAIL_TABLES}
        pointer[MergeRow] = [{"customer_id": state.customer_id, "merged_into": state.merged_into}]
        return {CustomerStateRow: [{"customer_id": state.customer_id, "state": to_stored(state)}], CustomerRow: [], **pointer}
    return {
        CustomerStateRow: [{"customer_id": state.customer_id, "state": to_stored(state)}],
        CustomerRow: [register_row(state)],
        **detail_rows(state, lookup_key),
    }


def register_row(state: CustomerState) -> dict[str, Any]:
    """The register's row for a customer: what downstream may see."""
    name = None if state.protected else state.name
    address = None if state.protected else state.address
    address_since = None if state.protected else state.address_since
    return dict(
        customer_id=state.customer_id,
        kind=state.kind.value if state.kind else None,
        status=state.status.value,
        protected=state.protected,
        identity_number=state.identity_number,
        given_names=name.given_names if name else None,
        surname=name.surname if name else None,
        company_name=state.company_name,
        care_of=address.care_of if address else None,
        street=address.street if address else None,
        postal_code=address.postal_code if address else None,
        city=address.city if address else None,
        country=address.country if address else None,
        address_since=address_since,
        phone=state.contact.phone if state.contact else None,
        email=state.contact.email if state.contact else None,
        civil_status=state.civil_status.value if state.civil_status else None,
        deceased_on=state.deceased_on,
        emigrated_on=state.emigrated_on,
        active_consents=len(state.consents),
        nix_registered=bool(state.nix_numbers),
        events_applied=state.events_applied,
        updated_at=datetime.now(UTC),
        immigrated_on=state.immigrated_on,
        deregistered_on=state.deregistered_on,
        deregistration_cause=state.deregistration_cause,
        contact_person_for=state.contact_person_for,
        marketing_opt_outs=",".join(sorted(channel.value for channel in state.opted_out)) or None,
    )


def detail_rows(state: CustomerState, lookup_key: str | None = None) -> dict[type[Base], list[dict[str, Any]]]:
    """The customer's rows in each detail table: what downstream may see of their history, consents and NIX status."""
    rows: dict[type[Base], list[dict[str, Any]]] = {table: [] for table in DETAIL_TABLES}
    if state.status is Status.ERASED:
        return rows  # the fold keeps no personal data of an erased customer; neither do we
    c = state.customer_id
    if not state.protected:
        rows[AddressHistoryRow] = [
            dict(
                customer_id=c,
                seq=seq,
                effective_date=entry.effective_date,
                care_of=entry.value.care_of,
                street=entry.value.street,
                postal_code=entry.value.postal_code,
                city=entry.value.city,
                country=entry.value.country,
                event_id=entry.event_id,
            )
            for seq, entry in enumerate(postal_history(state))  # the postal address over time: the row's address is its last
        ]
        rows[NameHistoryRow] = [
            dict(
                customer_id=c,
                seq=seq,
                effective_date=entry.effective_date,
                given_names=entry.value.given_names,
                surname=entry.value.surname,
                event_id=entry.event_id,
            )
            for seq, entry in enumerate(state.names)
        ]
    if state.identity_number:
        rows[IdentityLookupRow] = [dict(lookup_hash=stored_number_hash(state.identity_number, lookup_key), customer_id=c)]
    rows[ConsentRow] = [
        dict(
            customer_id=c,
            purpose=consent.purpose.value,
            channel=consent.channel.value,
            company=consent.company,
            given_at=consent.given_at.astimezone(UTC),
            overrides_nix=consent.overrides_nix,
            valid_until=consent.valid_until,
            lapses_on=consent.lapses_on,
            event_id=consent.event_id,
        )
        for consent in state.consents
    ]
    rows[NixStatusRow] = [dict(customer_id=c, phone=entry.phone, registered=entry.registered, as_of=entry.as_of) for entry in state.nix]
    # The company the customer is a contact person of, and those they left (the latest leaving of each, and none of the
    # company they are a contact person of again): one row per company, as the table's key asks.
    left = {role.company_id: role.left_on for role in state.past_contact_roles if role.company_id != state.contact_person_for}
    current = [dict(company_id=state.contact_person_for, contact_id=c, left_on=None)] if state.contact_person_for else []
    rows[CompanyContactRow] = current + [dict(company_id=company, contact_id=c, left_on=left_on) for company, left_on in sorted(left.items())]
    return rows
