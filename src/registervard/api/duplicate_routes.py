"""Duplicate customers over HTTP, for the admin role (`registervard duplicates find`, projections/duplicates.py).

GET: what is asked (a minimum score, a number of pairs) is no one's personal data, so it may be in the URL. Every
customer of a listed pair is recorded as disclosed to the key's holder before the answer is sent. A pair with a
protected identity is listed by ids and "same identity number" alone.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from projections.duplicates import DEFAULT_LIMIT, DEFAULT_MIN_SCORE, register_duplicates
from registervard.api.auth import Principal, authorize
from registervard.api.customers import disclosed
from registervard.api.errors import ERROR_RESPONSES

router = APIRouter(tags=["duplicates"], responses=ERROR_RESPONSES)

MAX_LIMIT = 1000


@router.get("/duplicates", summary="Likely duplicate customers, with a score and the reasons")
def duplicates_find(
    request: Request,
    min_score: int = Query(DEFAULT_MIN_SCORE, ge=1, le=100, description="Pairs scoring at least this (100: the same identity number)."),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="The most pairs to return, best first; `more` says whether there were more."),
    principal: Principal = authorize("duplicates_find"),
) -> dict[str, Any]:
    """Pairs of customers that are probably one person or company, best first: `score` (0-100), `reasons`
    (same_identity_number, same_name, similar_name, same_address, similar_address, same_phone, same_email,
    same_birth_date), `protected` and the two `customers` (id, kind, status, name, address). A pair with a protected
    identity has `protected: true` and no name or address for either customer; it is compared by identity number
    only. Erased customers are never listed. Also: `customers` read, candidate pairs `compared`, and
    `skipped_shared_keys` (a phone, e-mail or address shared by too many customers to compare). Reads the whole
    register: seconds for a large one."""
    report = register_duplicates(request.app.state.database.engine(), min_score=min_score, limit=limit)
    disclosed(request, principal, report.customer_ids, "duplicates_find")
    return report.as_dict()
