"""The NIX wash of a call list (projections/wash.py), every reason; and what a NIX register version changes (commands/nix.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from events.catalog import Channel, ConsentPurpose, ContactDetails, CustomerKind, Protection
from events.contactability import load_rules
from events.customer import Consent, CustomerState, NixStatus, Status
from projections.wash import WashRow, index_by_phone, wash, wash_one
from registervard.commands.nix import nix_documents

COMPANY = "Ringbolaget AB"
AT = datetime(2025, 6, 10, 10, 0, tzinfo=UTC)
PHONE = "+46701234567"
WASHED = date(2025, 6, 1)


def customer(customer_id: str = "C-1", phone: str | None = PHONE, **changes) -> CustomerState:
    state = CustomerState(
        customer_id=customer_id,
        kind=CustomerKind.PERSON,
        contact=ContactDetails(phone=phone) if phone else None,
        nix=(NixStatus(phone=phone, registered=False, as_of=WASHED),) if phone else (),
    )
    return replace(state, **changes)


def override(given: datetime, company: str = COMPANY) -> Consent:
    return Consent(
        purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, company=company, given_at=given, event_id="e-1", overrides_nix=True,
        lapses_on=date(given.year, given.month + 3, given.day),
    )


def answer(*states: CustomerState, row: WashRow | None = None, at: datetime = AT, rules=None, company: str = COMPANY):
    result = wash_one(row or WashRow(phone="070-123 45 67"), index_by_phone(states), company, at, rules, states_by_id={s.customer_id: s for s in states})
    return result.may_call, result.reasons


def test_a_number_checked_not_registered_in_nix_within_two_months_may_be_called():
    assert answer(customer()) == (True, ("LEGITIMATE_INTEREST", "NIX_CHECKED"))


def test_a_nix_registered_number_may_not_be_called():
    assert answer(customer(nix=(NixStatus(phone=PHONE, registered=True, as_of=WASHED),))) == (False, ("NIX_REGISTERED", "LEGITIMATE_INTEREST"))


def test_a_wash_older_than_two_months_no_longer_counts():
    assert answer(customer(), at=datetime(2025, 8, 1, 10, tzinfo=UTC)) == (False, ("NIX_NOT_CHECKED", "LEGITIMATE_INTEREST"))


def test_a_number_never_washed_may_not_be_called():
    assert answer(customer(nix=())) == (False, ("NIX_NOT_CHECKED", "LEGITIMATE_INTEREST"))


def test_a_wash_of_another_number_of_the_customer_does_not_count():
    assert answer(customer(nix=(NixStatus(phone="+46709999999", registered=False, as_of=WASHED),)))[1][0] == "NIX_NOT_CHECKED"


def test_an_override_consent_to_this_company_allows_a_nix_registered_number():
    state = customer(nix=(NixStatus(phone=PHONE, registered=True, as_of=WASHED),), consents=(override(datetime(2025, 5, 1, tzinfo=UTC)),))
    assert answer(state) == (True, ("LEGITIMATE_INTEREST", "NIX_OVERRIDE_CONSENT"))


def test_an_override_consent_to_another_company_does_not():
    state = customer(nix=(NixStatus(phone=PHONE, registered=True, as_of=WASHED),), consents=(override(datetime(2025, 5, 1, tzinfo=UTC), "Annat AB"),))
    assert answer(state)[0] is False


def test_a_lapsed_override_consent_is_named():
    state = customer(nix=(NixStatus(phone=PHONE, registered=True, as_of=WASHED),), consents=(override(datetime(2025, 1, 1, tzinfo=UTC)),))
    assert answer(state) == (False, ("CONSENT_EXPIRED", "NIX_REGISTERED", "LEGITIMATE_INTEREST"))


def test_an_existing_customer_of_the_company_may_be_called_despite_nix():
    state = customer(nix=(NixStatus(phone=PHONE, registered=True, as_of=WASHED),), customer_of=frozenset({COMPANY}))
    assert answer(state) == (True, ("LEGITIMATE_INTEREST", "EXISTING_CUSTOMER"))


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"status": Status.DECEASED, "deceased_on": date(2025, 5, 1)}, "DECEASED"),
        ({"status": Status.ERASED}, "ERASED"),
        ({"protections": frozenset({Protection.OTHER})}, "PROTECTED_IDENTITY"),
        ({"opted_out": frozenset({Channel.PHONE})}, "OPTED_OUT"),
        ({"opted_out": frozenset({Channel.ANY})}, "OPTED_OUT"),
    ],
)
def test_the_customers_own_state_stops_the_call(changes, code):
    may_call, reasons = answer(customer(**changes))
    assert may_call is False and code in reasons


@pytest.mark.parametrize(
    "change, code",
    [({"allowed": False}, "FORBIDDEN_BY_RULES"), ({"channels": frozenset({Channel.POST})}, "CHANNEL_NOT_ALLOWED")],
)
def test_the_rules_can_forbid_telemarketing(change, code):
    rules = load_rules().with_purpose(ConsentPurpose.TELEMARKETING, **change)
    may_call, reasons = answer(customer(), rules=rules)
    assert may_call is False and reasons[0] == code


def test_a_number_no_customer_has_is_unknown():
    assert answer(customer(phone="+46709999999")) == (False, ("UNKNOWN_NUMBER",))


def test_an_unreadable_number_and_an_empty_row_are_named():
    assert answer(customer(), row=WashRow(phone="ring mig")) == (False, ("INVALID_NUMBER",))
    assert answer(customer(), row=WashRow(phone=" ", customer_id="")) == (False, ("NO_NUMBER",))


def test_a_row_may_name_the_customer_instead_of_the_number():
    assert answer(customer(), row=WashRow(customer_id="C-1")) == (True, ("LEGITIMATE_INTEREST", "NIX_CHECKED"))
    assert answer(customer(), row=WashRow(customer_id="C-404")) == (False, ("NOT_A_CUSTOMER",))
    assert answer(customer(phone=None), row=WashRow(customer_id="C-1")) == (False, ("NO_PHONE_NUMBER", "LEGITIMATE_INTEREST"))


def test_a_row_naming_a_customer_and_a_number_that_is_not_theirs_is_refused():
    may_call, reasons = answer(customer(), row=WashRow(customer_id="C-1", phone="0709999999"))
    assert may_call is False and reasons[0] == "NOT_CUSTOMERS_NUMBER"


def test_a_shared_number_may_be_called_only_if_every_customer_with_it_may_be():
    fine, registered = customer("C-1"), customer("C-2", nix=(NixStatus(phone=PHONE, registered=True, as_of=date(2025, 6, 5)),))
    may_call, reasons = answer(fine, registered)
    assert may_call is False and "NIX_REGISTERED" in reasons


def test_wash_keeps_the_rows_in_order_with_their_cells_and_needs_no_database():
    rows = [WashRow(phone="070-123 45 67", values={"Telefon": "070-123 45 67", "Namn": "A"}), WashRow(phone="0709999999")]
    results = wash(rows, {PHONE: customer()}, COMPANY, AT)
    assert [(r.may_call, r.phone, r.customer_ids) for r in results] == [(True, PHONE, ("C-1",)), (False, "+46709999999", ())]
    assert results[0].row.values["Namn"] == "A"


def test_wash_refuses_a_moment_without_a_time_zone():
    with pytest.raises(ValueError, match="time zone"):
        wash([WashRow(phone=PHONE)], {PHONE: customer()}, COMPANY, datetime(2025, 6, 10))


# --- What a NIX register version changes -----------------------------------------------


def test_a_nix_version_registers_listed_numbers_and_checks_every_other_customer_with_a_phone():
    listed, other, no_phone = customer("C-1", nix=()), customer("C-2", phone="+46702222222", nix=()), customer("C-3", phone=None)
    documents, unchanged = nix_documents([listed, other, no_phone], {PHONE, "+46700000000"}, date(2025, 7, 1), "NIX")
    assert [(d["type"], d["customer_id"], d["phone"], d["register_version_date"]) for d in documents] == [
        ("NixRegistered", "C-1", PHONE, "2025-07-01"),
        ("NixDeregistered", "C-2", "+46702222222", "2025-07-01"),
    ]
    assert unchanged == 0


def test_a_nix_version_changes_nothing_the_register_already_knows_as_of_that_date_or_later():
    same = customer("C-1", nix=(NixStatus(phone=PHONE, registered=False, as_of=date(2025, 7, 1)),))
    newer = customer("C-2", phone="+46702222222", nix=(NixStatus(phone="+46702222222", registered=True, as_of=date(2025, 8, 1)),))
    older = customer("C-3", phone="+46703333333", nix=(NixStatus(phone="+46703333333", registered=False, as_of=date(2025, 6, 1)),))
    documents, unchanged = nix_documents([same, newer, older], set(), date(2025, 7, 1), "NIX")
    assert [(d["type"], d["customer_id"]) for d in documents] == [("NixDeregistered", "C-3")]
    assert unchanged == 2
