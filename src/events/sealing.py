"""Sealing personal data with the customer's own key (crypto-shredding).

Every personal field of an event is typed `X | SealedPersonalData`
(`PERSONAL_FIELDS`). `seal(event, key)` replaces each plain value by a
`SealedPersonalData`; `unseal(event, keys)` puts the plain value back when the
customer's key still exists, and leaves the field sealed when it was destroyed:
the data is then erased everywhere the bytes were copied (the log, kept forever;
its backups; the audit trail's payloads).

The encryption, documented for anyone who reads the log with other tools:

* algorithm `AES-256-GCM` (the only one written), a random 96-bit nonce per
  field, the 128-bit tag appended to the ciphertext (as `cryptography`'s AESGCM
  does);
* plaintext: the Avro binary encoding (schemaless, no header) of the plain
  branch of the field's union, with the branch's schema as it stands in the
  event's schema in `schemas/` (e.g. `registervard.PostalAddress`, or `"string"`
  for an identity number or a phone number);
* associated data: ``b"registervard.sealed.v1\\x00" + event_id + b"\\x00" +
  customer_id + b"\\x00" + field name`` (UTF-8; event id in its lower-case
  hyphenated form), so a sealed value cannot be moved to another event,
  customer or field without the tag failing.

A key store (`KeyStore`) holds one data key per customer; the default one keeps
them wrapped by a master key in the register database (`projections.data_keys`).
`MemoryKeyStore` is for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import io
import os
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from events import schemas
from events.avro_datum import datum
from events.catalog import (
    AddressChanged,
    ContactDetailsChanged,
    CustomerErased,
    CustomerImmigrated,
    CustomerRegistered,
    CustomersMerged,
    Event,
    NameChanged,
    NixDeregistered,
    NixRegistered,
    PersonalIdentityNumberAssigned,
    SealedPersonalData,
)
from events.convert import from_plain

ALGORITHM = "AES-256-GCM"
AAD_PREFIX = b"registervard.sealed.v1"
NONCE_SIZE = 12

PERSONAL_FIELDS: dict[type[Event], tuple[str, ...]] = {
    CustomerRegistered: ("registration",),
    AddressChanged: ("address",),
    CustomerImmigrated: ("address",),
    NameChanged: ("name",),
    PersonalIdentityNumberAssigned: ("identity_number",),
    ContactDetailsChanged: ("contact",),
    NixRegistered: ("phone",),
    NixDeregistered: ("phone",),
    CustomersMerged: ("absorbed_personal",),
}
"""The fields of each event type that hold personal data (typed `X | SealedPersonalData`)."""


class TamperedData(ValueError):
    """A sealed field whose tag does not verify: changed, moved to another event, or sealed with another key."""

    def __init__(self, event_type: str, event_id: str, field: str) -> None:
        self.field = field
        super().__init__(f"{event_type} {event_id}: sealed field {field} does not verify (tampered, or not sealed for this event)")


@dataclass(frozen=True)
class DataKey:
    """A customer's data key, unwrapped."""

    key_id: str
    key: bytes
    """32 bytes (AES-256)."""


class KeyStore(Protocol):
    """Where each customer's data key lives."""

    def key_for(self, customer_id: str, create: bool = False) -> DataKey | None:
        """The customer's key; with `create`, a new one if they have none. None once destroyed (never re-created)."""

    def destroy(self, customer_id: str) -> bool:
        """Destroy the customer's key for good; True if there was one to destroy."""

    def is_destroyed(self, customer_id: str) -> bool:
        """Whether the customer's key was destroyed."""


class BatchKeyStore(KeyStore, Protocol):
    """A key store that also reads or creates many customers' keys at once and caches them (`projections.data_keys`).

    The worker needs `ensure` (one transaction for a batch's new customers). Readers are handed a plain `KeyStore`
    and use `warm` and `forget` only when the store has them (`unseal_each`).
    """

    def ensure(self, customer_ids: typing.Iterable[str], create: bool = True) -> None:
        """Cache these customers' keys; with `create`, make keys for those that have none, all in one go."""

    def warm(self, customer_ids: typing.Iterable[str]) -> None:
        """Read these customers' keys into the cache, a few queries for all of them."""

    def forget(self, customer_id: str) -> None:
        """Drop the customer's key from the cache (it may have been destroyed elsewhere)."""


class MemoryKeyStore:
    """A key store in memory: for tests and benchmarks."""

    def __init__(self) -> None:
        self.keys: dict[str, DataKey | None] = {}

    def key_for(self, customer_id: str, create: bool = False) -> DataKey | None:
        if customer_id in self.keys:
            return self.keys[customer_id]
        if not create:
            return None
        key = self.keys[customer_id] = DataKey(os.urandom(16).hex(), AESGCM.generate_key(bit_length=256))
        return key

    def destroy(self, customer_id: str) -> bool:
        existed = self.keys.get(customer_id) is not None
        self.keys[customer_id] = None
        return existed

    def is_destroyed(self, customer_id: str) -> bool:
        return customer_id in self.keys and self.keys[customer_id] is None


def personal_fields(event: Event) -> tuple[str, ...]:
    """The names of the event's personal fields."""
    return PERSONAL_FIELDS.get(type(event), ())


def is_sealed(event: Event) -> bool:
    """Whether any personal field of the event is sealed."""
    return any(isinstance(getattr(event, f), SealedPersonalData) for f in personal_fields(event))


def has_plain_personal_data(event: Event) -> bool:
    """Whether any personal field of the event holds a plain value."""
    return any(not isinstance(getattr(event, f), SealedPersonalData) and getattr(event, f) is not None for f in personal_fields(event))


def seal(event: Event, key: DataKey) -> Event:
    """The event with every plain personal field sealed with `key` (fields already sealed stay as they are)."""
    changes: dict[str, Any] = {}
    for field in personal_fields(event):
        value = getattr(event, field)
        if value is None or isinstance(value, SealedPersonalData):
            continue
        plaintext = _avro(type(event), field, value)
        nonce = os.urandom(NONCE_SIZE)
        ciphertext = AESGCM(key.key).encrypt(nonce, plaintext, _aad(event, field))
        changes[field] = SealedPersonalData(key_id=key.key_id, algorithm=ALGORITHM, nonce=nonce, ciphertext=ciphertext)
    return dataclasses.replace(event, **changes) if changes else event


def unseal(event: Event, keys: KeyStore) -> Event:
    """The event with its sealed fields opened, where the customer's key still exists; the rest stays sealed.

    Raises TamperedData if a field's tag does not verify with the customer's key.
    """
    fields = [f for f in personal_fields(event) if isinstance(getattr(event, f), SealedPersonalData)]
    if not fields:
        return event
    key = keys.key_for(event.customer_id, create=False)
    if key is None:
        return event
    changes: dict[str, Any] = {}
    for field in fields:
        sealed: SealedPersonalData = getattr(event, field)
        if sealed.key_id != key.key_id or sealed.algorithm != ALGORITHM:
            continue  # sealed with a key that is no longer the customer's: stays sealed
        try:
            plaintext = AESGCM(key.key).decrypt(sealed.nonce, sealed.ciphertext, _aad(event, field))
        except (InvalidTag, ValueError):
            raise TamperedData(type(event).__name__, str(event.event_id), field) from None
        changes[field] = _from_avro(type(event), field, plaintext)
    return dataclasses.replace(event, **changes) if changes else event


def unseal_each(events: typing.Iterable[Event], keys: KeyStore) -> list[Event | TamperedData]:
    """Unseal events in log order; an event whose sealed field does not verify comes back as its TamperedData.

    A customer's CustomerErased makes the store forget any key it cached for them.
    """
    events = list(events)
    warm = getattr(keys, "warm", None)
    if warm is not None:  # one look-up for the batch's customers rather than one each
        warm([e.customer_id for e in events if is_sealed(e)])
    result: list[Event | TamperedData] = []
    for event in events:
        if isinstance(event, CustomerErased):
            forget = getattr(keys, "forget", None)
            if forget is not None:
                forget(event.customer_id)
        try:
            result.append(unseal(event, keys))
        except TamperedData as tampered:
            result.append(tampered)
    return result


def unseal_all(events: typing.Iterable[Event], keys: KeyStore) -> list[Event]:
    """Unseal events in log order; raises TamperedData at the first field that does not verify."""
    result = []
    for opened in unseal_each(events, keys):
        if isinstance(opened, TamperedData):
            raise opened
        result.append(opened)
    return result


# --- The plaintext: Avro binary of the union's plain branch -------------------------------


def _aad(event: Event, field: str) -> bytes:
    return b"\x00".join((AAD_PREFIX, str(event.event_id).encode(), event.customer_id.encode(), field.encode()))


@cache
def _branch(event_type: type[Event], field: str) -> tuple[Any, Any]:
    """The Avro schema and the Python type of the field's plain branch."""
    hint = typing.get_type_hints(event_type)[field]
    plain_type = next(t for t in typing.get_args(hint) if t is not SealedPersonalData and t is not type(None))
    parsed = schemas.current()[event_type.__name__].parsed
    union = next(f["type"] for f in parsed["fields"] if f["name"] == field)
    branch = next(b for b in union if not (isinstance(b, dict) and b.get("name") == "registervard.SealedPersonalData") and b != "null")
    return parse_schema(branch), plain_type  # parsed once here; fastavro would parse a part of a schema again on every call


def _avro(event_type: type[Event], field: str, value: Any) -> bytes:
    branch, _ = _branch(event_type, field)  # type: ignore[arg-type]  # a class is hashable; mypy says not (python/mypy#11470)
    buffer = io.BytesIO()
    schemaless_writer(buffer, branch, datum(branch, value))
    return buffer.getvalue()


def _from_avro(event_type: type[Event], field: str, plaintext: bytes) -> Any:
    branch, plain_type = _branch(event_type, field)  # type: ignore[arg-type]  # a class is hashable; mypy says not (python/mypy#11470)
    datum = schemaless_reader(io.BytesIO(plaintext), branch, None, return_record_name=True, return_record_name_override=True)
    return from_plain(plain_type, datum)


# --- Whole messages (undecodable dead letters) ----------------------------------------------

SEALED_BYTES_MAGIC = b"RVSEALED1\x00"
"""Bytes sealed whole: this prefix, the key id (32 hex digits, ASCII), the 12-byte nonce, then AES-256-GCM ciphertext and tag.

The associated data is ``b"registervard.sealed-bytes.v1\\x00" + customer_id``.
"""


def seal_bytes(value: bytes, customer_id: str, key: DataKey) -> bytes:
    """Bytes that could not be decoded, sealed whole with the customer's key."""
    nonce = os.urandom(NONCE_SIZE)
    ciphertext = AESGCM(key.key).encrypt(nonce, value, b"registervard.sealed-bytes.v1\x00" + customer_id.encode())
    return SEALED_BYTES_MAGIC + key.key_id.encode("ascii") + nonce + ciphertext


def unseal_bytes(value: bytes, customer_id: str, keys: KeyStore) -> bytes | None:
    """The original bytes of `seal_bytes`' output (the value itself if it was not sealed whole); None if the key is gone."""
    if not value.startswith(SEALED_BYTES_MAGIC):
        return value
    rest = value[len(SEALED_BYTES_MAGIC) :]
    key_id, nonce, ciphertext = rest[:32].decode("ascii"), rest[32 : 32 + NONCE_SIZE], rest[32 + NONCE_SIZE :]
    key = keys.key_for(customer_id, create=False)
    if key is None or key.key_id != key_id:
        return None
    try:
        return AESGCM(key.key).decrypt(nonce, ciphertext, b"registervard.sealed-bytes.v1\x00" + customer_id.encode())
    except InvalidTag:
        raise ValueError("sealed bytes do not verify (tampered)") from None
