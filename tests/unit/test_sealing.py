"""Sealing personal fields with the customer's key: round trip, tampering, a destroyed key, and the fold of erased data."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date

import pytest

from events import codec
from events.catalog import (
    AddressChanged,
    ContactDetails,
    CustomerErased,
    CustomerKind,
    CustomerRegistered,
    ErasureReason,
    NixRegistered,
    PersonalIdentityNumberAssigned,
    PersonName,
    PostalAddress,
    Registration,
    SealedPersonalData,
)
from events.customer import Status, fold
from events.sealing import MemoryKeyStore, TamperedData, is_sealed, seal, unseal
from tests.builders import VALID_PERSONNUMMER, envelope

NAME = PersonName(given_names="Anna", surname="Svensson")
ADDRESS = PostalAddress(street="Storgatan 1", postal_code="11122", city="Stockholm")


def registered(customer_id: str = "C-1") -> CustomerRegistered:
    return CustomerRegistered(
        envelope=envelope(customer_id),
        customer_kind=CustomerKind.PERSON,
        registration=Registration(
            identity_number=VALID_PERSONNUMMER, name=NAME, address=ADDRESS, contact=ContactDetails(phone="+46701234567", email="anna@example.se")
        ),
    )


def life(customer_id: str = "C-1") -> list:
    return [
        registered(customer_id),
        AddressChanged(envelope=envelope(customer_id, on=date(2025, 3, 1)), effective_date=date(2025, 3, 1), address=ADDRESS),
        PersonalIdentityNumberAssigned(envelope=envelope(customer_id), identity_number=VALID_PERSONNUMMER),
        NixRegistered(envelope=envelope(customer_id), phone="+46701234567"),
    ]


def test_sealed_events_carry_no_plaintext_and_unseal_to_the_original():
    keys = MemoryKeyStore()
    for event in life():
        sealed = seal(event, keys.key_for(event.customer_id, create=True))
        assert is_sealed(sealed)
        wire = codec.encode(sealed)
        for secret in (b"Svensson", b"Storgatan", VALID_PERSONNUMMER.encode(), b"+46701234567", b"anna@example.se"):
            assert secret not in wire
        assert unseal(codec.decode(wire), keys) == event


def test_each_seal_uses_a_new_nonce():
    keys = MemoryKeyStore()
    key = keys.key_for("C-1", create=True)
    first, second = seal(registered(), key), seal(registered(), key)
    assert first.registration.nonce != second.registration.nonce
    assert first.registration.ciphertext != second.registration.ciphertext


def test_a_changed_ciphertext_is_detected():
    keys = MemoryKeyStore()
    sealed = seal(registered(), keys.key_for("C-1", create=True))
    box = sealed.registration
    flipped = bytes([box.ciphertext[0] ^ 1]) + box.ciphertext[1:]
    with pytest.raises(TamperedData):
        unseal(dataclasses.replace(sealed, registration=dataclasses.replace(box, ciphertext=flipped)), keys)


def test_a_sealed_value_moved_to_another_event_does_not_verify():
    keys = MemoryKeyStore()
    sealed = seal(registered(), keys.key_for("C-1", create=True))
    moved = dataclasses.replace(sealed, envelope=dataclasses.replace(sealed.envelope, event_id=uuid.uuid4()))
    with pytest.raises(TamperedData):
        unseal(moved, keys)


def test_with_the_key_destroyed_the_fields_stay_sealed_and_the_fold_treats_them_as_erased():
    keys = MemoryKeyStore()
    key = keys.key_for("C-1", create=True)
    sealed = [seal(e, key) for e in life()]
    erased = CustomerErased(envelope=envelope("C-1"), reason=ErasureReason.CUSTOMER_REQUEST)
    keys.destroy("C-1")
    assert keys.key_for("C-1", create=True) is None  # never re-created
    opened = [unseal(e, keys) for e in sealed]
    assert all(is_sealed(e) for e in opened)
    state = fold(opened)
    assert state.kind is CustomerKind.PERSON and state.names == () and state.addresses == () and state.identity_number is None
    assert fold([erased], state).status is Status.ERASED


def test_unsealing_plain_events_changes_nothing():
    event = registered()
    assert unseal(event, MemoryKeyStore()) is event
    assert not isinstance(event.registration, SealedPersonalData)


def test_the_database_key_store_wraps_keys_caches_them_and_destroys_for_good(tmp_path, monkeypatch):
    import os

    from sqlalchemy.orm import Session

    from projections.access import DataKeyRow
    from projections.data_keys import DatabaseKeyStore
    from projections.database import connect

    master = os.urandom(32)
    engine = connect(f"sqlite:///{tmp_path / 'keys.db'}")
    store = DatabaseKeyStore(engine, master=master)
    key = store.key_for("C-1", create=True)
    store.ensure(["C-1", "C-2", "C-3"])
    with Session(engine) as session:
        row = session.get(DataKeyRow, "C-1")
        assert row.key_id == key.key_id and key.key not in row.wrapped_key and len(row.wrapped_key) == 40
    other = DatabaseKeyStore(engine, master=master)  # another process: reads and unwraps the same key
    assert other.key_for("C-1") == key and other.key_for("C-2") is not None
    sealed = seal(registered(), key)
    assert unseal(sealed, other) == registered().__class__(**{**vars(sealed), "registration": registered().registration})
    assert store.destroy("C-1") and store.is_destroyed("C-1")
    assert DatabaseKeyStore(engine, master=master).key_for("C-1", create=True) is None
    assert is_sealed(unseal(sealed, DatabaseKeyStore(engine, master=master)))
