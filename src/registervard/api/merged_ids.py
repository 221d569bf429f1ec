"""Reads of a customer id merged into another answer with a redirect to the kept customer (308 Permanent Redirect).

The dropped id is a pointer (`projections.merges`): `GET /customers/{id}` and its sub-resources answer 308 with
`Location` naming the same resource of the kept customer (query string kept) and the body
`{"error": "CUSTOMER_MERGED", "message": ...}` naming the kept customer, so that a client that does not follow
redirects learns where to go too. 308, not 301: permanent, and a client may not change the method. Nothing is
disclosed by the redirect itself: the customer's data is recorded as disclosed when the kept resource is read.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from projections.merges import merged_into
from registervard.api.errors import ApiError, ErrorBody

MERGED: dict[int | str, dict[str, Any]] = {
    308: {
        "model": ErrorBody,
        "description": "The customer was merged into another as a duplicate (CUSTOMER_MERGED): `Location` is the same resource of the kept customer.",
        "headers": {"Location": {"description": "The kept customer's resource.", "schema": {"type": "string"}}},
    }
}
"""Documented on the routes that redirect a merged customer."""


def merged_redirect(request: Request, customer_id: str, kept_id: str) -> ApiError:
    """The 308 to `kept_id`'s resource of the same kind as the one asked for (`customer_id`'s)."""
    path = request.url.path.replace(f"/customers/{customer_id}", f"/customers/{kept_id}", 1)
    location = str(request.url.replace(path=path))
    message = f"The customer was merged into {kept_id} as a duplicate; its record is the kept customer's, at {path}."
    return ApiError(308, "CUSTOMER_MERGED", message, headers={"Location": location})


def redirect_if_merged(db: Session | Connection, request: Request, customer_id: str) -> None:
    """Raise the redirect when the register has `customer_id` as merged into another customer; return otherwise."""
    kept = merged_into(db, customer_id)
    if kept is not None:
        raise merged_redirect(request, customer_id, kept)
