"""Finding customers over HTTP: by identity number, name, phone number or e-mail address (`registervard customer find`).

POST, so that what is searched for (personal data all) stays out of URLs and
access logs. Each customer in the answer is recorded as disclosed to the key's
holder. A protected identity is never found by name, and no result shows a
protected identity's name or city.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from projections.search import DEFAULT_LIMIT, MAX_QUERY_LENGTH, SearchBy, SearchQueryError, find_customers, read_query
from registervard.api.auth import Principal, authorize
from registervard.api.customers import disclosed
from registervard.api.errors import BODY_RESPONSES, ERROR_RESPONSES, ApiError
from registervard.api.params import SearchByParam

router = APIRouter(tags=["customers"], responses=ERROR_RESPONSES)

MAX_LIMIT = 500


class FindRequest(BaseModel):
    """What to search for, in the body."""

    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_LENGTH,
        description="An identity number in any written form (YYMMDD-NNNN, YYYYMMDDNNNN, + for 100 or older, an organisationsnummer), "
        'a name or part of one ("anna svens": every word begins a word of the name, case and accents aside), a phone number in '
        "any written form, or an e-mail address.",
        examples=["anna svens"],
    )
    by: SearchByParam = Field(
        SearchBy.AUTO, description="What `query` is, in any case; `auto` reads it as what it looks like (digits: identity number and phone number)."
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="The most customers to return; `more` says whether there were more.")


@router.post("/customers/find", summary="Find customers by identity number, name, phone or e-mail", responses=BODY_RESPONSES)
def find(body: FindRequest, request: Request, principal: Principal = authorize("find")) -> dict[str, Any]:
    """The customers the query finds: id, kind, status, `badge` (active, deceased, emigrated, deregistered, protected,
    erased), name and city (null for a protected identity) and `matched_on` (customer_id, identity_number, phone,
    email, name, former_name). Those found by id, identity number, phone or e-mail come first, then by name. An empty
    list when there is none; 422 INVALID_QUERY when the query cannot be read as what `by` says."""
    settings = request.app.state.settings
    try:
        query = read_query(body.query, body.by, lookup_key=settings.lookup_key)
    except SearchQueryError as error:
        # The reasons name the rule broken, never a character of the query (tests/unit/test_search.py holds them to it).
        raise ApiError(422, "INVALID_QUERY", f"body.query: {error}.") from None
    result = find_customers(request.app.state.database.engine(), query, limit=body.limit)
    disclosed(request, principal, [found.customer_id for found in result.customers], "find")
    return {"customers": [found.as_dict() for found in result.customers], "more": result.more}
