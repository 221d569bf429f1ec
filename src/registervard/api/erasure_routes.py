"""Erasure over HTTP (GDPR Art. 17), for the admin role.

Only a customer the register has is erased. The id is checked before anything
is published: an identity number as id is refused (422), because the refused
event would keep it in clear on the dead-letter topic, which is kept forever;
an id the register does not have is 404.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from projections.tables import CustomerRow
from registervard.api.auth import Principal, authorize
from registervard.api.customers import NOT_FOUND, not_found
from registervard.api.errors import BODY_RESPONSES, ERROR_RESPONSES, ApiError
from registervard.api.params import ErasureReasonParam, customer_id_path, looks_like_identity_number
from registervard.erasure import erase

router = APIRouter(tags=["erasure"], responses=ERROR_RESPONSES)


class ErasureRequest(BaseModel):
    """Why the customer's personal data is to be erased."""

    reason: ErasureReasonParam = Field(description="CUSTOMER_REQUEST, RETENTION_EXPIRED or OTHER, in any case.")


@router.post(
    "/customers/{customer_id}/erase", status_code=202, summary="Erase a customer's personal data", responses={**NOT_FOUND, **BODY_RESPONSES}
)
async def erase_customer(
    body: ErasureRequest, request: Request, customer_id: str = customer_id_path(), principal: Principal = authorize("erase")
) -> dict[str, Any]:
    """Publishes CustomerErased. The worker then destroys the customer's data key (their data in the log can no
    longer be read), the register removes their rows, the downstream topic gets a tombstone and every recipient
    is told to purge their copies. Asking twice records one erasure. 202: accepted, carried out by the worker.
    422 when the id is an identity number (use the customer's opaque id: `POST /customers/lookup` finds it);
    404 when the register has no such customer."""
    if looks_like_identity_number(customer_id):
        raise ApiError(
            422,
            "INVALID_CUSTOMER_ID",
            "path.customer_id: is an identity number; erase by the customer's opaque id (POST /customers/lookup finds it).",
        )
    if not await asyncio.to_thread(_registered, request, customer_id):
        raise not_found()
    event = await erase(request.app.state.settings, customer_id, body.reason, source=f"API:{principal.key_id}")
    return {"customer_id": customer_id, "event_id": str(event.event_id), "status": "accepted"}


def _registered(request: Request, customer_id: str) -> bool:
    with Session(request.app.state.database.engine()) as session:
        return session.get(CustomerRow, customer_id) is not None
