"""Contactability as customer stories: may this company contact this customer, on this channel, for this purpose, now?"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from events.catalog import (
    AddressChanged,
    Channel,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    ContactDetails,
    ContactDetailsChanged,
    CustomerDeceased,
    CustomerEmigrated,
    CustomerErased,
    CustomerRegistered,
    ErasureReason,
    MarketingOptOut,
    NixDeregistered,
    NixRegistered,
    PostalAddress,
    ProtectedIdentityLifted,
    ProtectedIdentitySet,
    Protection,
    WithdrawalReason,
)
from events.contactability import (
    ALLOW_MESSAGES,
    DEFAULT_RULES_PATH,
    DENY_MESSAGES,
    Decision,
    Reason,
    load_rules,
    may_contact,
    parse_rules,
)
from events.customer import NIX_OVERRIDE_VALIDITY_MONTHS, CustomerState, fold
from events.jsonlines import parse_event
from events.settings import Settings
from registervard.commands.contact import DENIED_EXIT_CODE
from tests.builders import envelope, person

ANNA = "C-1"
ACME = "Acme AB"
OTHER_COMPANY = "Annan AB"
PHONE = "+46701234567"
NEW_PHONE = "+46709999999"

MARKETING, PROFILING, TELEMARKETING, NEWSLETTER, OTHER = (
    ConsentPurpose.MARKETING,
    ConsentPurpose.PROFILING,
    ConsentPurpose.TELEMARKETING,
    ConsentPurpose.NEWSLETTER,
    ConsentPurpose.OTHER,
)
MARKETING_PURPOSES = (MARKETING, TELEMARKETING, NEWSLETTER)
CONTACT_CHANNELS = (Channel.PHONE, Channel.EMAIL, Channel.POST, Channel.SMS, Channel.OTHER)


# --- A customer's life, as events -----------------------------------------------------


def registered(*, customer_of: str | None = None, with_contact: bool = True, on: date = date(2025, 1, 10)) -> CustomerRegistered:
    """Anna registers (as the JSON Lines builder has her), as a customer of `customer_of` when named."""
    anna = parse_event(person(ANNA))
    details = anna.registration if with_contact else replace(anna.registration, contact=None)
    return replace(anna, envelope=envelope(ANNA, on=on), registration=details, company=customer_of)


def consent(
    on: date = date(2025, 1, 10),
    *,
    purpose: ConsentPurpose = MARKETING,
    channel: Channel = Channel.EMAIL,
    company: str = ACME,
    overrides_nix: bool = False,
    valid_until: date | None = None,
) -> ConsentGiven:
    return ConsentGiven(
        envelope=envelope(ANNA, on=on),
        purpose=purpose,
        channel=channel,
        company=company,
        overrides_nix=overrides_nix,
        valid_until=valid_until,
    )


def nix_override(on: date = date(2025, 1, 10), company: str = ACME) -> ConsentGiven:
    return consent(on, purpose=TELEMARKETING, channel=Channel.PHONE, company=company, overrides_nix=True)


def withdrawn(given: ConsentGiven, on: date) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        envelope=envelope(ANNA, on=on), purpose=given.purpose, channel=given.channel, company=given.company, reason=WithdrawalReason.CUSTOMER_REQUEST
    )


def nix_wash(version: date, *, in_nix: bool, phone: str = PHONE) -> NixRegistered | NixDeregistered:
    event = NixRegistered if in_nix else NixDeregistered
    return event(envelope=envelope(ANNA, on=version, source="NIX"), phone=phone, register_version_date=version)


def died(on: date = date(2025, 2, 1)) -> CustomerDeceased:
    return CustomerDeceased(envelope=envelope(ANNA, on=on, source="SPAR"), date_of_death=on)


def emigrated(on: date) -> CustomerEmigrated:
    return CustomerEmigrated(envelope=envelope(ANNA, on=on, source="SPAR"), effective_date=on, destination_country="NO")


def protected(on: date = date(2025, 1, 20)) -> ProtectedIdentitySet:
    return ProtectedIdentitySet(envelope=envelope(ANNA, on=on, source="SPAR"), protection=Protection.SKYDDAD_FOLKBOKFORING)


def opted_out(channel: Channel, on: date = date(2025, 1, 20)) -> MarketingOptOut:
    return MarketingOptOut(envelope=envelope(ANNA, on=on), channel=channel)


def new_phone(phone: str | None, on: date = date(2025, 2, 1)) -> ContactDetailsChanged:
    return ContactDetailsChanged(envelope=envelope(ANNA, on=on), contact=ContactDetails(phone=phone, email="anna@example.se"))


def erased(on: date = date(2025, 3, 1)) -> CustomerErased:
    return CustomerErased(envelope=envelope(ANNA, on=on), reason=ErasureReason.CUSTOMER_REQUEST)


def life(*events) -> CustomerState:
    return fold([registered(), *events])


def at(day: date | str, hour: int = 10) -> datetime:
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def ask(state: CustomerState | None, channel: Channel, purpose: ConsentPurpose, *, company: str = ACME, when: datetime | None = None, rules=None) -> Decision:
    return may_contact(state, channel=channel, purpose=purpose, company=company, at=when or at("2025-03-01"), rules=rules)


def codes(decision: Decision) -> set[str]:
    return set(decision.codes)


# --- Who is in the register at all --------------------------------------------------------


def test_someone_not_in_the_register_may_not_be_contacted():
    for state in (None, CustomerState(customer_id="C-404")):
        decision = ask(state, Channel.POST, OTHER)
        assert not decision.allowed and decision.codes == ("NOT_A_CUSTOMER",)


# --- Death, erasure, emigration ---------------------------------------------------------------


def test_a_customer_who_has_died_may_not_be_marketed_to_on_any_channel():
    state = life(consent(channel=Channel.ANY), nix_wash(date(2025, 1, 15), in_nix=False), died(date(2025, 2, 1)))
    for purpose in (MARKETING, PROFILING, TELEMARKETING, NEWSLETTER):
        for channel in CONTACT_CHANNELS:
            decision = ask(state, channel, purpose, when=at("2025-02-02"))
            assert not decision.allowed and "DECEASED" in codes(decision), (purpose, channel)


def test_post_about_a_contract_may_go_to_a_deceased_customers_estate_and_nothing_else():
    state = life(died())
    assert ask(state, Channel.POST, OTHER).codes == ("ESTATE", "CONTRACT")
    for channel in (Channel.PHONE, Channel.EMAIL, Channel.SMS):
        assert "DECEASED" in ask(state, channel, OTHER).codes


def test_an_erased_customer_may_not_be_contacted_at_all():
    state = life(consent(channel=Channel.ANY), erased())
    for purpose in ConsentPurpose:
        for channel in CONTACT_CHANNELS:
            decision = ask(state, channel, purpose, when=at("2025-03-02"))
            assert not decision.allowed and "ERASED" in codes(decision)


def test_an_emigrated_customer_gets_no_post_from_the_day_of_emigration():
    state = life(emigrated(date(2025, 6, 1)))
    assert ask(state, Channel.POST, OTHER, when=at("2025-05-31")).allowed
    for day in ("2025-06-01", "2025-09-01"):
        decision = ask(state, Channel.POST, OTHER, when=at(day))
        assert not decision.allowed and decision.denials[0].code == "EMIGRATED"
    assert ask(state, Channel.POST, MARKETING, when=at("2025-06-01")).codes[0] == "EMIGRATED"
    assert ask(state, Channel.EMAIL, OTHER, when=at("2025-06-01")).allowed


# --- Protected identity and opt-out ------------------------------------------------------------


def test_a_customer_with_a_protected_identity_gets_no_marketing_on_any_channel():
    state = life(consent(channel=Channel.ANY), protected())
    for purpose in MARKETING_PURPOSES:
        for channel in CONTACT_CHANNELS:
            assert "PROTECTED_IDENTITY" in codes(ask(state, channel, purpose))


def test_a_protected_identity_allows_contract_messages_but_not_post_to_the_hidden_address():
    state = life(protected())
    assert ask(state, Channel.EMAIL, OTHER).allowed
    assert ask(state, Channel.POST, OTHER).denials == (Reason("PROTECTED_IDENTITY", ask(state, Channel.POST, OTHER).denials[0].message),)


def test_lifting_a_protected_identity_opens_marketing_again():
    state = life(protected(), ProtectedIdentityLifted(envelope=envelope(ANNA, on=date(2025, 2, 1), source="SPAR")))
    assert ask(state, Channel.POST, MARKETING).allowed


def test_an_opt_out_on_one_channel_stops_marketing_on_that_channel_only():
    state = life(consent(channel=Channel.ANY), opted_out(Channel.EMAIL))
    assert ask(state, Channel.EMAIL, MARKETING).codes == ("OPTED_OUT", "CONSENT_VALID")
    assert ask(state, Channel.SMS, MARKETING).allowed


def test_an_opt_out_from_all_channels_stops_all_marketing_but_not_contract_messages():
    state = life(consent(channel=Channel.ANY), opted_out(Channel.ANY))
    for channel in (Channel.POST, Channel.EMAIL, Channel.SMS):
        assert "OPTED_OUT" in codes(ask(state, channel, MARKETING))
    assert ask(state, Channel.EMAIL, OTHER).codes == ("CONTRACT",)


# --- Consent -----------------------------------------------------------------------------------------


def test_email_marketing_needs_a_consent_to_this_very_company():
    state = life(consent(channel=Channel.EMAIL, company=ACME))
    assert ask(state, Channel.EMAIL, MARKETING).codes == ("CONSENT_VALID",)
    assert ask(state, Channel.EMAIL, MARKETING, company=OTHER_COMPANY).codes == ("NO_CONSENT",)
    assert ask(state, Channel.SMS, MARKETING).codes == ("NO_CONSENT",)
    assert ask(state, Channel.EMAIL, NEWSLETTER).codes == ("NO_CONSENT",)


def test_a_consent_on_any_channel_covers_every_channel():
    state = life(consent(purpose=NEWSLETTER, channel=Channel.ANY))
    for channel in (Channel.EMAIL, Channel.POST, Channel.SMS):
        assert ask(state, channel, NEWSLETTER).codes == ("CONSENT_VALID",)


def test_a_consent_lapses_the_day_after_its_last_valid_day():
    state = life(consent(channel=Channel.EMAIL, valid_until=date(2025, 3, 31)))
    assert ask(state, Channel.EMAIL, MARKETING, when=at("2025-03-31", 23)).allowed
    assert ask(state, Channel.EMAIL, MARKETING, when=at("2025-04-01", 0)).codes == ("CONSENT_EXPIRED",)


def test_a_consent_given_after_the_moment_asked_about_does_not_count_then():
    state = life(consent(date(2025, 3, 1), channel=Channel.EMAIL))
    assert ask(state, Channel.EMAIL, MARKETING, when=at("2025-02-28")).codes == ("NO_CONSENT",)
    assert ask(state, Channel.EMAIL, MARKETING, when=at("2025-03-02")).allowed


def test_a_withdrawn_consent_no_longer_allows_contact():
    given = consent(channel=Channel.EMAIL)
    assert ask(life(given, withdrawn(given, date(2025, 2, 1))), Channel.EMAIL, MARKETING).codes == ("NO_CONSENT",)


def test_profiling_needs_consent_whatever_the_channel():
    assert ask(life(), Channel.ANY, PROFILING).codes == ("NO_CONSENT",)
    assert ask(life(consent(purpose=PROFILING, channel=Channel.ANY)), Channel.ANY, PROFILING).codes == ("CONSENT_VALID",)


def test_addressed_post_marketing_needs_no_consent_only_the_absence_of_an_opt_out():
    assert ask(life(), Channel.POST, MARKETING).codes == ("LEGITIMATE_INTEREST",)
    assert not ask(life(opted_out(Channel.POST)), Channel.POST, MARKETING).allowed


def test_contact_needed_to_fulfil_a_contract_needs_no_consent():
    for channel in CONTACT_CHANNELS:
        assert ask(life(), channel, OTHER).codes == ("CONTRACT",)


# --- NIX-Telefon ------------------------------------------------------------------------------------


def test_a_number_found_not_in_nix_may_be_called_for_two_months_from_the_register_version_used():
    state = life(nix_wash(date(2025, 3, 1), in_nix=False))
    assert ask(state, Channel.PHONE, TELEMARKETING, when=at("2025-04-30", 23)).codes == ("LEGITIMATE_INTEREST", "NIX_CHECKED")
    assert ask(state, Channel.PHONE, TELEMARKETING, when=at("2025-05-01")).codes == ("NIX_NOT_CHECKED", "LEGITIMATE_INTEREST")


def test_a_number_never_washed_against_nix_may_not_be_called_for_telemarketing():
    assert ask(life(), Channel.PHONE, TELEMARKETING).denials[0].code == "NIX_NOT_CHECKED"


def test_a_wash_of_the_customers_old_number_does_not_cover_the_new_one():
    state = life(nix_wash(date(2025, 2, 15), in_nix=False), new_phone(NEW_PHONE, date(2025, 2, 20)))
    assert "NIX_NOT_CHECKED" in codes(ask(state, Channel.PHONE, TELEMARKETING))


def test_a_number_registered_in_nix_may_not_be_called_for_telemarketing():
    state = life(nix_wash(date(2025, 2, 15), in_nix=True))
    decision = ask(state, Channel.PHONE, TELEMARKETING)
    assert not decision.allowed and decision.denials[0].code == "NIX_REGISTERED"


def test_nix_does_not_stop_calls_about_a_contract():
    assert ask(life(nix_wash(date(2025, 2, 15), in_nix=True)), Channel.PHONE, OTHER).allowed


def test_a_nix_override_consent_lets_only_the_named_company_call_and_lapses_after_three_months():
    state = life(nix_wash(date(2025, 1, 5), in_nix=True), nix_override(date(2025, 1, 10), company=ACME))
    assert ask(state, Channel.PHONE, TELEMARKETING, when=at("2025-04-09", 23)).codes == ("LEGITIMATE_INTEREST", "NIX_OVERRIDE_CONSENT")
    lapsed = ask(state, Channel.PHONE, TELEMARKETING, when=at("2025-04-10", 0))
    assert not lapsed.allowed and {"CONSENT_EXPIRED", "NIX_REGISTERED"} <= codes(lapsed)
    other = ask(state, Channel.PHONE, TELEMARKETING, company=OTHER_COMPANY, when=at("2025-02-01"))
    assert not other.allowed and "NIX_REGISTERED" in codes(other)


def test_a_telemarketing_consent_that_does_not_name_nix_does_not_overrule_nix():
    state = life(nix_wash(date(2025, 1, 5), in_nix=True), consent(purpose=TELEMARKETING, channel=Channel.PHONE))
    assert "NIX_REGISTERED" in codes(ask(state, Channel.PHONE, TELEMARKETING))


def test_a_customer_without_a_phone_number_cannot_be_called_nor_one_without_email_mailed():
    state = fold([registered(with_contact=False), consent(channel=Channel.ANY)])
    assert ask(state, Channel.PHONE, TELEMARKETING).denials[0].code == "NO_PHONE_NUMBER"
    assert ask(state, Channel.SMS, OTHER).codes == ("NO_PHONE_NUMBER", "CONTRACT")
    assert ask(state, Channel.EMAIL, MARKETING).codes == ("NO_EMAIL_ADDRESS", "CONSENT_VALID")
    assert ask(life(new_phone(None)), Channel.PHONE, OTHER).denials[0].code == "NO_PHONE_NUMBER"


def test_telemarketing_is_done_by_phone_only():
    decision = ask(life(nix_wash(date(2025, 2, 15), in_nix=False)), Channel.SMS, TELEMARKETING)
    assert not decision.allowed and "CHANNEL_NOT_ALLOWED" in codes(decision)


# --- The existing-customer exception -----------------------------------------------------------------


def test_an_existing_customer_may_be_called_despite_nix_by_the_company_they_are_a_customer_of():
    state = fold([registered(customer_of=ACME), nix_wash(date(2025, 2, 15), in_nix=True)])
    assert ask(state, Channel.PHONE, TELEMARKETING).codes == ("LEGITIMATE_INTEREST", "EXISTING_CUSTOMER")
    assert "NIX_REGISTERED" in codes(ask(state, Channel.PHONE, TELEMARKETING, company=OTHER_COMPANY))


def test_an_existing_customer_may_get_email_marketing_but_no_newsletter_or_profiling_without_consent():
    state = fold([registered(customer_of=ACME)])
    assert ask(state, Channel.EMAIL, MARKETING).codes == ("EXISTING_CUSTOMER",)
    assert ask(state, Channel.EMAIL, NEWSLETTER).codes == ("NO_CONSENT",)
    assert ask(state, Channel.ANY, PROFILING).codes == ("NO_CONSENT",)


def test_the_existing_customer_exception_is_a_rule_that_can_be_switched_off():
    state = fold([registered(customer_of=ACME), nix_wash(date(2025, 2, 15), in_nix=True)])
    rules = load_rules().with_purpose(TELEMARKETING, existing_customer_exception=False)
    assert ask(state, Channel.PHONE, TELEMARKETING, rules=rules).denials[0].code == "NIX_REGISTERED"


def test_an_existing_customer_who_opted_out_is_not_marketed_to():
    state = fold([registered(customer_of=ACME), opted_out(Channel.ANY)])
    assert "OPTED_OUT" in codes(ask(state, Channel.EMAIL, MARKETING))


# --- Rules as data ---------------------------------------------------------------------------------------


def test_a_ban_on_telemarketing_is_one_setting_in_the_rules():
    banned = load_rules().with_purpose(TELEMARKETING, allowed=False)
    state = fold([registered(customer_of=ACME), nix_wash(date(2025, 2, 15), in_nix=False), nix_override(date(2025, 2, 15))])
    assert ask(state, Channel.PHONE, TELEMARKETING).allowed
    decision = ask(state, Channel.PHONE, TELEMARKETING, rules=banned)
    assert not decision.allowed and decision.denials[0].code == "FORBIDDEN_BY_RULES"
    assert ask(state, Channel.PHONE, OTHER, rules=banned).allowed


def test_a_rules_file_named_by_the_settings_replaces_the_packaged_one(tmp_path, monkeypatch):
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    section = text.index("[purposes.TELEMARKETING]")
    banned = text[:section] + text[section:].replace("allowed = true", "allowed = false", 1)
    path = tmp_path / "rules.toml"
    path.write_text(banned, encoding="utf-8")
    monkeypatch.setenv("REGISTERVARD_CONTACT_RULES", str(path))
    rules = load_rules(Settings.from_env().contact_rules)
    assert not rules.versions[0].purposes[TELEMARKETING].allowed
    decision = ask(life(nix_wash(date(2025, 2, 15), in_nix=False)), Channel.PHONE, TELEMARKETING, rules=rules)
    assert decision.denials[0].code == "FORBIDDEN_BY_RULES"
    monkeypatch.delenv("REGISTERVARD_CONTACT_RULES")
    assert load_rules(Settings.from_env().contact_rules).versions[0].purposes[TELEMARKETING].allowed


def test_the_packaged_rules_state_the_nix_periods_and_agree_with_the_fold():
    [rules] = load_rules(DEFAULT_RULES_PATH).versions
    assert (rules.nix_wash_valid_months, rules.nix_override_consent_months) == (2, NIX_OVERRIDE_VALIDITY_MONTHS)
    assert load_rules() is load_rules()  # read once


def test_rules_whose_nix_override_period_disagrees_with_the_fold_are_refused():
    data = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    data["nix"]["override_consent_months"] = NIX_OVERRIDE_VALIDITY_MONTHS + 3
    with pytest.raises(ValueError, match="NIX_OVERRIDE_VALIDITY_MONTHS"):
        parse_rules(data)


def test_rules_must_cover_every_purpose_and_name_known_channels():
    data = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    del data["purposes"]["NEWSLETTER"]
    with pytest.raises(ValueError, match="no rule for NEWSLETTER"):
        parse_rules(data)
    data = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    data["purposes"]["MARKETING"]["channels"] = ["FAX"]
    with pytest.raises(ValueError, match="FAX"):
        parse_rules(data)


def test_the_code_holds_no_rule_per_purpose_name():
    source = (DEFAULT_RULES_PATH.parent / "contactability.py").read_text(encoding="utf-8")
    for purpose in ConsentPurpose:
        assert f"ConsentPurpose.{purpose.name}" not in source and f'"{purpose.value}"' not in source


# --- The decision as a whole -----------------------------------------------------------------------------


def test_a_denial_lists_every_reason_that_applies_before_those_that_allow():
    state = life(nix_wash(date(2025, 2, 15), in_nix=True), protected(), opted_out(Channel.ANY), emigrated(date(2025, 2, 20)))
    decision = ask(state, Channel.PHONE, TELEMARKETING)
    assert decision.codes == ("PROTECTED_IDENTITY", "OPTED_OUT", "NIX_REGISTERED", "LEGITIMATE_INTEREST")
    assert [r.denies for r in decision.reasons] == [True, True, True, False]


def test_reasons_carry_no_personal_data():
    state = life(nix_wash(date(2025, 2, 15), in_nix=True), protected(), consent(channel=Channel.ANY, valid_until=date(2025, 2, 1)))
    personal = [PHONE, "anna@example.se", "Anna", "Svensson", "Storgatan", "198112189876", "11122"]
    for purpose in ConsentPurpose:
        for channel in Channel:
            for reason in ask(state, channel, purpose).reasons:
                assert not any(value in reason.message for value in personal), reason


def test_every_reason_code_has_a_message_and_denies_or_allows():
    assert not set(DENY_MESSAGES) & set(ALLOW_MESSAGES)
    assert {"NOT_A_CUSTOMER", "DECEASED", "ERASED", "EMIGRATED", "PROTECTED_IDENTITY", "OPTED_OUT", "NIX_REGISTERED",
            "NIX_NOT_CHECKED", "CONSENT_EXPIRED", "NO_CONSENT", "NO_PHONE_NUMBER", "FORBIDDEN_BY_RULES"} <= set(DENY_MESSAGES)
    assert {"CONSENT_VALID", "NIX_OVERRIDE_CONSENT", "EXISTING_CUSTOMER", "CONTRACT"} <= set(ALLOW_MESSAGES)


def test_a_moment_without_a_time_zone_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        may_contact(life(), channel=Channel.POST, purpose=OTHER, company=ACME, at=datetime(2025, 3, 1, 10))


# --- Properties ----------------------------------------------------------------------------------------------

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
companies = st.sampled_from([ACME, OTHER_COMPANY])
phones = st.sampled_from([PHONE, NEW_PHONE])


def _consent_events(draw_on, purpose, channel, company, overrides, valid_until, kind):
    given = ConsentGiven(
        envelope=envelope(ANNA, on=draw_on), purpose=purpose, channel=channel, company=company, overrides_nix=overrides, valid_until=valid_until
    )
    if kind == "given":
        return given
    if kind == "withdrawn":
        return withdrawn(given, draw_on)
    return ConsentExpired(envelope=envelope(ANNA, on=draw_on), purpose=purpose, channel=channel, company=company, expired_on=draw_on)


consent_events = st.builds(
    _consent_events,
    days,
    st.sampled_from(list(ConsentPurpose)),
    st.sampled_from(list(Channel)),
    companies,
    st.booleans(),
    st.none() | days,
    st.sampled_from(["given", "given", "withdrawn", "expired"]),
)

lifecycle_events = st.one_of(
    st.builds(lambda company, on: registered(customer_of=company, on=on), st.none() | companies, days),
    consent_events,
    st.builds(lambda on, in_nix, phone: nix_wash(on, in_nix=in_nix, phone=phone), days, st.booleans(), phones),
    st.builds(lambda phone, on: new_phone(phone, on), st.none() | phones, days),
    st.builds(lambda channel, on: opted_out(channel, on), st.sampled_from(list(Channel)), days),
    st.builds(protected, days),
    st.builds(lambda on: ProtectedIdentityLifted(envelope=envelope(ANNA, on=on)), days),
    st.builds(emigrated, days),
    st.builds(
        lambda on: AddressChanged(envelope=envelope(ANNA, on=on), effective_date=on, address=PostalAddress(street="Ny 1", postal_code="22100", city="Lund")),
        days,
    ),
    st.builds(erased, days),
)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(lifecycle_events, max_size=12).flatmap(lambda es: st.permutations([registered(), died(date(2025, 6, 1)), *es])),
    purpose=st.sampled_from(MARKETING_PURPOSES),
    channel=st.sampled_from(list(Channel)),
    company=companies,
    after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1000)),
)
def test_no_order_of_events_makes_a_deceased_customer_contactable_for_marketing(events, purpose, channel, company, after):
    state = fold(events)
    decision = may_contact(state, channel=channel, purpose=purpose, company=company, at=at("2025-06-01", 0) + after)
    assert not decision.allowed
    assert "DECEASED" in decision.codes


def _valid_override(state: CustomerState, company: str, when: datetime) -> bool:
    return any(
        c.overrides_nix
        and c.purpose is TELEMARKETING
        and c.company == company
        and c.channel in (Channel.PHONE, Channel.ANY)
        and c.given_at <= when
        and (c.lapses_on is None or when.date() < c.lapses_on)
        for c in state.consents
    )


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(lifecycle_events, max_size=12).flatmap(lambda es: st.permutations([registered(), *es])),
    override=st.none() | st.builds(nix_override, days, companies),
    company=companies,
    data=st.data(),
    existing_customer_exception=st.booleans(),
)
def test_a_number_in_nix_is_never_called_for_telemarketing_without_a_valid_override_consent_from_the_same_company(
    events, override, company, data, existing_customer_exception
):
    # The number the customer has last, registered in NIX by the newest register version read.
    state = fold([*events, *([override] if override else []), new_phone(PHONE, date(2026, 12, 31)), nix_wash(date(2027, 1, 1), in_nix=True)])
    near_override = st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=100)).map(lambda d: override.envelope.occurred_at + d)
    when = data.draw(moments | near_override if override else moments)
    rules = load_rules().with_purpose(TELEMARKETING, existing_customer_exception=existing_customer_exception)
    decision = may_contact(state, channel=Channel.PHONE, purpose=TELEMARKETING, company=company, at=when, rules=rules)
    existing = existing_customer_exception and company in state.customer_of
    event(f"allowed={decision.allowed} override={_valid_override(state, company, when)} existing={existing}")
    if decision.allowed:
        assert _valid_override(state, company, when) or existing
    if not existing and not _valid_override(state, company, when):
        assert not decision.allowed and "NIX_REGISTERED" in decision.codes


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(lifecycle_events, max_size=12).flatmap(lambda es: st.permutations([*es, died(date(2025, 6, 1))]) | st.just(es)),
    purpose=st.sampled_from(list(ConsentPurpose)),
    channel=st.sampled_from(list(Channel)),
    company=companies,
    when=moments,
)
def test_the_decision_is_deterministic_and_allowed_exactly_when_no_reason_denies(events, purpose, channel, company, when):
    state = fold(events)
    decision = may_contact(state, channel=channel, purpose=purpose, company=company, at=when)
    again = may_contact(fold(events), channel=channel, purpose=purpose, company=company, at=when)
    assert decision == again
    assert decision.allowed == (not any(r.denies for r in decision.reasons))
    assert decision.reasons and len(set(decision.codes)) == len(decision.codes)
    assert all(r.code in DENY_MESSAGES or r.code in ALLOW_MESSAGES for r in decision.reasons)
    assert [r.denies for r in decision.reasons] == sorted((r.denies for r in decision.reasons), reverse=True)


# --- The command line --------------------------------------------------------------------------------------------


@pytest.fixture
def register(tmp_path, monkeypatch):
    """A SQLite register (and audit trail) holding the events given, for `registervard contact check`."""
    from events import codec
    from events.event_log import LogRecord
    from projections.audit import AuditProjection
    from projections.database import connect
    from projections.register import RegisterProjection
    from projections.runner import apply_batch

    url = f"sqlite:///{tmp_path / 'register.db'}"
    monkeypatch.setenv("REGISTERVARD_DATABASE_URL", url)

    def store(*events) -> None:
        records = [LogRecord(topic="events", partition=0, offset=n, value=codec.encode(e)) for n, e in enumerate(events)]
        engine = connect(url)
        apply_batch(engine, RegisterProjection(), records)
        apply_batch(engine, AuditProjection(), records)
        engine.dispose()

    return store


def _contact_check(*args: str):
    from registervard.cli import app

    return CliRunner().invoke(app, ["contact", "check", *args])


def test_contact_check_answers_from_the_register_with_every_reason(register):
    register(registered(), nix_wash(date(2025, 5, 20), in_nix=True), opted_out(Channel.EMAIL))
    denied = _contact_check(ANNA, "--channel", "PHONE", "--purpose", "TELEMARKETING", "--company", ACME, "--at", "2025-06-01T10:00:00Z")
    assert denied.exit_code == DENIED_EXIT_CODE == 3, denied.output
    assert "NOT ALLOWED" in denied.output and "NIX_REGISTERED" in denied.output and PHONE not in denied.output
    allowed = _contact_check(ANNA, "--channel", "post", "--purpose", "marketing", "--company", ACME, "--at", "2025-06-01T10:00:00Z", "--json")
    assert allowed.exit_code == 0, allowed.output
    answer = json.loads(allowed.output)
    assert answer["allowed"] is True and [r["code"] for r in answer["reasons"]] == ["LEGITIMATE_INTEREST"]


def test_contact_check_of_an_unknown_customer_says_so(register):
    register(registered())
    result = _contact_check("C-404", "--channel", "POST", "--purpose", "OTHER", "--company", ACME, "--json")
    assert result.exit_code == DENIED_EXIT_CODE
    assert json.loads(result.output)["reasons"][0]["code"] == "NOT_A_CUSTOMER"


def test_contact_check_refuses_a_time_without_a_zone(register):
    result = _contact_check(ANNA, "--channel", "POST", "--purpose", "OTHER", "--company", ACME, "--at", "2025-06-01T10:00:00")
    assert result.exit_code == 1 and "time zone" in result.output
