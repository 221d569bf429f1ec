"""The register's detail rows, derived from the folded state alone: histories, consents, NIX, contact persons."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from sqlalchemy import select

from events import codec
from events.catalog import (
    AddressChanged,
    Channel,
    CivilStatus,
    CivilStatusChanged,
    ConsentGiven,
    ConsentPurpose,
    CustomerErased,
    ErasureReason,
    NameChanged,
    NameChangeReason,
    NixRegistered,
    PersonName,
    PostalAddress,
    ProtectedIdentityLifted,
    ProtectedIdentitySet,
    Protection,
)
from events.customer import fold
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore
from projections.database import connect
from projections.lookup import lookup_hash, stored_number_hash
from projections.migrations import HEAD, script_heads
from projections.rebuild import Fold, rebuild_copies, register_tables, write_customers
from projections.register import DETAIL_TABLES, ROW_TABLES, RegisterProjection, customer_rows, detail_rows, register_row
from projections.runner import apply_batch
from projections.tables import (
    REGISTER_TABLES,
    AddressHistoryRow,
    Base,
    CompanyContactRow,
    ConsentRow,
    CustomerRow,
    CustomerStateRow,
    IdentityLookupRow,
    NameHistoryRow,
    NixStatusRow,
    OutboxRow,
)
from tests.builders import envelope, person

ANNA = "C-1"


def registered():
    return parse_event(person(ANNA))


def moved(street: str, effective: date, reported: date) -> AddressChanged:
    return AddressChanged(
        envelope=envelope(ANNA, on=reported), effective_date=effective, address=PostalAddress(street=street, postal_code="22100", city="Lund")
    )


def married(on: date) -> list:
    return [
        NameChanged(
            envelope=envelope(ANNA, on=on), reason=NameChangeReason.MARRIAGE, effective_date=on, name=PersonName(given_names="Anna", surname="Berg")
        ),
        CivilStatusChanged(envelope=envelope(ANNA, on=on), civil_status=CivilStatus.MARRIED, effective_date=on),
    ]


def protected():
    return ProtectedIdentitySet(envelope=envelope(ANNA, on=date(2025, 9, 1)), protection=Protection.SKYDDAD_FOLKBOKFORING)


def anna_life():
    may, march = moved("Majgatan 5", date(2025, 5, 1), date(2025, 5, 2)), moved("Marsvägen 3", date(2025, 3, 1), date(2025, 5, 20))
    consent = ConsentGiven(
        envelope=envelope(ANNA, on=datetime(2025, 6, 1, 12, 30, tzinfo=UTC)),
        purpose=ConsentPurpose.TELEMARKETING,
        channel=Channel.PHONE,
        company="Acme AB",
        overrides_nix=True,
    )
    nix = NixRegistered(envelope=envelope(ANNA, on=date(2025, 6, 2)), phone="+46701234567", register_version_date=date(2025, 6, 1))
    return [registered(), may, march, *married(date(2025, 6, 14)), consent, nix], may, march, consent


def test_the_histories_follow_the_fold_a_late_report_of_an_older_move_sorts_before_the_newer_one():
    events, may, march, _ = anna_life()
    rows = detail_rows(fold(events))
    assert [(r["seq"], r["street"], r["effective_date"], r["event_id"]) for r in rows[AddressHistoryRow]] == [
        (0, "Storgatan 1", date(2025, 1, 10), str(events[0].event_id)),
        (1, "Marsvägen 3", date(2025, 3, 1), str(march.event_id)),
        (2, "Majgatan 5", date(2025, 5, 1), str(may.event_id)),
    ]
    assert [(r["seq"], r["given_names"], r["surname"], r["effective_date"]) for r in rows[NameHistoryRow]] == [
        (0, "Anna", "Svensson", date(2025, 1, 10)),
        (1, "Anna", "Berg", date(2025, 6, 14)),
    ]


def test_consents_and_nix_status_are_written_as_the_fold_has_them():
    events, _, _, consent = anna_life()
    rows = detail_rows(fold(events))
    assert rows[ConsentRow] == [
        dict(
            customer_id=ANNA,
            purpose="TELEMARKETING",
            channel="PHONE",
            company="Acme AB",
            given_at=datetime(2025, 6, 1, 12, 30, tzinfo=UTC),
            overrides_nix=True,
            valid_until=None,
            lapses_on=date(2025, 9, 1),  # the fold's rule: a NIX override lapses after 3 months
            event_id=str(consent.event_id),
        )
    ]
    assert rows[NixStatusRow] == [dict(customer_id=ANNA, phone="+46701234567", registered=True, as_of=date(2025, 6, 1))]


def test_a_protected_identity_has_no_name_or_address_rows_and_gets_them_back_when_lifted():
    events, *_ = anna_life()
    hidden = detail_rows(fold([*events, protected()]))
    assert hidden[AddressHistoryRow] == [] and hidden[NameHistoryRow] == []
    assert len(hidden[ConsentRow]) == 1 and len(hidden[NixStatusRow]) == 1, "protection hides name and address only"

    lifted = fold([*events, protected(), ProtectedIdentityLifted(envelope=envelope(ANNA, on=date(2025, 10, 1)))])
    assert detail_rows(lifted) == detail_rows(fold(events))
    assert register_row(lifted)["street"] == "Majgatan 5"


def test_an_erased_customer_has_no_detail_rows_at_all():
    events, *_ = anna_life()
    rows = detail_rows(fold([*events, CustomerErased(envelope=envelope(ANNA, on=date(2025, 11, 1)), reason=ErasureReason.CUSTOMER_REQUEST)]))
    assert rows == {table: [] for table in DETAIL_TABLES}


def test_a_contact_person_is_listed_under_their_company():
    contact = parse_event(person("C-2", contact_person_for="C-CO"))
    assert detail_rows(fold([contact]))[CompanyContactRow] == [dict(company_id="C-CO", contact_id="C-2", left_on=None)]


def test_register_tables_are_the_projection_tables_and_every_detail_table_is_among_them():
    names = [table.name for table in REGISTER_TABLES]
    assert names == [
        "customers",
        "customer_state",
        "address_history",
        "name_history",
        "consents",
        "nix_status",
        "company_contacts",
        "downstream_outbox",
        "identity_lookup",
        "customer_merges",
    ]
    assert {table.__table__ for table in DETAIL_TABLES} <= set(REGISTER_TABLES)
    assert set(REGISTER_TABLES) <= set(Base.metadata.tables.values())
    # The rebuild fills a copy of each of them with customer_rows (the outbox aside), and copies keep no foreign keys.
    assert {table.__table__ for table in ROW_TABLES} | {OutboxRow.__table__} == set(REGISTER_TABLES)
    assert not any(table.foreign_keys for table in REGISTER_TABLES)


def test_the_head_constant_is_the_head_of_the_migration_scripts():
    assert script_heads() == {HEAD}, "a new revision must set projections.migrations.HEAD to its id (and revise the one before)"


def test_a_customer_can_be_found_by_identity_number_through_a_keyed_hash_never_the_number_itself():
    state = fold([parse_event(person("C-9"))])
    [row] = detail_rows(state)[IdentityLookupRow]
    assert row == {"lookup_hash": lookup_hash("811218-9876"), "customer_id": "C-9"}
    assert "9876" not in row["lookup_hash"] and len(row["lookup_hash"]) == 64



def test_a_number_logged_when_the_rules_accepted_it_still_finds_its_customer_after_they_refuse_it():
    state = fold([parse_event(person("C-9"))])
    logged_then = dataclasses.replace(state, identity_number="201509160006")  # serial 000: refused since issue 13
    [row] = detail_rows(logged_then)[IdentityLookupRow]
    assert row == {"lookup_hash": stored_number_hash("201509160006"), "customer_id": "C-9"}

# --- The same rows, live and rebuilt ----------------------------------------------------------------


def test_a_customers_rows_cover_every_register_table_but_the_outbox_the_lookup_hashed_with_the_given_key():
    events, *_ = anna_life()
    rows = customer_rows(fold(events), "key-of-this-test")
    assert set(rows) == set(ROW_TABLES) and OutboxRow not in rows
    assert rows[CustomerRow] == [{**register_row(fold(events)), "updated_at": rows[CustomerRow][0]["updated_at"]}]
    assert [r["customer_id"] for r in rows[CustomerStateRow]] == [ANNA]
    assert rows[IdentityLookupRow] == [{"lookup_hash": lookup_hash("198112189876", "key-of-this-test"), "customer_id": ANNA}]
    assert rows[IdentityLookupRow] != customer_rows(fold(events))[IdentityLookupRow], "another key, another hash"


def test_the_rebuild_writes_into_its_copies_the_rows_the_live_projection_writes_and_replaces_them_on_change(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    key = "key-of-this-test"
    first = [*anna_life()[0], parse_event(person("C-2", identity_number="194107086995", contact_person_for="C-CO"))]
    later = [protected(), moved("Junigatan 9", date(2025, 7, 1), date(2025, 7, 2))]  # Anna's name and address rows go
    records = [LogRecord("registervard.events", 0, n, codec.encode(e)) for n, e in enumerate([*first, *later])]
    for batch in (records[: len(first)], records[len(first) :]):
        apply_batch(engine, RegisterProjection(key), batch, MemoryKeyStore())

    copies = rebuild_copies(register_tables())
    rebuilt = Fold(keys=MemoryKeyStore())
    with engine.begin() as connection:
        for copy in copies.values():
            copy.create(connection)
        rebuilt.apply(records[: len(first)])
        write_customers(connection, copies, rebuilt.states, sorted(rebuilt.states), fresh=True, lookup_key=key)
        changed = rebuilt.apply(records[len(first) :])
        write_customers(connection, copies, rebuilt.states, sorted(changed), fresh=False, lookup_key=key)

    def content(connection, table) -> list[tuple]:
        columns = [c for c in table.columns if c.name != "updated_at"]
        return sorted(connection.execute(select(*columns)).all(), key=repr)

    with engine.connect() as connection:
        for model in ROW_TABLES:
            live, copy = model.__table__, copies[model.__tablename__]
            assert content(connection, copy) == content(connection, live), live.name
        streets = connection.execute(select(AddressHistoryRow.customer_id, AddressHistoryRow.street)).all()
        assert streets == [("C-2", "Storgatan 1")], "Anna is protected since: her address rows went, in both"
        hashes = connection.execute(select(IdentityLookupRow.lookup_hash).order_by(IdentityLookupRow.customer_id)).scalars().all()
    assert hashes == [lookup_hash("198112189876", key), lookup_hash("194107086995", key)]
    engine.dispose()
