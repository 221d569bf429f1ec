"""Erasure (GDPR Art. 17) and retention: the functions behind `registervard erase` and `registervard retention`, and the API's.

Erasing a customer publishes `CustomerErased` to the intake. When the worker
admits it, it appends it and its consequences (ConsentWithdrawn(ERASED) for each
consent, PersonalDataPurgeRequested(ALL): the Art. 19 notice to every
recipient), then destroys the customer's data key: every personal field of
theirs in the log, sealed with that key, can no longer be read by anyone. The
projections fold the erasure (no personal rows left), the downstream topic gets
a tombstone, and every replay or rebuild from then on shows the customer as
erased. The audit trail keeps the non-personal facts and still verifies: it
hashes the stored (sealed) bytes.

The erasure's event id is derived from the customer id, so asking twice (or a
retention run repeated) records one erasure.

Retention: SPAR keeps deregistered people 3 years; so do we by default
(REGISTERVARD_RETENTION_YEARS). A customer is due when their death or
emigration (the earlier recorded date) is more than that long ago.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events.catalog import CustomerErased, Envelope, ErasureReason
from events.customer import add_months
from events.publish import Publisher
from events.settings import Settings
from events.validation import is_identity_number
from projections.search import Found, customer_summary
from projections.tables import CustomerRow
from registervard.bootstrap import bootstrap

ERASURE_ID_NAMESPACE = uuid.UUID("5b0c7a4e-9d2f-4e61-a3c8-1f7e6d2b9a40")
SOURCE = "REGISTERVARD"
DEFAULT_RETENTION_YEARS = 3


def erasure_event(customer_id: str, reason: ErasureReason, *, source: str = SOURCE, at: datetime | None = None) -> CustomerErased:
    """The CustomerErased for a customer; its id depends on the customer only, so it takes effect once."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    envelope = Envelope(
        event_id=uuid.uuid5(ERASURE_ID_NAMESPACE, customer_id),
        customer_id=customer_id,
        occurred_at=moment,
        recorded_at=moment,
        source=source,
    )
    return CustomerErased(envelope=envelope, reason=reason)


@dataclass(frozen=True)
class NotErasable:
    """Why a customer id cannot be erased, as advice to show."""

    advice: str


def erasure_target(engine: Engine, customer_id: str) -> Found | NotErasable:
    """The customer `customer_id` as the register has them (kind, status, name and city unless protected), or why they
    cannot be erased: the id is an identity number, or the register has no such customer.

    Checked before anything is published: an erasure of an unknown customer would
    only become a dead letter (one naming an identity number, kept forever).
    """
    if is_identity_number(customer_id):
        return NotErasable(
            "That is an identity number, not a customer id; nothing was erased. Erase by the customer's id: "
            "`registervard customer find NUMBER` finds it."
        )
    found = customer_summary(engine, customer_id)
    if found is None:
        return NotErasable(
            f"No customer {customer_id} in the register, so nothing was erased. Check the id (`registervard customer find` finds "
            "customers by identity number, name, phone or e-mail); a customer registered moments ago can be erased once the "
            "projection has applied the registration (registervard project)."
        )
    return found


def describe(found: Found) -> str:
    """A customer in a few words for a question about them: "person, active, Anna Svensson, Stockholm"."""
    parts = [(found.kind or "customer").lower(), found.badge]
    if found.protected:
        parts.append("name and address not shown")
    else:
        parts += [part for part in (found.name, found.city) if part]
    return ", ".join(parts)


async def erase(settings: Settings, customer_id: str, reason: ErasureReason, *, source: str = SOURCE) -> CustomerErased:
    """Ask for a customer's erasure: publish CustomerErased to the intake and wait until the broker has it."""
    event = erasure_event(customer_id, reason, source=source)
    async with Publisher(settings) as publisher:
        await publisher.publish([event])
    return event


async def erase_many(
    settings: Settings,
    customer_ids: Sequence[str],
    reason: ErasureReason,
    *,
    source: str = SOURCE,
    chunk: int = 500,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Erase many customers (a retention run), a chunk at a time; returns how many erasures were published."""
    done = 0
    async with Publisher(settings) as publisher:
        for start in range(0, len(customer_ids), chunk):
            part = customer_ids[start : start + chunk]
            done += await publisher.publish([erasure_event(c, reason, source=source) for c in part])
            if on_progress:
                on_progress(done, len(customer_ids))
    return done


@dataclass(frozen=True)
class Due:
    """A deregistered customer kept longer than the retention period."""

    customer_id: str
    status: str
    deregistered_on: date


def retention_due(settings: Settings, *, years: int | None = None, today: date | None = None, engine: Engine | None = None) -> list[Due]:
    """Customers deceased or emigrated more than `years` ago (and not yet erased), from the register, oldest first.

    `engine`: the register's, as the caller's bootstrap built it; default: this process's for `settings`.
    """
    years = settings.retention_years if years is None else years
    cutoff = add_months(today or datetime.now(UTC).date(), -12 * years)
    with Session(engine or bootstrap(settings).engine) as session:
        rows = session.execute(
            select(CustomerRow.customer_id, CustomerRow.status, CustomerRow.deceased_on, CustomerRow.emigrated_on).where(
                CustomerRow.status.in_(("DECEASED", "EMIGRATED"))
            )
        ).all()
    due = []
    for customer_id, status, deceased_on, emigrated_on in rows:
        dates = [d for d in (deceased_on, emigrated_on) if d is not None]
        if dates and min(dates) < cutoff:
            due.append(Due(customer_id, status, min(dates)))
    return sorted(due, key=lambda d: (d.deregistered_on, d.customer_id))
