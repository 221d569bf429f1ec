"""What a SPAR record says has changed (events/spar_changes.py): plain records and states in, events out. Only what
differs from the customer's state is published, with SPAR as the source; each kind of address apart, with its own date;
a protected person's record without name and address blanks nothing; and once the events are folded in, the same
record gives nothing (ids derived from content)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from events.catalog import (
    AddressChanged,
    Channel,
    CivilStatus,
    CivilStatusChanged,
    CustomerDeceased,
    CustomerDeregistered,
    CustomerEmigrated,
    CustomerImmigrated,
    MarketingOptOut,
    NameChanged,
    PersonalIdentityNumberAssigned,
    PersonName,
    PostalAddress,
    ProtectedIdentityLifted,
    ProtectedIdentitySet,
    Protection,
)
from events.catalog import AddressKind as Kind
from events.customer import CustomerState, Status, fold
from events.jsonlines import parse_event
from events.spar_changes import changes
from events.spar_elements import TABLE_PATH, AddressKind, load_table, parse_table
from events.spar_records import Part, SparAddress, SparCivilStatus, SparDeregistration, SparName, SparProtection, SparRecord, Where
from registervard import exit_codes
from registervard.cli import app as cli
from tests import spar_register
from tests.builders import VALID_PERSONNUMMER, line, person
from tests.small_register import register_of

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
AS_OF = date(2025, 6, 1)
HERE = Where(line=3, path="/SPARExport/AviseringPost[1]")
STORGATAN = PostalAddress(street="Storgatan 1", postal_code="11122", city="Stockholm")


def state(*documents) -> CustomerState:
    """Anna Svensson, Storgatan 1, 111 22 Stockholm, registered on 2025-01-10; then `documents`."""
    registered = person()
    del registered["registration"]["contact"]
    result = fold([parse_event(d, now=NOW) for d in (registered, *documents)])
    assert result is not None
    return result


def record(**parts) -> SparRecord:
    flags = (
        SparProtection(protection=Protection.SKYDDAD_FOLKBOKFORING, flagged=False, since=None, where=HERE),
        SparProtection(protection=Protection.SEKRETESSMARKERING, flagged=False, since=None, where=HERE),
    )
    return SparRecord(where=HERE, identity_number=VALID_PERSONNUMMER, last_changed=date(2025, 5, 2), **{"protections": flags, **parts})


def address(kind: AddressKind, since: date | None, **fields) -> SparAddress:
    return SparAddress(kind=kind, address=replace(STORGATAN, **fields), valid_from=since, valid_to=None, where=HERE)


def compare(found: SparRecord, current: CustomerState):
    return changes(found, current, as_of=AS_OF, fallback_day=AS_OF, now=NOW)


def test_a_marriage_and_a_move_publish_what_changed_from_spar_and_the_same_record_again_publishes_nothing():
    before = state()
    married = SparName(name=PersonName(given_names="Anna Maria", surname="Berg"), valid_from=date(2025, 4, 20), valid_to=None, where=HERE)
    maiden = SparName(name=PersonName(given_names="Anna", surname="Svensson"), valid_from=date(1981, 12, 18), valid_to=date(2025, 4, 19), where=HERE)
    found = record(
        names=(maiden, married),
        addresses=(address(AddressKind.FOLKBOKFORINGSADRESS, date(2025, 5, 1), street="Ågatan 2", postal_code="22100", city="LUND"),),
        civil_status=SparCivilStatus(status=CivilStatus.MARRIED, since=date(2025, 4, 20), where=HERE),
    )
    result = compare(found, before)
    assert [type(e) for e in result.events] == [NameChanged, AddressChanged, CivilStatusChanged]
    name, moved, civil = result.events
    assert {e.envelope.source for e in result.events} == {"SPAR"}
    assert (name.name, name.effective_date) == (married.name, date(2025, 4, 20))
    assert (moved.address, moved.effective_date) == (PostalAddress(street="Ågatan 2", postal_code="22100", city="LUND"), date(2025, 5, 1))
    assert moved.address_kind is Kind.POPULATION_REGISTER and not moved.ended
    assert result.state.address == moved.address  # the population register's, dated after the address the customer gave
    assert (civil.civil_status, civil.effective_date) == (CivilStatus.MARRIED, date(2025, 4, 20))
    assert result.state.name == married.name and result.state.civil_status is CivilStatus.MARRIED
    assert [e.event_id for e in compare(found, before).events] == [e.event_id for e in result.events]  # ids from content
    assert compare(found, fold(list(result.events), before)).events == ()


def kind_of_address(kind: Kind, day: str, street: str = "Storgatan 1", **fields) -> dict:
    """An AddressChanged of `kind` as SPAR publishes it."""
    where = {"street": street, "postal_code": "11122", "city": "Stockholm"}
    return line("AddressChanged", effective_date=day, address=where, address_kind=kind.value, source="SPAR", **fields)


def test_case_and_spacing_are_no_change():
    found = record(
        names=(SparName(name=PersonName(given_names="ANNA", surname="svensson"), valid_from=None, valid_to=None, where=HERE),),
        addresses=(address(AddressKind.FOLKBOKFORINGSADRESS, None, street="STORGATAN  1", city="STOCKHOLM"),),
    )
    assert compare(found, state(kind_of_address(Kind.POPULATION_REGISTER, "2020-01-01"))).events == ()


def test_the_population_register_address_the_customer_gave_too_is_recorded_as_such_with_its_own_date():
    found = record(addresses=(address(AddressKind.FOLKBOKFORINGSADRESS, date(2020, 1, 1)),))
    result = compare(found, state())
    assert [(type(e), e.address_kind, e.effective_date) for e in result.events] == [(AddressChanged, Kind.POPULATION_REGISTER, date(2020, 1, 1))]
    assert result.state.address == STORGATAN and result.state.address_since == date(2025, 1, 10)  # the customer's, later, stays
    assert compare(found, result.state).events == ()


def test_a_protected_persons_record_without_name_and_address_sets_the_protection_and_blanks_nothing():
    flags = (
        SparProtection(protection=Protection.SKYDDAD_FOLKBOKFORING, flagged=False, since=None, where=HERE),
        SparProtection(protection=Protection.SEKRETESSMARKERING, flagged=True, since=date(2025, 4, 15), where=HERE),
    )
    result = compare(record(protections=flags), state())
    assert [type(e) for e in result.events] == [ProtectedIdentitySet]
    assert result.events[0].protection is Protection.SEKRETESSMARKERING
    assert result.events[0].envelope.occurred_at == datetime(2025, 4, 15, tzinfo=UTC)
    assert result.state.name == PersonName(given_names="Anna", surname="Svensson") and result.state.address == STORGATAN
    # Already protected: nothing; and a name or address that did come with a protected record is not read.
    odd = record(protections=flags, names=(SparName(name=PersonName(given_names="X", surname="Y"), valid_from=None, valid_to=None, where=HERE),))
    assert compare(odd, result.state).events == ()


def test_the_protection_is_lifted_only_when_every_flag_is_delivered_and_says_nej():
    protected = state(line("ProtectedIdentitySet", protection="SKYDDAD_FOLKBOKFORING"))
    result = compare(record(), protected)
    assert [type(e) for e in result.events] == [ProtectedIdentityLifted]
    assert compare(replace(record(), protections=record().protections[:1]), protected).events == ()  # one flag missing: unknown


@pytest.mark.parametrize("kind", ["SEKRETESSMARKERING", "SKYDDAD_FOLKBOKFORING"])
def test_spar_lifts_a_protection_of_either_of_its_own_kinds_with_nothing_to_note(kind):
    result = compare(record(), state(line("ProtectedIdentitySet", protection=kind)))
    assert [(type(e), e.protection) for e in result.events] == [(ProtectedIdentityLifted, Protection(kind))] and result.notes == ()
    assert not result.state.protected


def test_a_protection_another_source_set_is_not_lifted_by_spar_and_the_import_is_told_without_personal_data():
    other = state(line("ProtectedIdentitySet", protection="OTHER"))
    result = compare(record(), other)
    assert result.events == () and result.refused == ()  # a note, not a refusal
    assert result.state.protected and result.state.protections == {Protection.OTHER}
    ((where, note),) = result.notes
    assert (where, note.code) == (HERE, "PROTECTION_KEPT") and "OTHER" in str(note)
    assert not {"Anna", "Svensson", "Storgatan", VALID_PERSONNUMMER, "C-1"} & set(str(note).replace(",", " ").split())
    # Nothing is read from the record while it stays protected: a name that came with it changes nothing.
    named = record(names=(SparName(name=PersonName(given_names="X", surname="Y"), valid_from=None, valid_to=None, where=HERE),))
    assert compare(named, other).events == ()


def test_while_another_sources_protection_is_in_force_spar_lifts_its_own_kinds_by_name_and_the_other_stays():
    # SPAR set both of its kinds, then a company decided on its own: SPAR lifts each of its kinds, naming it, never OTHER.
    all_three = state(
        line("ProtectedIdentitySet", protection="SEKRETESSMARKERING"),
        line("ProtectedIdentitySet", protection="SKYDDAD_FOLKBOKFORING"),
        line("ProtectedIdentitySet", protection="OTHER"),
    )
    result = compare(record(), all_three)
    assert {e.protection for e in result.events if isinstance(e, ProtectedIdentityLifted)} == {Protection.SEKRETESSMARKERING, Protection.SKYDDAD_FOLKBOKFORING}
    assert len(result.events) == 2 and [note.code for _, note in result.notes] == ["PROTECTION_KEPT"]
    assert result.state.protections == {Protection.OTHER} and result.state.protected
    assert compare(record(), result.state).events == ()  # the same record again: nothing more


def test_spar_sets_its_own_kind_while_another_sources_is_in_force_so_lifting_that_one_leaves_the_customer_protected():
    flags = (
        SparProtection(protection=Protection.SKYDDAD_FOLKBOKFORING, flagged=True, since=date(2025, 4, 15), where=HERE),
        SparProtection(protection=Protection.SEKRETESSMARKERING, flagged=False, since=None, where=HERE),
    )
    result = compare(record(protections=flags), state(line("ProtectedIdentitySet", protection="OTHER")))
    assert [(type(e), e.protection) for e in result.events] == [(ProtectedIdentitySet, Protection.SKYDDAD_FOLKBOKFORING)]
    assert compare(record(protections=flags), result.state).events == ()  # in force: nothing again
    other_lifted = fold([parse_event(line("ProtectedIdentityLifted", protection="OTHER", occurred_at="2025-05-01T09:00:00Z"), now=NOW)], result.state)
    assert other_lifted is not None and other_lifted.protections == {Protection.SKYDDAD_FOLKBOKFORING}


def test_a_death_an_emigration_and_another_cause_each_publish_their_own_event_once():
    died = record(deregistration=SparDeregistration(cause="AV", on=date(2025, 5, 10), date_of_death=date(2025, 5, 8), where=HERE))
    result = compare(died, state())
    assert [(type(e), e.date_of_death) for e in result.events] == [(CustomerDeceased, date(2025, 5, 8))]
    assert result.state.status is Status.DECEASED and compare(died, result.state).events == ()

    oslo = address(AddressKind.UTLANDSADRESS, date(2025, 4, 1), street="Karl Johans gate 1", postal_code="", city="0154 OSLO", country="NO")
    emigrated = record(addresses=(oslo,), deregistration=SparDeregistration(cause="UV", on=date(2025, 4, 1), date_of_death=None, where=HERE))
    result = compare(emigrated, state())
    assert [type(e) for e in result.events] == [AddressChanged, CustomerEmigrated]
    assert (result.events[0].address_kind, result.events[0].effective_date) == (Kind.ABROAD, date(2025, 4, 1))
    assert (result.events[1].effective_date, result.events[1].destination_country) == (date(2025, 4, 1), "NO")
    assert result.state.status is Status.EMIGRATED and compare(emigrated, result.state).events == ()
    assert result.state.address == oslo.address and result.state.addresses[-1].value == STORGATAN  # kept apart

    missing = record(deregistration=SparDeregistration(cause="OB", on=date(2025, 3, 1), date_of_death=None, where=HERE))
    result = compare(missing, state())
    assert [(type(e), e.cause, e.effective_date) for e in result.events] == [(CustomerDeregistered, "OB", date(2025, 3, 1))]
    assert compare(missing, result.state).events == ()


def test_an_old_number_replaced_by_a_named_new_one_gives_the_customer_the_new_number_instead_of_deregistering_them():
    new_number = "198507099805"  # a valid personnummer other than the builders' default
    replaced = record(deregistration=SparDeregistration(cause="GN", on=date(2025, 5, 1), date_of_death=None, where=HERE, new_identity_number=new_number))
    result = compare(replaced, state())
    assert [(type(e), e.identity_number, e.envelope.source) for e in result.events] == [(PersonalIdentityNumberAssigned, new_number, "SPAR")]
    assert (result.state.identity_number, result.state.status) == (new_number, Status.ACTIVE)
    assert compare(replaced, result.state).events == ()  # the record, still filed under the old number, says no more
    # Deregistered for the old number by an earlier file that did not name the new one: the new number makes them active again.
    earlier = compare(record(deregistration=replace(replaced.deregistration, new_identity_number=None)), state())
    assert [type(e) for e in earlier.events] == [CustomerDeregistered] and earlier.state.status is Status.DEREGISTERED
    again = compare(replaced, earlier.state)
    assert [type(e) for e in again.events] == [PersonalIdentityNumberAssigned] and again.state.status is Status.ACTIVE


def test_each_kind_of_address_is_kept_apart_with_its_own_date_and_a_special_postal_address_is_the_postal_one():
    box = address(AddressKind.SARSKILD_POSTADRESS, date(2024, 6, 1), street="Box 123")
    home = address(AddressKind.FOLKBOKFORINGSADRESS, date(2020, 1, 1), street="Hemvägen 3")
    found = record(addresses=(home, box))
    result = compare(found, state())
    assert [(e.address_kind, e.address.street, e.effective_date) for e in result.events] == [
        (Kind.POPULATION_REGISTER, "Hemvägen 3", date(2025, 1, 10)),  # not the address the customer gave: made current, as SPAR's was
        (Kind.SPECIAL_POSTAL, "Box 123", date(2024, 6, 1)),  # its own date: a special postal address comes first anyway
    ]
    assert result.state.address == box.address
    assert [(a.kind, a.value.street) for a in result.state.registered_addresses] == [
        (Kind.SPECIAL_POSTAL, "Box 123"),
        (Kind.POPULATION_REGISTER, "Hemvägen 3"),
    ]
    assert compare(found, result.state).events == ()
    # An address that could not be read leaves every address out: the one left might not be the postal one.
    assert compare(replace(found, left_out=frozenset({Part.ADDRESSES})), state()).events == ()

    # The next record has no special postal address: it ended (the day after its DatumTill), and the postal address is
    # the population register's again; a record without any address ends nothing.
    ended = replace(found, addresses=(home, replace(box, valid_to=date(2025, 5, 20))))
    after = compare(ended, result.state)
    assert [(e.address_kind, e.ended, e.address.street, e.effective_date) for e in after.events] == [
        (Kind.SPECIAL_POSTAL, True, "Box 123", date(2025, 5, 21))
    ]
    assert after.state.address == home.address and compare(ended, after.state).events == ()
    assert compare(replace(found, addresses=()), result.state).events == ()
    # The older record again does not bring the ended address back; a newer one with a special postal address does.
    assert compare(found, after.state).events == ()
    again = compare(replace(found, last_changed=date(2025, 6, 1)), after.state)
    assert [(e.address_kind, e.ended, e.effective_date) for e in again.events] == [(Kind.SPECIAL_POSTAL, False, date(2025, 5, 21))]
    assert again.state.address == box.address


def test_an_emigrant_registered_in_sweden_again_returns_and_a_marketing_block_opts_out_of_post():
    abroad = state(line("CustomerEmigrated", effective_date="2024-03-01"))
    home = address(AddressKind.FOLKBOKFORINGSADRESS, date(2025, 2, 1), street="Hemvägen 3")
    result = compare(record(addresses=(home,), direct_marketing_block=True), abroad)
    assert [type(e) for e in result.events] == [CustomerImmigrated, AddressChanged, MarketingOptOut]
    assert result.events[1].address_kind is Kind.POPULATION_REGISTER and result.events[2].channel is Channel.POST
    assert result.state.status is Status.ACTIVE and result.state.address == home.address
    assert compare(record(addresses=(home,), direct_marketing_block=True), result.state).events == ()


@pytest.mark.parametrize("document", [line("CustomerErased", reason="CUSTOMER_REQUEST"), None])
def test_an_erased_customer_or_a_company_takes_nothing(document):
    if document is None:
        company = line("CustomerRegistered", customer_kind="COMPANY", registration={"identity_number": "165560360793", "company_name": "Exempel AB"})
        current = fold([parse_event(company, now=NOW)])
    else:
        current = state(document)
    assert current is not None
    assert compare(record(deregistration=SparDeregistration(cause="AV", on=None, date_of_death=date(2025, 5, 8), where=HERE)), current).events == ()


def test_the_table_is_data_and_a_code_it_cannot_map_is_refused_naming_the_key():
    table = load_table()
    assert table.civil_statuses["G"] is CivilStatus.MARRIED and table.cause_code("a") == "AV" and table.country("Norge") == "NO"
    assert "person.direct_marketing_block" in table.unconfirmed and "deregistration.new_identity_number" in table.unconfirmed
    data = tomllib.loads(TABLE_PATH.read_text(encoding="utf-8"))
    data["civil_status"]["codes"]["X"] = "SINGLE"
    with pytest.raises(ValueError, match=r"civil_status.codes.X: 'SINGLE' is not one of"):
        parse_table(data)


def test_the_import_names_a_protection_it_keeps_on_standard_error_and_is_not_refused(tmp_path):
    # C-LIFT's protection came from SPAR; here a company also set one of its own, after a threat: SPAR lifts its own.
    other = line("ProtectedIdentitySet", "C-LIFT", protection="OTHER", occurred_at="2025-01-11T09:00:00Z")
    env = {"REGISTERVARD_DATABASE_URL": register_of(tmp_path / "register.db", [*spar_register.documents(), other]), "COLUMNS": "300"}
    result = CliRunner().invoke(cli, ["spar", "import", str(spar_register.FULL), "--dry-run"], env=env)
    assert result.exit_code == exit_codes.OK, result.output
    assert "ProtectedIdentityLifted 1," in result.stdout  # C-LIFT's SEKRETESSMARKERING, by name (the fold tests say so)
    (said,) = [text for text in result.stderr.splitlines() if "PROTECTION_KEPT" in text]
    assert "customer C-LIFT:" in said and "(OTHER)" in said
    assert spar_register.PEOPLE["C-LIFT"][0] not in result.output and "Ivar" not in result.output
