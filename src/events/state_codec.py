"""A customer's state as bytes and back, for the worker's state table.

The bytes are one version byte followed by the state as compact JSON, in the
same plain form the register projection stores (`convert.to_plain(for_json=True)`).
The version says which shape of `CustomerState` wrote them: a change to
`CustomerState` that old bytes cannot be read into raises the version, and a
worker meeting a version it does not know refuses to guess (`UnknownStateVersion`):
the partition's state is then rebuilt from the log.
"""

from __future__ import annotations

import json

from events.convert import from_plain, to_plain
from events.customer import CustomerState

VERSION = 1
"""The version this code writes and reads."""


class UnknownStateVersion(ValueError):
    """Stored state written by a version of `CustomerState` this worker cannot read."""

    def __init__(self, version: int | None) -> None:
        found = "no version byte" if version is None else f"version {version}"
        super().__init__(
            f"the stored customer state has {found}; this worker reads version {VERSION}: "
            "rebuild the worker's state from the event log (REGISTERVARD_WORKER_STATE=log) or run the worker version that wrote it"
        )
        self.version = version


def encode_state(state: CustomerState) -> bytes:
    """The state's bytes: the version, then compact JSON."""
    text = json.dumps(to_plain(state, for_json=True), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return bytes([VERSION]) + text.encode("utf-8")


def decode_state(data: bytes) -> CustomerState:
    """The state `encode_state` wrote; UnknownStateVersion for bytes of another version (or none)."""
    if not data:
        raise UnknownStateVersion(None)
    if data[0] != VERSION:
        raise UnknownStateVersion(data[0])
    return from_plain(CustomerState, json.loads(data[1:].decode("utf-8")))
