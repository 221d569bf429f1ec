"""Erasure over HTTP (GDPR Art. 17), for the admin role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from events.catalog import ErasureReason
from registervard.api.auth import Principal, authorize
from registervard.api.errors import ERROR_RESPONSES
from registervard.erasure import erase

router = APIRouter(tags=["erasure"], responses=ERROR_RESPONSES)


class ErasureRequest(BaseModel):
    """Why the customer's personal data is to be erased."""

    reason: ErasureReason = Field(description="CUSTOMER_REQUEST, RETENTION_EXPIRED or OTHER.")


@router.post("/customers/{customer_id}/erase", status_code=202, summary="Erase a customer's personal data")
async def erase_customer(customer_id: str, body: ErasureRequest, request: Request, principal: Principal = authorize("erase")) -> dict[str, Any]:
    """Publishes CustomerErased. The worker then destroys the customer's data key (their data in the log can no
    longer be read), the register removes their rows, the downstream topic gets a tombstone and every recipient
    is told to purge their copies. Asking twice records one erasure. 202: accepted, carried out by the worker."""
    event = await erase(request.app.state.settings, customer_id, body.reason, source=f"API:{principal.key_id}")
    return {"customer_id": customer_id, "event_id": str(event.event_id), "status": "accepted"}
