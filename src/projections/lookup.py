"""Looking a customer up by identity number through a keyed hash, so the number is not an index in clear."""

from __future__ import annotations

import hashlib
import hmac

from events.identity import parse_identity_number

DEVELOPMENT_KEY = "registervard-development-lookup-key"
"""Used when REGISTERVARD_LOOKUP_KEY is not set: fine for a local run, never for production."""


def lookup_hash(identity_number: str, secret: str | None = None) -> str:
    """HMAC-SHA-256 (hex) of an identity number in its 12-digit form, keyed by `secret` (`Settings.lookup_key`; None: the
    development key); any accepted spelling gives the same hash."""
    return stored_number_hash(parse_identity_number(identity_number).number, secret)


def stored_number_hash(twelve_digits: str, secret: str | None = None) -> str:
    """`lookup_hash` of a number already in its 12-digit form (from the log, or parsed by the caller), not parsed again:
    a number the rules refuse today (say, one they accepted when it was logged) still finds its customer."""
    return hmac.new((secret or DEVELOPMENT_KEY).encode(), twelve_digits.encode(), hashlib.sha256).hexdigest()
