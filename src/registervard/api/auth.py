"""API keys on requests, and the role check against the one table in `roles`.

A route declares what it is with `principal: Principal = authorize("history")`.
No key, or an unknown or revoked one, is 401; a key whose role may not call the
endpoint is 403. The rate limits (`ratelimit`) are checked here too, where the
key is known: 429 when the key, or the address of a caller without a valid key,
is over its limit. Every 401 and 403 is logged with the key id, its role, the route's
path template and the status: never the key, never anything from the request's
path values, query or body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import structlog
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from registervard.api.api_keys import find_key
from registervard.api.errors import ApiError, route_template
from registervard.api.ratelimit import RateLimits
from registervard.api.roles import ENDPOINTS, may_call, roles_for

log = structlog.get_logger("registervard.api")

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer rv_...`, a key from `registervard apikeys create`.")
header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key in an `X-API-Key` header.")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its name (the recipient in the disclosure record) and its role."""

    key_id: str
    name: str
    role: str


def authorize(endpoint: str) -> Any:
    """A dependency that admits only keys whose role may call `endpoint` (a key of roles.ENDPOINTS)."""
    if endpoint not in ENDPOINTS:
        raise KeyError(f"unknown endpoint {endpoint!r}: add it to registervard.api.roles.ENDPOINTS")

    def dependency(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
        header_key: str | None = Security(header_scheme),
    ) -> Principal:
        limits: RateLimits = request.app.state.rate_limits
        limits.admit_attempt(request)
        key = bearer.credentials if bearer is not None else header_key
        if not key:
            limits.count_failure(request)
            _refuse(request, 401, "MISSING_API_KEY", "Send your API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.")
        with request.app.state.database.engine().connect() as connection:
            found = find_key(connection, key.strip())
        if found is None:
            limits.count_failure(request)
            _refuse(request, 401, "UNKNOWN_API_KEY", "This API key is not known. Check that it was copied whole; keys start with rv_.")
        request.state.key_id = found.key_id
        if not found.active:
            limits.count_failure(request)
            _refuse(request, 401, "API_KEY_REVOKED", f"API key {found.key_id} was revoked. Ask for a new key.", found.key_id, found.role)
        limits.admit_key(found.key_id)
        if not may_call(found.role, endpoint):
            allowed = ", ".join(roles_for(endpoint))
            _refuse(
                request,
                403,
                "FORBIDDEN_FOR_ROLE",
                f"Your key's role '{found.role}' may not call {ENDPOINTS[endpoint]}; roles that may: {allowed}.",
                found.key_id,
                found.role,
            )
        return Principal(key_id=found.key_id, name=found.name, role=found.role)

    dependency.endpoint = endpoint  # type: ignore[attr-defined]  # lets a test check that every route is covered
    return Depends(dependency)


def _refuse(request: Request, status: int, code: str, message: str, key_id: str | None = None, role: str | None = None) -> NoReturn:
    log.warning(
        "api_request_refused",
        status=status,
        reason=code,
        key_id=key_id,
        role=role,
        method=request.method,
        path=route_template(request),
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    raise ApiError(status, code, message, headers)
