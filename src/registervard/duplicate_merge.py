"""Merging a duplicate customer into another: the functions behind `registervard duplicates merge` and the API's.

A merge is checked against the register first (`merge_check`: both customers there, neither erased nor protected nor
merged already, the same kind, the same identity number and population-register status unless forced), so that a
refused merge never becomes a dead letter. It then publishes `CustomersMerged` keyed by the dropped customer
(`events.merging.merge_event`); the worker admits it, marks the dropped customer merged, and sends the same fact
keyed by the kept customer with what the dropped customer's record held; the kept customer's worker admits that, and
the register folds it into the kept customer's record. `wait_for_merge` waits until the register shows both halves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events.catalog import CustomersMerged, ProtectedIdentitySet
from events.merging import SOURCE, merge_event, pair_refusal
from events.publish import Publisher
from events.refusal import Refusal
from events.settings import Settings
from events.validation import is_identity_number
from projections.audit import AuditRow
from projections.merges import merged_into
from projections.read import customer_state
from projections.search import Found, customer_summary

POLL_SECONDS = 0.5
"""How often `wait_for_merge` looks at the register again."""

NOT_IN_REGISTER = "UNKNOWN_CUSTOMER"


@dataclass(frozen=True)
class MergePlan:
    """A merge the register allows: the event to publish, and the two customers as a search shows them."""

    event: CustomersMerged
    kept: Found
    dropped: Found


def merge_check(engine: Engine, kept_id: str, dropped_id: str, *, force: bool = False, source: str = SOURCE) -> MergePlan | Refusal:
    """The merge of `dropped_id` into `kept_id` if the register allows it, or the refusal that names the rule."""
    for field, customer_id in (("kept_customer_id", kept_id), ("dropped_customer_id", dropped_id)):
        if is_identity_number(customer_id):  # not repeated: an identity number is personal data
            advice = "is an identity number, not a customer id; `registervard customer find NUMBER` finds the customer"
            return Refusal(field, advice, code="INVALID_CUSTOMER_ID")
    event = merge_event(kept_id, dropped_id, at=datetime.now(UTC), forced=force, source=source)
    with Session(engine) as session:
        kept, dropped = customer_state(session, kept_id), customer_state(session, dropped_id)
        refusal = pair_refusal(kept, dropped, event)
        if refusal is not None and refusal.code == NOT_IN_REGISTER:
            refusal = _unknown(session, refusal, kept_id if kept is None or not kept.registered else dropped_id)
        if refusal is None and _protected_before(session, dropped_id):
            refusal = Refusal(
                "dropped_customer_id",
                f"{dropped_id} has had a protected identity: views of the past leave out the names and addresses of such a customer, "
                "and those of another record would not; keep this customer and merge the other one into it",
                code="PROTECTED_IDENTITY",
            )
    if refusal is not None:
        return refusal
    kept_found, dropped_found = customer_summary(engine, kept_id), customer_summary(engine, dropped_id)
    assert kept_found is not None and dropped_found is not None  # both registered and neither merged: both have a row
    return MergePlan(event, kept_found, dropped_found)


def _protected_before(session: Session, customer_id: str) -> bool:
    """Whether the audit trail holds a protected identity of the customer at any time (lifted since, or it would be now)."""
    protected = select(AuditRow.seq).where(AuditRow.customer_id == customer_id, AuditRow.event_type == ProtectedIdentitySet.__name__)
    return bool(session.execute(select(exists(protected))).scalar())


def _unknown(session: Session, refusal: Refusal, customer_id: str) -> Refusal:
    """The refusal of a customer the register does not have, with advice: where a merged id points, or how to look."""
    pointer = merged_into(session, customer_id)
    if pointer is not None:
        return Refusal(refusal.field, f"{customer_id} was merged into {pointer} already", code="ALREADY_MERGED")
    return Refusal(
        refusal.field,
        f"no customer {customer_id} in the register; check the id (`registervard customer find`), or wait until the projection "
        "has applied a registration made moments ago",
        code=NOT_IN_REGISTER,
    )


async def publish_merge(settings: Settings, event: CustomersMerged) -> None:
    """Publish the merge to the intake (keyed by the dropped customer) and wait until the broker has it."""
    async with Publisher(settings) as publisher:
        await publisher.publish([event])


def merge_done(engine: Engine, kept_id: str, dropped_id: str) -> bool:
    """Whether the register shows the merge: the dropped customer points to the kept one, which has taken them in."""
    with Session(engine) as session:
        kept, dropped = customer_state(session, kept_id), customer_state(session, dropped_id)
    return dropped is not None and dropped.merged_into == kept_id and kept is not None and dropped_id in kept.merged_from


def wait_for_merge(engine: Engine, kept_id: str, dropped_id: str, *, timeout: float) -> bool:
    """Wait until the register shows the merge (`merge_done`); False if it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not merge_done(engine, kept_id, dropped_id):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True
