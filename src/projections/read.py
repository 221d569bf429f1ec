"""The read side of the register: what downstream systems and the CLI see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from projections.tables import CustomerRow, connect
from registervard.settings import Settings


def customer_record(settings: Settings, customer_id: str) -> dict[str, Any] | None:
    """A customer's row in the register as a dict, or None if there is none."""
    with Session(connect(settings.database_url)) as session:
        row = session.get(CustomerRow, customer_id)
        if row is None:
            return None
        return {column.key: getattr(row, column.key) for column in inspect(CustomerRow).columns}
