"""The lifecycle rules as customer life stories: what may enter the log, and what follows."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalog import (
    AddressChanged,
    Channel,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    CustomerDeceased,
    CustomerErased,
    ErasureReason,
    PersonalDataPurgeRequested,
    PostalAddress,
    ProtectedIdentitySet,
    Protection,
    PurgeReason,
    WithdrawalReason,
)
from events.jsonlines import parse_event
from events.refusal import Refusal
from processors.lifecycle import Admitted, Duplicate, Lifecycle
from tests.builders import envelope, person

ANNA = "C-1"
ACME = "Acme AB"


def registered(customer_id: str = ANNA):
    return parse_event(person(customer_id))


def consent(on: date, *, overrides_nix: bool = False, purpose=ConsentPurpose.TELEMARKETING, customer_id: str = ANNA) -> ConsentGiven:
    return ConsentGiven(
        envelope=envelope(customer_id, on=on), purpose=purpose, channel=Channel.PHONE, company=ACME, overrides_nix=overrides_nix
    )


def died(on: date, customer_id: str = ANNA) -> CustomerDeceased:
    return CustomerDeceased(envelope=envelope(customer_id, on=on), date_of_death=on)


def moved(effective: date, customer_id: str = ANNA) -> AddressChanged:
    return AddressChanged(
        envelope=envelope(customer_id, on=effective),
        effective_date=effective,
        address=PostalAddress(street="Ny 1", postal_code="22100", city="Lund"),
    )


def admitted(lifecycle: Lifecycle, *events):
    outcomes = [lifecycle.admit(e) for e in events]
    assert all(isinstance(o, Admitted) for o in outcomes), outcomes
    return outcomes


def test_an_event_for_a_customer_never_registered_is_refused():
    outcome = Lifecycle().admit(moved(date(2025, 1, 1)))
    assert isinstance(outcome, Refusal) and outcome.code == "UNKNOWN_CUSTOMER"
    assert str(outcome) == "customer_id has not been registered (CustomerRegistered must come first)"  # what a dead letter says


def test_a_customer_cannot_be_registered_twice():
    lifecycle = Lifecycle()
    admitted(lifecycle, registered())
    second = parse_event(person(ANNA, source="CRM2"))
    assert lifecycle.admit(second).code == "ALREADY_REGISTERED"


def test_the_same_event_twice_is_a_duplicate_not_a_new_fact():
    lifecycle = Lifecycle()
    registration = registered()
    admitted(lifecycle, registration)
    assert lifecycle.admit(registration) == Duplicate(registration)


def test_a_move_after_the_date_of_death_is_refused_but_one_before_it_is_history():
    lifecycle = Lifecycle()
    admitted(lifecycle, registered(), died(date(2025, 5, 1)))
    assert lifecycle.admit(moved(date(2025, 6, 1))).code == "AFTER_DEATH"
    assert isinstance(lifecycle.admit(moved(date(2025, 4, 1))), Admitted)


def test_no_consent_is_recorded_for_an_erased_customer():
    lifecycle = Lifecycle()
    admitted(lifecycle, registered(), CustomerErased(envelope=envelope(ANNA), reason=ErasureReason.CUSTOMER_REQUEST))
    assert lifecycle.admit(consent(date(2025, 2, 1))).code == "CUSTOMER_ERASED"


def test_a_customer_who_dies_loses_every_consent_each_withdrawal_naming_the_death():
    lifecycle = Lifecycle()
    marketing = consent(date(2025, 1, 5), purpose=ConsentPurpose.MARKETING)
    calls = consent(date(2025, 1, 6), overrides_nix=True)
    admitted(lifecycle, registered(), marketing, calls)
    death = died(date(2025, 2, 1))
    [outcome] = admitted(lifecycle, death)
    assert [type(e) for e in outcome.derived] == [ConsentWithdrawn, ConsentWithdrawn]
    assert {e.purpose for e in outcome.derived} == {ConsentPurpose.MARKETING, ConsentPurpose.TELEMARKETING}
    assert all(e.reason is WithdrawalReason.DECEASED and e.envelope.causation_id == death.event_id for e in outcome.derived)
    assert lifecycle.states[ANNA].consents == ()


def test_a_consent_that_lapsed_before_the_customer_died_expires_whether_or_not_the_timer_ran_in_between():
    calls = consent(date(2025, 1, 1), overrides_nix=True)  # lapses on 1 April
    death = died(date(2025, 5, 1))

    timer_ran, timer_late = Lifecycle(), Lifecycle()
    admitted(timer_ran, registered(), calls)
    admitted(timer_late, registered(), calls)
    expired_by_timer = timer_ran.due(datetime(2025, 4, 2, tzinfo=UTC))
    [after_timer] = admitted(timer_ran, death)
    [before_timer] = admitted(timer_late, death)

    assert [type(e) for e in before_timer.in_log_order] == [ConsentExpired, CustomerDeceased]  # nothing left to withdraw
    assert expired_by_timer + list(after_timer.in_log_order) == list(before_timer.in_log_order)
    assert timer_late.due(datetime(2025, 6, 1, tzinfo=UTC)) == []
    assert timer_ran.states[ANNA] == timer_late.states[ANNA]


def test_a_nix_override_consent_given_on_1_january_has_lapsed_on_1_april_without_any_other_event():
    lifecycle = Lifecycle()
    given = consent(date(2025, 1, 1), overrides_nix=True)
    admitted(lifecycle, registered(), given)
    assert lifecycle.due(datetime(2025, 3, 31, 23, 59, tzinfo=UTC)) == []
    [expired] = lifecycle.due(datetime(2025, 4, 1, 0, 0, tzinfo=UTC))
    assert isinstance(expired, ConsentExpired)
    assert expired.expired_on == date(2025, 4, 1)
    assert expired.envelope.causation_id == given.event_id
    assert expired.envelope.occurred_at == datetime(2025, 4, 1, tzinfo=UTC)
    assert lifecycle.states[ANNA].consents == ()
    assert lifecycle.due(datetime(2025, 12, 1, tzinfo=UTC)) == []


def test_a_renewed_consent_does_not_lapse_with_the_old_one():
    lifecycle = Lifecycle()
    admitted(lifecycle, registered(), consent(date(2025, 1, 1), overrides_nix=True), consent(date(2025, 3, 15), overrides_nix=True))
    assert lifecycle.due(datetime(2025, 4, 2, tzinfo=UTC)) == []
    [expired] = lifecycle.due(datetime(2025, 6, 15, tzinfo=UTC))
    assert expired.expired_on == date(2025, 6, 15)


def test_a_protected_identity_asks_every_recipient_to_purge_name_and_address():
    lifecycle = Lifecycle()
    admitted(lifecycle, registered())
    [outcome] = admitted(lifecycle, ProtectedIdentitySet(envelope=envelope(ANNA), protection=Protection.SKYDDAD_FOLKBOKFORING))
    [purge] = outcome.derived
    assert isinstance(purge, PersonalDataPurgeRequested) and purge.reason is PurgeReason.PROTECTED_IDENTITY
    assert {c.value for c in purge.data_categories} == {"NAME", "ADDRESS"}


def test_after_a_crash_between_a_death_and_its_withdrawals_the_replay_appends_them():
    lifecycle = Lifecycle()
    registration, given = registered(), consent(date(2025, 1, 5))
    admitted(lifecycle, registration, given)
    [outcome] = admitted(lifecycle, died(date(2025, 2, 1)))
    log_without_consequences = [registration, given, outcome.event]
    assert Lifecycle().replay(log_without_consequences) == list(outcome.derived)


# --- Replaying is deterministic ----------------------------------------------

life_events = st.lists(
    st.one_of(
        st.dates(date(2024, 1, 1), date(2026, 1, 1)).map(lambda d: consent(d, overrides_nix=True)),
        st.dates(date(2024, 1, 1), date(2026, 1, 1)).map(lambda d: consent(d, purpose=ConsentPurpose.MARKETING)),
        st.dates(date(2024, 1, 1), date(2026, 1, 1)).map(died),
        st.dates(date(2024, 1, 1), date(2026, 1, 1)).map(moved),
        st.just(ProtectedIdentitySet(envelope=envelope(ANNA), protection=Protection.OTHER)),
    ),
    max_size=12,
)


REGISTRATION = registered()


def run(upstream, now: datetime) -> list:
    """The log a worker writes for these upstream events: admitted events, their consequences, expiries."""
    lifecycle, log = Lifecycle(), []
    for event in [REGISTRATION, *upstream]:
        outcome = lifecycle.admit(event)
        if isinstance(outcome, Admitted):
            log += outcome.in_log_order
    return log + lifecycle.due(now)


@settings(max_examples=200, deadline=None)
@given(life_events)
def test_replaying_a_log_twice_yields_the_same_events_and_nothing_is_missing(upstream):
    log = run(upstream, datetime(2026, 11, 25, tzinfo=UTC))
    assert run(upstream, datetime(2026, 11, 25, tzinfo=UTC)) == log
    assert Lifecycle().replay(log) == []
    first, second = Lifecycle(), Lifecycle()
    first.replay(log)
    second.replay(log)
    assert first.states == second.states


@settings(max_examples=200, deadline=None)
@given(life_events)
def test_after_death_no_consent_survives_whatever_came_before(upstream):
    lifecycle = Lifecycle()
    lifecycle.replay(run(upstream, datetime(2026, 11, 25, tzinfo=UTC)))
    state = lifecycle.states[ANNA]
    if state.deceased_on is not None:
        assert state.consents == ()
