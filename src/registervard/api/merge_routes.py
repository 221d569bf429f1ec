"""Merging a duplicate customer into another over HTTP, for the admin role.

`POST /customers/{customer_id}/merge` with the duplicate in the body merges it into `customer_id` (the customer kept),
with the command line's checks (`registervard.duplicate_merge.merge_check`): 404 when the register has either customer
not, 409 when a rule refuses the merge (the same customer twice, erased, protected identity, merged already, a person
and a company, different identity numbers or population-register status without `force`), 422 for an id that is an
identity number (as the erasure refuses one: the number is personal data, never an id).
202: published; the worker carries it out, and the dropped id then answers with a redirect to the
kept customer (`registervard.api.merged_ids`).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from registervard.api.auth import Principal, authorize
from registervard.api.customers import NOT_FOUND
from registervard.api.errors import BODY_RESPONSES, ERROR_RESPONSES, ApiError, ErrorBody
from registervard.api.params import CUSTOMER_ID_PATTERN, customer_id_path
from registervard.duplicate_merge import NOT_IN_REGISTER, MergePlan, merge_check, publish_merge

router = APIRouter(tags=["customers"], responses=ERROR_RESPONSES)

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "A rule refuses the merge; `error` names it (SAME_CUSTOMER, CUSTOMER_ERASED, PROTECTED_IDENTITY, ALREADY_MERGED, ...).",
    }
}
"""The refusals of a merge the register's state decides."""

_UNPROCESSABLE = frozenset({"INVALID_CUSTOMER_ID"})
"""Refusals of what the caller sent, whatever the register holds: 422."""


class MergeRequest(BaseModel):
    """The duplicate to merge into the customer of the path."""

    dropped_customer_id: str = Field(
        pattern=CUSTOMER_ID_PATTERN, max_length=100, description="The duplicate: merged into the customer of the path, its id then only points there."
    )
    force: bool = Field(
        False,
        description="Merge even when the two have different identity numbers or population-register status; the kept customer's stay.",
    )


@router.post(
    "/customers/{customer_id}/merge",
    status_code=202,
    summary="Merge a duplicate customer into this one",
    responses={**NOT_FOUND, **CONFLICT, **BODY_RESPONSES},
)
async def merge_customers(
    body: MergeRequest, request: Request, customer_id: str = customer_id_path(), principal: Principal = authorize("duplicates_merge")
) -> dict[str, Any]:
    """Publishes CustomersMerged: the customer of the path takes in the duplicate's history, consents and NIX status
    (its own identity, name and contact details stay; the duplicate's fill what it lacks; addresses by effective date),
    and the duplicate's id points to it from then on (`GET /customers/{duplicate}` answers 308 to this customer).
    Asking twice merges once. 202: accepted; the worker carries it out."""
    engine = request.app.state.database.engine()
    plan = await asyncio.to_thread(merge_check, engine, customer_id, body.dropped_customer_id, force=body.force, source=f"API:{principal.key_id}")
    if not isinstance(plan, MergePlan):
        status = 404 if plan.code == NOT_IN_REGISTER else 422 if plan.code in _UNPROCESSABLE else 409
        field = "path.customer_id" if plan.field == "kept_customer_id" else "body.dropped_customer_id"
        reason = _unechoed(plan.reason, {customer_id: "the customer of the path", body.dropped_customer_id: "the duplicate"})
        raise ApiError(status, plan.code, f"{field}: {reason}")
    await publish_merge(request.app.state.settings, plan.event)
    return {
        "kept_customer_id": customer_id,
        "dropped_customer_id": body.dropped_customer_id,
        "event_id": str(plan.event.event_id),
        "status": "accepted",
    }


def _unechoed(reason: str, sent: dict[str, str]) -> str:
    """The reason with the ids the caller sent put in words: the API's errors never echo what was sent."""
    for customer_id in sorted(sent, key=len, reverse=True):
        reason = re.sub(rf"(?<![A-Za-z0-9._:-]){re.escape(customer_id)}(?![A-Za-z0-9._:-])", sent[customer_id], reason)
    return reason
