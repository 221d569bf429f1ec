"""Looking a customer up by identity number through a keyed hash, so the number is not an index in clear."""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import cache

from events.identity import parse_identity_number

DEVELOPMENT_KEY = "registervard-development-lookup-key"
"""Used when REGISTERVARD_LOOKUP_KEY is not set: fine for a local run, never for production."""


@cache
def _key() -> bytes:
    return os.environ.get("REGISTERVARD_LOOKUP_KEY", DEVELOPMENT_KEY).encode()


def lookup_hash(identity_number: str) -> str:
    """HMAC-SHA-256 (hex) of an identity number in its 12-digit form; any accepted spelling gives the same hash."""
    digits = parse_identity_number(identity_number).number
    return hmac.new(_key(), digits.encode(), hashlib.sha256).hexdigest()
