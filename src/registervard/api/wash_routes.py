"""The NIX wash over HTTP: may this company call these numbers (or customers) now, and why not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from events.contactability import load_rules
from projections.wash import WashRow, load_states_for, phones_of, wash
from registervard.api.auth import Principal, authorize
from registervard.api.disclosure_writer import DisclosureWriter, disclosure_rows
from registervard.api.errors import BODY_RESPONSES, ERROR_RESPONSES
from registervard.api.params import CUSTOMER_ID_PATTERN, Moment

router = APIRouter(tags=["wash"], responses=ERROR_RESPONSES)

MAX_ROWS = 10_000


class WashEntry(BaseModel):
    """One row of a call list: a phone number, a customer id, or both."""

    phone: str | None = Field(default=None, max_length=40, examples=["+46701234567"])
    customer_id: str | None = Field(default=None, pattern=CUSTOMER_ID_PATTERN, description="The customer's opaque id.")


class WashRequest(BaseModel):
    """A call list to wash against the register's NIX status and consents."""

    company: str = Field(min_length=1, max_length=300, description="The company that would call; consents cover only the company named.")
    at: Moment | None = Field(default=None, description="When the calls would be made, with seconds and a time zone, in 1900-2099; now if left out.")
    rows: list[WashEntry] = Field(max_length=MAX_ROWS)


@router.post("/wash", summary="Wash a call list: may the company call each number now, and why not", responses=BODY_RESPONSES)
def wash_call_list(body: WashRequest, request: Request, principal: Principal = authorize("wash")) -> dict[str, Any]:
    """For each row, in order: `may_call` and every reason code (denying first), as `registervard wash` gives them.
    A number the register has no customer for is UNKNOWN_NUMBER: it cannot be washed against our NIX data."""
    moment = body.at or datetime.now(UTC)
    rows = [WashRow(phone=r.phone, customer_id=r.customer_id) for r in body.rows]
    with Session(request.app.state.database.engine()) as session:
        by_phone, by_id = load_states_for(session, phones_of(rows), [r.customer_id for r in rows if r.customer_id])
    results = wash(rows, by_phone, body.company, moment, load_rules(request.app.state.settings.contact_rules), states_by_id=by_id)
    writer: DisclosureWriter = request.app.state.disclosures
    writer.record(disclosure_rows(principal.name, sorted({c for r in results for c in r.customer_ids}), "wash"))  # before the answer
    return {
        "company": body.company,
        "at": moment.isoformat(),
        "results": [
            {"row": i, "phone": r.phone, "customer_ids": list(r.customer_ids), "may_call": r.may_call, "reasons": list(r.reasons)}
            for i, r in enumerate(results)
        ],
    }
