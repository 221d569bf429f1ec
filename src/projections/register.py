"""The register projection: each customer's current record, folded from their events.

The fold (`events.customer.evolve`) decides what a customer's state is; this
module only stores it: the full state for the fold to go on from, and the
register row that downstream systems read, with a protected identity's name
and address left out, and an outbox row per changed customer for the
downstream topic's publisher, all in the runner's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from events.convert import from_plain, to_plain
from events.customer import CustomerState, evolve
from projections.runner import LoggedEvent
from projections.sql import upsert
from projections.tables import CustomerRow, CustomerStateRow, OutboxRow


class RegisterProjection:
    """Folds events into `customer_state` and `customers`."""

    name = "register"

    def apply(self, session: Session, batch: Sequence[LoggedEvent]) -> None:
        """Fold a batch of events into the register, inside the caller's transaction."""
        events = [logged.event for logged in batch]
        customer_ids = sorted({e.customer_id for e in events})
        states = load_states(session, customer_ids)
        before = dict(states)
        for event in events:
            states[event.customer_id] = evolve(states.get(event.customer_id), event)
        changed = [c for c in customer_ids if states.get(c) is not before.get(c)]
        upsert(session, CustomerStateRow, [{"customer_id": c, "state": to_plain(states[c], for_json=True)} for c in changed])
        upsert(session, CustomerRow, [register_row(states[c]) for c in changed])
        upsert(session, OutboxRow, [{"customer_id": c} for c in changed])


def load_states(session: Session, customer_ids: Sequence[str]) -> dict[str, CustomerState]:
    """The stored fold state of each of these customers that has one."""
    rows = session.scalars(select(CustomerStateRow).where(CustomerStateRow.customer_id.in_(customer_ids)))
    return {row.customer_id: from_plain(CustomerState, row.state) for row in rows}


def register_row(state: CustomerState) -> dict[str, Any]:
    """The register's row for a customer: what downstream may see."""
    name = None if state.protected else state.name
    address = None if state.protected else state.address
    address_since = None if state.protected or not state.addresses else state.addresses[-1].effective_date
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
    )
