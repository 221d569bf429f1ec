"""Consents past their lapse date whose expiry the register has not recorded yet.

A consent lapses at 00:00 UTC on its `lapses_on` day; from then on contactability counts it as lapsed
(CONSENT_EXPIRED), whatever the register holds. The register drops it only when ConsentExpired arrives, which the
worker's expiry timer appends (every REGISTERVARD_EXPIRY_CHECK_SECONDS while it runs). Between the two the consent
is still a row in `consents`: `customer show` marks it lapsed, and `status` counts it as work pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from projections.tables import ConsentRow


@dataclass(frozen=True)
class LapsedConsent:
    """A consent the register still holds although it lapsed on `lapsed_on`."""

    customer_id: str
    purpose: str
    channel: str
    company: str
    lapsed_on: date

    def describe(self) -> str:
        """In words, e.g. `TELEMARKETING on PHONE for Acme AB: lapsed on 2025-05-01, expiry not yet recorded`."""
        return f"{self.purpose} on {self.channel} for {self.company}: lapsed on {self.lapsed_on.isoformat()}, expiry not yet recorded"

    def as_dict(self) -> dict[str, str | bool]:
        """As JSON-ready data (no customer id: it is said with the customer)."""
        return {"purpose": self.purpose, "channel": self.channel, "company": self.company, "lapsed_on": self.lapsed_on.isoformat(), "expiry_recorded": False}


def today_utc() -> date:
    """The day it is in UTC: the day a consent's lapse date is compared with, as contactability compares it."""
    return datetime.now(UTC).date()


def lapsed_consents(session: Session, customer_id: str, *, today: date | None = None) -> list[LapsedConsent]:
    """The customer's consents in the register that lapsed on or before `today` (default: today in UTC)."""
    day = today or today_utc()
    rows = session.scalars(
        select(ConsentRow)
        .where(ConsentRow.customer_id == customer_id, ConsentRow.lapses_on.is_not(None), ConsentRow.lapses_on <= day)
        .order_by(ConsentRow.lapses_on, ConsentRow.purpose, ConsentRow.channel, ConsentRow.company)
    )
    return [LapsedConsent(r.customer_id, r.purpose, r.channel, r.company, r.lapses_on) for r in rows if r.lapses_on is not None]


def lapses_not_recorded(session: Session, *, today: date | None = None) -> tuple[int, date | None]:
    """How many consents in the register lapsed on or before `today` (default: today in UTC) without their expiry
    recorded, and the earliest lapse date among them."""
    day = today or today_utc()
    count, oldest = session.execute(
        select(func.count(), func.min(ConsentRow.lapses_on)).where(ConsentRow.lapses_on.is_not(None), ConsentRow.lapses_on <= day)
    ).one()
    return int(count or 0), oldest


def with_lapsed_consents(record: dict[str, Any], lapsed: list[LapsedConsent]) -> dict[str, Any]:
    """A register row with the consents past their lapse date taken out of `active_consents` (contactability does not
    count them either) and listed as `lapsed_consents`, right after it: what `customer show` and the API answer."""
    shown: dict[str, Any] = {}
    for key, value in record.items():
        shown[key] = max(0, value - len(lapsed)) if key == "active_consents" and isinstance(value, int) else value
        if key == "active_consents":
            shown["lapsed_consents"] = lapsed
    shown.setdefault("lapsed_consents", lapsed)
    return shown
