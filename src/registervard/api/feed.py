"""The change feed for downstream systems, and the audit trail's verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import BigInteger, literal, select
from sqlalchemy.orm import Session

from projections.audit import AuditRow, verify_chain
from projections.tables import OffsetRow
from registervard.api.auth import Principal, authorize
from registervard.api.errors import ERROR_RESPONSES
from registervard.api.params import MAX_CURSOR
from registervard.api.records import record_disclosures, records

router = APIRouter(responses=ERROR_RESPONSES)

SCAN_FACTOR = 20
"""A page reads at most limit × SCAN_FACTOR trail entries, so a burst of events about few customers cannot make one request unbounded."""


def changed_customers(session: Session, cursor: int, limit: int) -> tuple[list[tuple[str, int]], int]:
    """The distinct customers with trail entries after `cursor` (up to `limit`), each with its last seq in the page, and the next cursor.

    The page stops before the first entry the register projection has not
    applied yet, so that every customer returned is served in a state that
    includes every change up to `next_cursor`.
    """
    applied = {
        (row.topic, row.partition): row.next_offset
        for row in session.scalars(select(OffsetRow).where(OffsetRow.projection == "register"))
    }
    seen: dict[str, int] = {}
    next_cursor = cursor
    budget = limit * SCAN_FACTOR
    query = select(AuditRow.seq, AuditRow.customer_id, AuditRow.topic, AuditRow.partition, AuditRow.offset)
    after = cursor
    while budget > 0:
        # Bound as 64-bit: the seq column is 32-bit on PostgreSQL, which refuses a larger value typed like the column.
        chunk = session.execute(query.where(AuditRow.seq > literal(after, BigInteger())).order_by(AuditRow.seq).limit(min(budget, 1000))).all()
        if not chunk:
            break
        for seq, customer_id, topic, partition, offset in chunk:
            if offset >= applied.get((topic, partition), 0):
                return list(seen.items()), next_cursor  # the register has not got here yet
            if customer_id not in seen and len(seen) == limit:
                return list(seen.items()), next_cursor
            seen[customer_id] = seq
            next_cursor = seq
        budget -= len(chunk)
        after = chunk[-1][0]
    return list(seen.items()), next_cursor


@router.get("/changes", tags=["changes"], summary="Everything that changed since a cursor")
def changes(
    request: Request,
    cursor: int = Query(0, ge=0, le=MAX_CURSOR, description="The `next_cursor` of your previous call; 0 for everything from the beginning."),
    limit: int = Query(100, ge=1, le=1000, description="At most this many customers per page."),
    principal: Principal = authorize("changes"),
) -> dict[str, Any]:
    """The customers whose data changed after `cursor`, each with its **current** register row, or a tombstone
    `{"customer_id": ..., "erased": true}` once erased.

    How to consume: start with cursor 0; store the `next_cursor` you get **after** you have processed the page
    and ask again with it. When `next_cursor` equals your cursor there is nothing new yet: wait and ask again.
    A customer may appear again in a later page (it changed again); apply the record you get, it is the newest.
    The cursor is the audit trail's sequence number (`projections.audit.AuditRow.seq`), gap-free over every
    event; a page never goes past an event the register has not applied yet."""
    with Session(request.app.state.database.engine()) as session, session.begin():
        changed, next_cursor = changed_customers(session, cursor, limit)
        found = records(session, [c for c, _ in changed])
        items: list[dict[str, Any]] = []
        for customer_id, seq in changed:
            record = found.get(customer_id)
            if record is None or record["status"] == "ERASED":
                items.append({"customer_id": customer_id, "seq": seq, "erased": True})
            else:
                items.append({"customer_id": customer_id, "seq": seq, "erased": False, "record": record})
        record_disclosures(session, principal, [i["customer_id"] for i in items if not i["erased"]], "changes")
    return {"cursor": cursor, "next_cursor": next_cursor, "changes": items}


@router.get("/audit/verify", tags=["audit"], summary="Check the audit trail's hash chain")
def audit_verify(request: Request, principal: Principal = authorize("audit_verify")) -> dict[str, Any]:
    """Recompute every entry's hash and link; names the first entry that breaks the chain, if any."""
    with Session(request.app.state.database.engine()) as session:
        result = verify_chain(session)
    return {
        "intact": result.intact,
        "entries": result.entries,
        "broken_seq": result.broken_seq,
        "problem": result.problem,
        "reason": result.reason,
    }
