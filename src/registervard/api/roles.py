"""Who may call which endpoint: ONE table, data, not ifs scattered over the routes.

Every route names its endpoint (a key of `ENDPOINTS`) in its `authorize(...)`
dependency; `ROLE_ENDPOINTS` says which roles may call it. A new endpoint gets
a line in `ENDPOINTS` and is added to the roles that may call it, here and
nowhere else (the matrix test in tests/integration/test_api.py reads this table).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

ENDPOINTS: Mapping[str, str] = MappingProxyType(
    {
        "customer": "GET /customers/{customer_id}",
        "lookup": "POST /customers/lookup",
        "find": "POST /customers/find",
        "history": "GET /customers/{customer_id}/history",
        "contactability": "GET /customers/{customer_id}/contactability",
        "contact_persons": "GET /customers/{customer_id}/contact-persons",
        "changes": "GET /changes",
        "audit_verify": "GET /audit/verify",
        "wash": "POST /wash",
        "erase": "POST /customers/{customer_id}/erase",
        "health_report": "GET /console/health",  # console pages only (no API route): the register health report
        "deadletters": "GET /console/deadletters",  # console pages only: list, inspect, correct, retry, resolve dead letters
        "duplicates_merge": "POST /customers/{customer_id}/merge",
        "duplicates_find": "GET /duplicates",
    }
)
"""Every protected endpoint, by the name the roles table uses. /health, /ready and /docs need no key."""

ROLE_ENDPOINTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "reader": frozenset({"customer", "contact_persons"}),
        "marketing": frozenset({"contactability", "wash"}),
        "customer_service": frozenset({"customer", "lookup", "find", "history", "contactability", "contact_persons"}),
        "auditor": frozenset({"history", "changes", "audit_verify", "health_report"}),
        "admin": frozenset(ENDPOINTS),  # everything, also what is added to ENDPOINTS later ("erase")
    }
)
"""Role -> the endpoints its keys may call."""

ROLE_HIDDEN_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "reader": frozenset({"active_consents", "lapsed_consents", "nix_registered"}),
    }
)
"""Register-row fields a role does not see. A reader gets the register row without its consent and NIX detail."""

ROLES: tuple[str, ...] = tuple(ROLE_ENDPOINTS)


def may_call(role: str, endpoint: str) -> bool:
    """Whether a key with `role` may call `endpoint` (a key of ENDPOINTS)."""
    if endpoint not in ENDPOINTS:
        raise KeyError(f"unknown endpoint {endpoint!r}: add it to registervard.api.roles.ENDPOINTS")
    return endpoint in ROLE_ENDPOINTS.get(role, frozenset())


def roles_for(endpoint: str) -> list[str]:
    """The roles that may call `endpoint`, for error messages and the OpenAPI description."""
    return [role for role in ROLES if endpoint in ROLE_ENDPOINTS[role]]
