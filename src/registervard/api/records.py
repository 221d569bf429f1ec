"""The register's rows as the API returns them, and the record of each disclosure.

`record_dict` returns the same dict as `projections.read.customer_record` (a
test holds them equal), read on the API's pooled engine instead of a fresh one
per call, and for many customers in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, inspect, select
from sqlalchemy.orm import Session

from projections.access import DisclosureRow
from projections.tables import CustomerRow
from registervard.api.auth import Principal
from registervard.api.roles import ROLE_HIDDEN_FIELDS

_CHUNK = 500


def record_dict(row: CustomerRow) -> dict[str, Any]:
    """A register row as a dict of its columns; timestamps in UTC (SQLite hands them back without a zone)."""
    values = {column.key: getattr(row, column.key) for column in inspect(CustomerRow).columns}
    return {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v for k, v in values.items()}


def records(session: Session, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The register rows of these customers that exist, by customer id."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(customer_ids), _CHUNK):
        rows = session.scalars(select(CustomerRow).where(CustomerRow.customer_id.in_(customer_ids[start : start + _CHUNK])))
        found.update({row.customer_id: record_dict(row) for row in rows})
    return found


def for_role(record: dict[str, Any], role: str) -> dict[str, Any]:
    """The record without the fields the role does not see (roles.ROLE_HIDDEN_FIELDS)."""
    hidden = ROLE_HIDDEN_FIELDS.get(role, frozenset())
    return {k: v for k, v in record.items() if k not in hidden} if hidden else record


def record_disclosures(session: Session, principal: Principal, customer_ids: Iterable[str], purpose: str) -> None:
    """Note that the key's holder received these customers' data through the API, in the caller's transaction.

    The response is sent only after this commits: a disclosure that cannot be recorded is not made.
    """
    now = datetime.now(UTC)
    rows = [
        {"customer_id": c, "recipient": principal.name, "channel": "api", "purpose": purpose, "disclosed_at": now}
        for c in dict.fromkeys(customer_ids)
    ]
    if rows:
        session.execute(insert(DisclosureRow), rows)
