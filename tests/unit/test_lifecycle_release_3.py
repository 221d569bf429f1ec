"""The lifecycle facts of schema release 3, as customer stories: an opt-out lifted, an emigrant come back, a contact
person who leaves a company, a deregistration with a cause. Each story goes through the fold, the contactability rules,
the worker's lifecycle rules and what the register and downstream make of it."""

from __future__ import annotations

import io
import tomllib
from datetime import UTC, date, datetime

import pytest
from fastavro import schemaless_reader, schemaless_writer

from events import schemas
from events.catalog import (
    Channel,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    ContactPersonLeft,
    CustomerDeceased,
    CustomerDeregistered,
    CustomerEmigrated,
    CustomerImmigrated,
    MarketingOptOut,
    MarketingOptOutLifted,
    PersonalIdentityNumberAssigned,
    PostalAddress,
    WithdrawalReason,
)
from events.contactability import load_rules, may_contact
from events.customer import CustomerState, PastContactRole, Status, fold
from events.deregistration import CAUSES, CAUSES_PATH, check_cause, ends_identity, parse_causes
from events.jsonlines import parse_event
from events.refusal import Refusal
from processors.lifecycle import Admitted, Lifecycle
from projections.downstream import snapshot
from projections.register import detail_rows, register_row
from projections.replay import status_on, view_as_of
from projections.tables import CompanyContactRow, CustomerRow
from tests.builders import envelope, line, person

ANNA = "C-1"
ACME = "Acme AB"
MARKETING, TELEMARKETING, OTHER = ConsentPurpose.MARKETING, ConsentPurpose.TELEMARKETING, ConsentPurpose.OTHER
LUND = PostalAddress(street="Ågatan 2", postal_code="22100", city="Lund")


def registered(customer_id: str = ANNA, **fields):
    return parse_event(person(customer_id, **fields))


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+00:00")


def ask(state: CustomerState, channel: Channel, purpose: ConsentPurpose, when: str = "2025-12-01"):
    return may_contact(state, channel=channel, purpose=purpose, company=ACME, at=at(when), rules=load_rules())


def consent(on: date, channel: Channel = Channel.EMAIL, purpose: ConsentPurpose = MARKETING, customer_id: str = ANNA) -> ConsentGiven:
    return ConsentGiven(envelope=envelope(customer_id, on=on), purpose=purpose, channel=channel, company=ACME)


def opted_out(channel: Channel, on: date = date(2025, 2, 1)) -> MarketingOptOut:
    return MarketingOptOut(envelope=envelope(ANNA, on=on), channel=channel)


def opted_in(channel: Channel, on: date = date(2025, 3, 1)) -> MarketingOptOutLifted:
    return MarketingOptOutLifted(envelope=envelope(ANNA, on=on), channel=channel)


def emigrated(on: date) -> CustomerEmigrated:
    return CustomerEmigrated(envelope=envelope(ANNA, on=on, source="SPAR"), effective_date=on, destination_country="NO")


def immigrated(on: date, address: PostalAddress = LUND, reported: date | None = None) -> CustomerImmigrated:
    return CustomerImmigrated(envelope=envelope(ANNA, on=reported or on, source="SPAR"), effective_date=on, address=address, origin_country="NO")


def deregistered(cause: str, on: date = date(2025, 6, 1)) -> CustomerDeregistered:
    return CustomerDeregistered(envelope=envelope(ANNA, on=on, source="SPAR"), cause=cause, effective_date=on)


def admit_all(lifecycle: Lifecycle, *events) -> list:
    return [lifecycle.admit(e) for e in events]


# --- Opt-out, then opt-in -------------------------------------------------------------------------------------------


def test_an_opt_out_lifted_on_its_channel_lets_marketing_on_that_channel_again():
    before = fold([registered(), consent(date(2025, 1, 20)), opted_out(Channel.EMAIL)])
    after = fold([registered(), consent(date(2025, 1, 20)), opted_out(Channel.EMAIL), opted_in(Channel.EMAIL)])
    assert "OPTED_OUT" in ask(before, Channel.EMAIL, MARKETING).codes
    assert after.opted_out == frozenset()
    assert ask(after, Channel.EMAIL, MARKETING).allowed and ask(after, Channel.EMAIL, MARKETING).codes == ("CONSENT_VALID",)


def test_an_opt_out_on_every_channel_lifted_on_one_stays_in_force_on_the_others():
    state = fold([registered(), consent(date(2025, 1, 20), channel=Channel.ANY), opted_out(Channel.ANY), opted_in(Channel.POST)])
    assert state.opted_out == {Channel.PHONE, Channel.EMAIL, Channel.SMS, Channel.OTHER}
    assert ask(state, Channel.POST, MARKETING).allowed
    assert "OPTED_OUT" in ask(state, Channel.EMAIL, MARKETING).codes
    assert "OPTED_OUT" in ask(state, Channel.PHONE, TELEMARKETING).codes


def test_an_opt_in_on_every_channel_lifts_every_opt_out_and_one_on_another_channel_lifts_nothing():
    assert fold([registered(), opted_out(Channel.PHONE), opted_out(Channel.SMS), opted_in(Channel.ANY)]).opted_out == frozenset()
    assert fold([registered(), opted_out(Channel.PHONE), opted_in(Channel.EMAIL)]).opted_out == {Channel.PHONE}


def test_an_opt_in_reaches_the_register_row_and_the_downstream_snapshot():
    out = fold([registered(), opted_out(Channel.ANY)])
    lifted = fold([registered(), opted_out(Channel.ANY), opted_in(Channel.EMAIL)])
    assert register_row(out)["marketing_opt_outs"] == "ANY"
    assert register_row(lifted)["marketing_opt_outs"] == "OTHER,PHONE,POST,SMS"
    assert register_row(fold([registered()]))["marketing_opt_outs"] is None
    assert snapshot(CustomerRow(**register_row(lifted)))["marketing_opt_outs"] == ["OTHER", "PHONE", "POST", "SMS"]


def test_an_opt_in_is_written_in_json_lines_as_upstream_sends_it():
    event = parse_event(line("MarketingOptOutLifted", ANNA, channel="EMAIL"))
    assert isinstance(event, MarketingOptOutLifted) and event.channel is Channel.EMAIL


# --- Emigration, then immigration ------------------------------------------------------------------------------------


def test_an_emigrant_who_comes_back_is_active_again_at_the_new_address_from_the_day_of_return():
    state = fold([registered(), emigrated(date(2025, 3, 1)), immigrated(date(2025, 9, 1))])
    assert (state.status, state.emigrated_on, state.immigrated_on) == (Status.ACTIVE, date(2025, 3, 1), date(2025, 9, 1))
    assert state.address == LUND and state.addresses[-1].effective_date == date(2025, 9, 1)
    assert [entry.value.city for entry in state.addresses] == ["Stockholm", "Lund"], "the old address stays in the history"
    assert ask(state, Channel.POST, OTHER, when="2025-09-02").allowed
    assert ask(state, Channel.POST, OTHER, when="2025-06-01").codes[0] == "EMIGRATED", "abroad in between"


def test_while_abroad_the_customer_is_emigrated_and_a_replay_tells_the_days_apart():
    abroad = fold([registered(), emigrated(date(2025, 3, 1))])
    back = fold([registered(), emigrated(date(2025, 3, 1)), immigrated(date(2025, 9, 1))])
    assert abroad.status is Status.EMIGRATED
    assert [status_on(back, day) for day in (date(2025, 2, 28), date(2025, 6, 1), date(2025, 9, 1))] == [Status.ACTIVE, Status.EMIGRATED, Status.ACTIVE]
    assert view_as_of(back, at("2025-06-01")).immigrated_on is None
    assert view_as_of(back, at("2025-10-01")).address == LUND


def test_a_late_report_of_an_older_emigration_does_not_send_a_returned_customer_abroad_again():
    late = CustomerEmigrated(envelope=envelope(ANNA, on=date(2025, 10, 1)), effective_date=date(2024, 5, 1))
    state = fold([registered(), emigrated(date(2025, 3, 1)), immigrated(date(2025, 9, 1)), late])
    assert (state.status, state.emigrated_on) == (Status.ACTIVE, date(2025, 3, 1))


def test_leaving_again_after_coming_back_makes_the_customer_emigrated_again():
    state = fold([registered(), emigrated(date(2025, 3, 1)), immigrated(date(2025, 9, 1)), emigrated(date(2026, 2, 1))])
    assert (state.status, state.emigrated_on) == (Status.EMIGRATED, date(2026, 2, 1))
    assert not ask(state, Channel.POST, OTHER, when="2026-03-01").allowed


def test_a_return_reaches_the_register_row_and_the_downstream_snapshot():
    row = register_row(fold([registered(), emigrated(date(2025, 3, 1)), immigrated(date(2025, 9, 1))]))
    assert (row["status"], row["immigrated_on"], row["city"]) == ("ACTIVE", date(2025, 9, 1), "Lund")
    assert snapshot(CustomerRow(**row))["immigrated_on"] == date(2025, 9, 1)


def test_a_return_is_registered_at_a_swedish_address_and_never_after_death():
    with pytest.raises(Refusal) as refused:
        oslo = {"street": "Storgata 1", "postal_code": "0155", "city": "Oslo", "country": "NO"}
        parse_event(line("CustomerImmigrated", ANNA, effective_date="2025-09-01", address=oslo))
    assert refused.value.field == "address.country"
    lifecycle = Lifecycle()
    death = CustomerDeceased(envelope=envelope(ANNA, on=date(2025, 5, 1)), date_of_death=date(2025, 5, 1))
    *_, outcome = admit_all(lifecycle, registered(), emigrated(date(2025, 3, 1)), death, immigrated(date(2025, 9, 1)))
    assert isinstance(outcome, Refusal) and outcome.code == "AFTER_DEATH"


# --- A company with two contact persons; one leaves ---------------------------------------------------------------------


COMPANY, KARIN, LARS = "C-CO", "C-KARIN", "C-LARS"


def left(contact: str, company: str = COMPANY, on: date = date(2025, 8, 31)) -> ContactPersonLeft:
    return ContactPersonLeft(envelope=envelope(contact, on=on), company_id=company, effective_date=on)


def test_a_contact_person_who_leaves_is_the_companys_no_longer_but_is_listed_as_having_left():
    karin = fold([registered(KARIN, contact_person_for=COMPANY)])
    lars = fold([registered(LARS, identity_number="194107086995", contact_person_for=COMPANY), left(LARS)])
    assert karin.contact_person_for == COMPANY
    assert lars.contact_person_for is None
    assert [(r.company_id, r.left_on) for r in lars.past_contact_roles] == [(COMPANY, date(2025, 8, 31))]
    assert detail_rows(karin)[CompanyContactRow] == [dict(company_id=COMPANY, contact_id=KARIN, left_on=None)]
    assert detail_rows(lars)[CompanyContactRow] == [dict(company_id=COMPANY, contact_id=LARS, left_on=date(2025, 8, 31))]
    assert register_row(lars)["contact_person_for"] is None and register_row(karin)["contact_person_for"] == COMPANY
    assert snapshot(CustomerRow(**register_row(karin)))["contact_person_for"] == COMPANY


def test_only_a_contact_person_of_that_company_can_leave_it_and_only_once():
    lifecycle = Lifecycle()
    outcomes = admit_all(
        lifecycle,
        registered(KARIN, contact_person_for=COMPANY),
        left(KARIN, company="C-OTHER"),
        left(KARIN),
        left(KARIN, on=date(2025, 9, 30)),
    )
    assert [type(o).__name__ if not isinstance(o, Refusal) else o.code for o in outcomes] == [
        "Admitted",
        "NOT_A_CONTACT_PERSON",
        "Admitted",
        "NOT_A_CONTACT_PERSON",
    ]
    role = PastContactRole(company_id=COMPANY, left_on=date(2025, 8, 31), event_id=str(outcomes[2].event.event_id))
    assert lifecycle.states[KARIN].past_contact_roles == (role,)


def test_the_company_is_named_by_its_opaque_customer_id_never_an_identity_number():
    with pytest.raises(Refusal) as refused:
        parse_event(line("ContactPersonLeft", KARIN, company_id="198112189876", effective_date="2025-08-31"))
    assert (refused.value.field, refused.value.code) == ("company_id", "PERSONAL_DATA_IN_KEY")


# --- Deregistration with a cause -----------------------------------------------------------------------------------------------


def test_a_deregistration_for_a_false_identity_ends_every_consent_and_every_contact():
    state = fold([registered(), consent(date(2025, 1, 20)), consent(date(2025, 1, 21), Channel.PHONE, TELEMARKETING), deregistered("FI")])
    assert (state.status, state.deregistered_on, state.deregistration_cause) == (Status.DEREGISTERED, date(2025, 6, 1), "FI")
    assert state.consents == () and state.identity_ended
    for channel, purpose in ((Channel.EMAIL, MARKETING), (Channel.PHONE, TELEMARKETING), (Channel.POST, OTHER)):
        decision = ask(state, channel, purpose)
        assert not decision.allowed and "DEREGISTERED" in decision.codes
    assert ask(state, Channel.POST, OTHER, when="2025-05-31").allowed, "not before the day of deregistration"
    assert status_on(state, date(2025, 5, 31)) is Status.ACTIVE and status_on(state, date(2025, 6, 1)) is Status.DEREGISTERED


def test_the_worker_withdraws_the_consents_of_a_false_identity_and_takes_no_new_ones():
    lifecycle = Lifecycle()
    given = consent(date(2025, 1, 20))
    outcomes = admit_all(
        lifecycle,
        registered(),
        given,
        deregistered("FI"),
        consent(date(2025, 7, 1), Channel.POST),
        immigrated(date(2025, 9, 1)),
    )
    deregistration = outcomes[2]
    assert isinstance(deregistration, Admitted)
    [withdrawal] = deregistration.derived
    assert isinstance(withdrawal, ConsentWithdrawn) and withdrawal.reason is WithdrawalReason.DEREGISTERED
    assert (withdrawal.purpose, withdrawal.channel, withdrawal.envelope.causation_id) == (given.purpose, given.channel, deregistration.event.event_id)
    assert [o.code for o in outcomes[3:]] == ["AFTER_DEREGISTRATION", "DEREGISTERED"]


def test_a_deregistration_reaches_the_register_row_and_the_snapshot_and_an_older_reader_sees_other():
    row = register_row(fold([registered(), deregistered("FI")]))
    assert (row["status"], row["deregistered_on"], row["deregistration_cause"]) == ("DEREGISTERED", date(2025, 6, 1), "FI")
    datum = snapshot(CustomerRow(**row))
    current = schemas.current()["CustomerSnapshot"].parsed
    release_2 = schemas.released()["2"]["CustomerSnapshot"].parsed
    buffer = io.BytesIO()
    schemaless_writer(buffer, current, datum)
    mine = schemaless_reader(io.BytesIO(buffer.getvalue()), current, current)
    older = schemaless_reader(io.BytesIO(buffer.getvalue()), current, release_2)
    assert (mine["status"], mine["deregistration_cause"]) == ("DEREGISTERED", "FI")
    assert older["status"] == "OTHER" and "deregistration_cause" not in older


def test_an_old_number_replaced_keeps_the_consents_and_the_new_number_makes_the_customer_active_again():
    new_number = PersonalIdentityNumberAssigned(envelope=envelope(ANNA, on=date(2025, 6, 2), source="SPAR"), identity_number="194107086995")
    replaced = fold([registered(), consent(date(2025, 1, 20)), deregistered("GN")])
    assert replaced.status is Status.DEREGISTERED and len(replaced.consents) == 1 and not replaced.identity_ended
    assert "DEREGISTERED" in ask(replaced, Channel.EMAIL, MARKETING).codes, "until the new number is known"
    again = fold([registered(), consent(date(2025, 1, 20)), deregistered("GN"), new_number])
    assert (again.status, again.identity_number, again.deregistered_on, again.deregistration_cause) == (Status.ACTIVE, "194107086995", None, None)
    assert ask(again, Channel.EMAIL, MARKETING).allowed


def test_a_new_number_does_not_bring_back_an_identity_that_ended():
    new_number = PersonalIdentityNumberAssigned(envelope=envelope(ANNA, on=date(2025, 6, 2)), identity_number="194107086995")
    assert fold([registered(), deregistered("FI"), new_number]).status is Status.DEREGISTERED


def test_a_death_stays_a_death_and_is_not_deregistered_again():
    death = CustomerDeceased(envelope=envelope(ANNA, on=date(2025, 5, 1)), date_of_death=date(2025, 5, 1))
    *_, outcome = admit_all(Lifecycle(), registered(), death, deregistered("AN"))
    assert isinstance(outcome, Refusal) and outcome.code == "ALREADY_DECEASED"
    assert fold([registered(), death, deregistered("AN")]).status is Status.DECEASED


# --- The causes are data ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "code", "advice"),
    [("AV", "USE_OWN_EVENT", "CustomerDeceased"), ("UV", "USE_OWN_EVENT", "CustomerEmigrated"), ("XX", "UNKNOWN_CAUSE", "GN")],
)
def test_death_and_emigration_keep_their_own_events_and_an_unknown_cause_is_refused_naming_the_known_ones(cause, code, advice):
    with pytest.raises(Refusal) as refused:
        parse_event(line("CustomerDeregistered", ANNA, cause=cause, effective_date="2025-06-01"))
    assert (refused.value.field, refused.value.code) == ("cause", code)
    assert advice in refused.value.reason


def test_the_cause_table_holds_the_population_registers_two_character_codes_and_marks_what_is_unconfirmed():
    assert {"AV", "UV", "GN", "GS", "AN", "OB", "TA", "AS"} <= set(CAUSES)
    assert {code for code, c in CAUSES.items() if c.own_event} == {"AV", "UV"}
    assert {code for code, c in CAUSES.items() if c.number_replaced} == {"GN", "GS"}
    assert [code for code, c in CAUSES.items() if "false identity" in c.english] == ["FI"]
    assert not CAUSES["FI"].confirmed, "no public source we could read names the code: marked until checked"
    assert ends_identity("FI") and not ends_identity("GN") and ends_identity("ZZ"), "an unknown code is taken to end the identity"
    check_cause("FI")


def test_a_cause_table_with_a_code_of_another_shape_is_refused_naming_it():
    data = tomllib.loads(CAUSES_PATH.read_text(encoding="utf-8"))
    data["causes"]["abc"] = {"meaning": "x", "english": "x"}
    with pytest.raises(ValueError, match=r"causes\.abc: a cause is two capital letters"):
        parse_causes(data)
    assert parse_causes(tomllib.loads(CAUSES_PATH.read_text(encoding="utf-8"))) == CAUSES


def test_a_deregistration_with_a_cause_from_the_table_is_sent_as_json_lines():
    event = parse_event(line("CustomerDeregistered", ANNA, cause="FI", effective_date="2025-06-01", source="SPAR"))
    assert isinstance(event, CustomerDeregistered) and (event.cause, event.effective_date) == ("FI", date(2025, 6, 1))
    assert event.envelope.occurred_at == datetime(2025, 1, 10, 9, tzinfo=UTC)
