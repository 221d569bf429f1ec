"""Request rate limits: per API key, and per client address for requests without a valid key.

slowapi's `Limiter` keeps the counters (moving windows in memory, per API
process). The limits are checked in the key check (`auth.authorize`), because
only there is the key known:

- a request with a valid key counts against that key's id (`Settings.api_rate_limit`);
- a request with no key, an unknown or a revoked one counts against the client
  address (`Settings.api_auth_failure_rate_limit`), and once an address has used
  that up it gets 429 before its key is even looked up, so a flood of wrong keys
  costs no database work and learns nothing.

Behind a reverse proxy the client address is the proxy's unless uvicorn trusts
its X-Forwarded-For (from 127.0.0.1, or the addresses in FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from slowapi import Limiter
from slowapi.util import get_remote_address

from registervard.api.errors import ApiError

RATE_LIMITED = "RATE_LIMITED"


class RateLimits:
    """The API's two limits over one slowapi Limiter."""

    def __init__(self, per_key: str, per_address_without_key: str) -> None:
        """Raises ValueError naming the setting when a limit is not a `limits` string such as "50/second"."""
        self.per_key = _parse("api_rate_limit", per_key)
        self.without_key = _parse("api_auth_failure_rate_limit", per_address_without_key)
        # key_func serves slowapi's route decorators, unused here: these limits name their keys themselves.
        self.limiter = Limiter(key_func=get_remote_address, storage_uri="memory://", strategy="moving-window")

    def admit_attempt(self, request: Request) -> None:
        """429 when the client's address has used up its budget of requests without a valid key."""
        if self.limiter.enabled and not self.limiter.limiter.test(self.without_key, "address", _address(request)):
            raise self._too_many(self.without_key, ("address", _address(request)), "Too many requests without a valid API key from your address")

    def count_failure(self, request: Request) -> None:
        """Count a request that had no valid key against the client's address."""
        if self.limiter.enabled:
            self.limiter.limiter.hit(self.without_key, "address", _address(request))

    def admit_key(self, key_id: str) -> None:
        """Count a request against its key; 429 when the key is over its limit."""
        if self.limiter.enabled and not self.limiter.limiter.hit(self.per_key, "key", key_id):
            raise self._too_many(self.per_key, ("key", key_id), "Too many requests with this API key")

    def _too_many(self, limit: RateLimitItem, identifiers: tuple[str, str], what: str) -> ApiError:
        reset_at = self.limiter.limiter.get_window_stats(limit, *identifiers).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))  # whole seconds until the window has room again
        return ApiError(429, RATE_LIMITED, f"{what} (at most {limit}); retry after {retry_after} s.", {"Retry-After": str(retry_after)})


def _parse(setting: str, value: str) -> RateLimitItem:
    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"{setting}: {value!r} is not a rate limit; write e.g. '50/second' or '1000/minute'") from None


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
