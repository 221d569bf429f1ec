"""The read side of the register: what downstream systems and the CLI see.

A protected identity's name and address are never returned: the projection
writes none while the protection lasts, and this module checks again.

Functions that take `Settings` connect for the one call (the CLI); those that
take an `Engine` or a `Connection` use the caller's (the API's, pooled), with
statements built once so that the engine's compiled cache serves every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from events.customer import CustomerState
from events.settings import Settings
from events.state_codec import from_stored
from projections.database import connect
from projections.merges import merged_customers
from projections.tables import AddressHistoryRow, Base, CompanyContactRow, ConsentRow, CustomerRow, CustomerStateRow, NameHistoryRow, NixStatusRow

_STATE_OF = select(CustomerStateRow.state).where(CustomerStateRow.customer_id == bindparam("customer_id"))
"""Built once: a select built per call costs its construction and its cache key every time."""


def customer_state(db: Connection | Session, customer_id: str) -> CustomerState | None:
    """The fold's stored state of one customer (internal: for decisions such as contactability, never served), or None."""
    plain = db.execute(_STATE_OF, {"customer_id": customer_id}).scalar()
    return from_stored(plain) if plain is not None else None


def customer_record(settings: Settings, customer_id: str) -> dict[str, Any] | None:
    """A customer's row in the register as a dict, or None if there is none."""
    with _session(settings) as session:
        row = session.get(CustomerRow, customer_id)
        return _as_dict(row) if row is not None else None


def customer_history(source: Settings | Engine, customer_id: str) -> dict[str, Any] | None:
    """A customer's address and name history, consents in force and NIX status, or None if the register does not know them.

    Histories are in the fold's order (by effective date; the last entry is the
    current one) and are empty while the customer has a protected identity.
    `source`: the settings (connects for this call) or an engine to use.
    """
    with _session(source) as session:
        customer = session.get(CustomerRow, customer_id)
        if customer is None:
            return None

        def rows(table: type[AddressHistoryRow | NameHistoryRow | ConsentRow | NixStatusRow], *order: Any) -> list[dict[str, Any]]:
            found = session.scalars(select(table).where(table.customer_id == customer_id).order_by(*order))
            return [_as_dict(row, drop=("customer_id",)) for row in found]

        hidden = customer.protected
        return {
            "customer_id": customer_id,
            "protected": hidden,
            "addresses": [] if hidden else rows(AddressHistoryRow, AddressHistoryRow.seq),
            "names": [] if hidden else rows(NameHistoryRow, NameHistoryRow.seq),
            "consents": rows(ConsentRow, ConsentRow.purpose, ConsentRow.channel, ConsentRow.company),
            "nix": rows(NixStatusRow, NixStatusRow.phone),
        }


CONTACT_PERSON_FIELDS = ("customer_id", "status", "protected", "given_names", "surname", "phone", "email")
"""What the company view shows of each contact person: from their register row, so a protected identity has no name."""


def company_contacts(source: Settings | Engine, company_id: str) -> dict[str, Any] | None:
    """A company's contact persons: those it has now, then those who left (latest first); None if the register has no
    customer `company_id`. `source`: the settings (connects for this call) or an engine to use.

    The contact persons of the companies merged into this one as duplicates are its own: their rows still name the
    merged company's id (they belong to the contact person's record, which the merge does not touch), so they are
    read through the merge pointers. A person named by several of them counts once, as a contact person now if by any."""
    with _session(source) as session:
        company = session.get(CustomerRow, company_id)
        if company is None:
            return None
        kind, name = company.kind, company.company_name
        companies = [company_id, *merged_customers(session, [company_id]).get(company_id, [])]
        query = (
            select(CompanyContactRow.left_on, CustomerRow)
            .join(CustomerRow, CustomerRow.customer_id == CompanyContactRow.contact_id)
            .where(CompanyContactRow.company_id.in_(companies))
        )
        found = [(left_on, _as_dict(row)) for left_on, row in session.execute(query).all()]
    found.sort(key=lambda pair: (pair[0] is not None, -(pair[0].toordinal() if pair[0] else 0), pair[1]["customer_id"]))
    first = {pair[1]["customer_id"]: pair for pair in reversed(found)}  # each person's first row (now, else the latest left)
    found = [pair for pair in found if first[pair[1]["customer_id"]] is pair]
    persons = [{**{key: record[key] for key in CONTACT_PERSON_FIELDS}, "left_on": left_on} for left_on, record in found]
    for person in persons:
        if person["protected"]:  # the register holds no name; say so again here
            person["given_names"] = person["surname"] = None
    return {
        "company_id": company_id,
        "kind": kind,
        "company_name": name,
        "contact_persons": [p for p in persons if p["left_on"] is None],
        "former_contact_persons": [p for p in persons if p["left_on"] is not None],
    }


@contextmanager
def _session(source: Settings | Engine) -> Iterator[Session]:
    if isinstance(source, Engine):
        with Session(source) as session:
            yield session
        return
    engine = connect(source.database_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()  # a short-lived engine: leave no pooled connection behind


def _as_dict(row: Base, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    values = {column.key: getattr(row, column.key) for column in inspect(type(row)).columns if column.key not in drop}
    return {key: _utc(value) for key, value in values.items()}


def _utc(value: Any) -> Any:
    """Timestamps are stored in UTC; SQLite hands them back without a zone."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
