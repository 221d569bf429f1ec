"""Where a merged customer's id points: reading the register's `customer_merges` pointers.

A customer merged into another as a duplicate (CustomersMerged) keeps their id as a pointer to the kept customer
(`tables.MergeRow`, written by the register projection). Reads of the id follow it: `customer show`, the API's
`GET /customers/{id}`, the extract. A kept customer may itself be merged later, so a pointer is followed to the end
of its chain; `merged_into` stops after `MAX_CHAIN` steps, which no chain of merges the worker admits can reach (a
customer already merged is never merged again, so there is no cycle).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from projections.tables import MergeRow

MAX_CHAIN = 100
"""How many pointers `merged_into` follows at most."""


def merged_into(db: Session | Connection, customer_id: str) -> str | None:
    """The customer `customer_id` was merged into, at the end of the chain of merges; None if it was not merged."""
    found: str | None = None
    current = customer_id
    for _ in range(MAX_CHAIN):
        target = db.execute(select(MergeRow.merged_into).where(MergeRow.customer_id == current)).scalar()
        if target is None:
            break
        found = current = target
    return found


def merged_customers(db: Session | Connection, customer_ids: Iterable[str]) -> dict[str, list[str]]:
    """For each of `customer_ids`, the customers merged into it (directly or through customers merged into those), in
    id order; customers nothing was merged into are left out."""
    result: dict[str, list[str]] = {}
    roots = {c: c for c in customer_ids}  # a customer whose merged ones to look for -> the customer it counts for
    for _ in range(MAX_CHAIN):
        if not roots:
            break
        rows = db.execute(select(MergeRow.customer_id, MergeRow.merged_into).where(MergeRow.merged_into.in_(sorted(roots)))).all()
        next_roots: dict[str, str] = {}
        for merged, into in rows:
            owner = roots[into]
            result.setdefault(owner, []).append(merged)
            next_roots[merged] = owner
        roots = next_roots
    return {owner: sorted(ids) for owner, ids in result.items()}
