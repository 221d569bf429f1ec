"""Two time axes, as customer stories: a customer as they stood at a moment in the world ("valid at"), as the register
had been told by a moment ("known at"), and what contactability decides from that (events.timeline)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from events.catalog import (
    AddressChanged,
    Channel,
    CivilStatus,
    CivilStatusChanged,
    ConsentExpired,
    ConsentGiven,
    ConsentPurpose,
    ConsentWithdrawn,
    ContactPersonLeft,
    CustomerDeceased,
    CustomerDeregistered,
    CustomerEmigrated,
    CustomerErased,
    CustomerImmigrated,
    ErasureReason,
    Event,
    MarketingOptOut,
    NameChanged,
    NameChangeReason,
    NixDeregistered,
    NixRegistered,
    PersonName,
    PostalAddress,
    WithdrawalReason,
)
from events.contactability import may_contact
from events.customer import Status, fold
from events.jsonlines import parse_event
from events.timeline import FoldAt, state_at, valid_from
from processors.lifecycle import Admitted, Lifecycle
from tests.builders import envelope, person

ANNA = "C-1"
ACME = "Acme AB"
PHONE = "+46701234567"
TELEMARKETING = ConsentPurpose.TELEMARKETING
LUND = PostalAddress(street="Ågatan 2", postal_code="22100", city="Lund")
FAR = datetime(2099, 1, 1, tzinfo=UTC)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02}:00:00+00:00")


def registered(on: str = "2024-12-01"):
    return parse_event(person(ANNA, occurred_at=f"{on}T09:00:00Z", recorded_at=f"{on}T09:00:00Z"))


def in_nix(version: str = "2024-12-01") -> NixRegistered:
    return NixRegistered(envelope=envelope(ANNA, on=date.fromisoformat(version), source="NIX"), phone=PHONE, register_version_date=date.fromisoformat(version))


def nix_override(on: str = "2025-01-01", recorded: str | None = None) -> ConsentGiven:
    given = envelope(ANNA, on=at(on, 9))
    if recorded is not None:
        given = replace(given, recorded_at=at(recorded, 9))
    return ConsentGiven(envelope=given, purpose=TELEMARKETING, channel=Channel.PHONE, company=ACME, overrides_nix=True)


def died(*, reported: date, on: date) -> CustomerDeceased:
    return CustomerDeceased(envelope=envelope(ANNA, on=reported, source="SPAR"), date_of_death=on)


def erased(on: date) -> CustomerErased:
    return CustomerErased(envelope=envelope(ANNA, on=on), reason=ErasureReason.CUSTOMER_REQUEST)


def worker_log(*intake: Event, until: str = "2025-12-31") -> list[Event]:
    """The canonical log the worker writes for these intake events: each admitted with what follows from it, then the
    consents the expiry timer lapses by `until`."""
    lifecycle, log = Lifecycle(), []
    for event in intake:
        admitted = lifecycle.admit(event)
        assert isinstance(admitted, Admitted), admitted
        log += admitted.in_log_order
    return log + list(lifecycle.due(at(until)))


def call(state, when: datetime):
    return may_contact(state, channel=Channel.PHONE, purpose=TELEMARKETING, company=ACME, at=when)


# --- The defect: a consent that has lapsed since ---------------------------------------------------------------


def test_a_nix_override_given_on_1_january_allows_a_call_on_15_february_though_it_lapsed_on_1_april():
    log = worker_log(registered(), in_nix(), nix_override("2025-01-01"))
    assert [type(e).__name__ for e in log][-1] == "ConsentExpired", "the timer lapsed it on 1 April"

    february = state_at(log, valid_at=at("2025-02-15"), known_at=FAR)
    decision = call(february, at("2025-02-15"))
    assert decision.allowed and "NIX_OVERRIDE_CONSENT" in decision.codes

    may = state_at(log, valid_at=at("2025-05-01"), known_at=FAR)
    assert not call(may, at("2025-05-01")).allowed and "NIX_REGISTERED" in call(may, at("2025-05-01")).codes

    # Today's state (the whole log folded) no longer holds the consent: asked about 15 February, it answered no.
    assert "NIX_REGISTERED" in call(fold(log), at("2025-02-15")).codes


def test_known_at_before_the_consent_was_recorded_answers_as_the_register_could_then():
    log = worker_log(registered(), in_nix(), nix_override("2025-01-01", recorded="2025-01-03"))
    before = state_at(log, valid_at=at("2025-02-15"), known_at=at("2025-01-02"))
    assert before is not None and before.consents == ()
    assert not call(before, at("2025-02-15")).allowed and "NIX_REGISTERED" in call(before, at("2025-02-15")).codes
    after = state_at(log, valid_at=at("2025-02-15"), known_at=at("2025-01-03"))
    assert call(after, at("2025-02-15")).allowed


def test_a_consent_withdrawn_later_is_still_in_force_before_its_withdrawal():
    given = nix_override("2025-01-01")
    withdrawn = ConsentWithdrawn(
        envelope=envelope(ANNA, on=at("2025-01-20", 9)), purpose=TELEMARKETING, channel=Channel.PHONE, company=ACME, reason=WithdrawalReason.CUSTOMER_REQUEST
    )
    log = worker_log(registered(), in_nix(), given, withdrawn)
    assert call(state_at(log, valid_at=at("2025-01-15"), known_at=FAR), at("2025-01-15")).allowed
    assert not call(state_at(log, valid_at=at("2025-01-21"), known_at=FAR), at("2025-01-21")).allowed


def test_before_the_registration_the_customer_was_no_customer():
    log = worker_log(registered("2025-01-10"))
    assert state_at(log, valid_at=at("2025-01-09"), known_at=FAR) is None
    assert call(None, at("2025-01-09")).codes == ("NOT_A_CUSTOMER",)
    assert state_at(log, valid_at=FAR, known_at=at("2025-01-09")) is None, "nor before the register was told"


# --- Facts with dates of their own -----------------------------------------------------------------------------


def test_a_move_holds_from_its_effective_date_and_a_late_report_only_once_known():
    announced = AddressChanged(envelope=envelope(ANNA, on=date(2025, 5, 15)), effective_date=date(2025, 7, 1), address=LUND)
    late = AddressChanged(envelope=envelope(ANNA, on=date(2025, 8, 1)), effective_date=date(2025, 5, 1), address=replace(LUND, street="Majgatan 5"))
    log = [registered(), announced, late]
    assert state_at(log, valid_at=at("2025-06-01"), known_at=at("2025-06-01")).address.street == "Storgatan 1"
    assert state_at(log, valid_at=at("2025-06-01"), known_at=FAR).address.street == "Majgatan 5", "as known now"
    assert state_at(log, valid_at=at("2025-07-01"), known_at=FAR).address == LUND


def test_a_death_ends_the_consents_from_its_date_not_before():
    log = worker_log(registered(), in_nix(), nix_override("2025-01-01"), died(reported=date(2025, 1, 25), on=date(2025, 1, 20)))
    assert any(isinstance(e, ConsentWithdrawn) for e in log), "the death withdrew the consent"
    assert call(state_at(log, valid_at=at("2025-01-19"), known_at=FAR), at("2025-01-19")).allowed
    after = state_at(log, valid_at=at("2025-01-20"), known_at=FAR)
    assert after.status is Status.DECEASED and "DECEASED" in call(after, at("2025-01-20")).codes


def test_a_deregistration_announced_ahead_ends_the_consents_on_its_day_not_on_the_day_it_was_reported():
    reported = CustomerDeregistered(envelope=envelope(ANNA, on=date(2025, 2, 1), source="SPAR"), cause="FI", effective_date=date(2025, 3, 1))
    log = worker_log(registered(), in_nix(), nix_override("2025-01-01"), reported)
    [withdrawn] = [e for e in log if isinstance(e, ConsentWithdrawn)]
    assert withdrawn.envelope.occurred_at == reported.envelope.occurred_at, "the consequence carries the report's time"
    february = state_at(log, valid_at=at("2025-02-15"), known_at=FAR)
    assert february.status is Status.ACTIVE and len(february.consents) == 1 and call(february, at("2025-02-15")).allowed
    march = state_at(log, valid_at=at("2025-03-01"), known_at=FAR)
    assert march.status is Status.DEREGISTERED and march.consents == ()


def test_an_erasure_once_known_applies_at_every_moment():
    log = worker_log(registered(), in_nix(), nix_override("2025-01-01"), erased(date(2025, 3, 1)))
    february = state_at(log, valid_at=at("2025-02-15"), known_at=FAR)
    assert february.status is Status.ERASED and february.name is None and february.contact is None
    assert "ERASED" in call(february, at("2025-02-15")).codes
    before_it_was_known = state_at(log, valid_at=at("2025-02-15"), known_at=at("2025-02-28"))
    assert before_it_was_known.status is Status.ACTIVE


def test_when_each_fact_holds():
    day = date(2025, 6, 1)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    reported = envelope(ANNA, on=datetime(2025, 6, 20, 12, tzinfo=UTC))
    dated = [
        AddressChanged(envelope=reported, effective_date=day, address=LUND),
        NameChanged(envelope=reported, effective_date=day, reason=NameChangeReason.MARRIAGE, name=PersonName(given_names="Anna", surname="Berg")),
        CivilStatusChanged(envelope=reported, effective_date=day, civil_status=CivilStatus.MARRIED),
        CustomerEmigrated(envelope=reported, effective_date=day),
        CustomerImmigrated(envelope=reported, effective_date=day, address=LUND),
        CustomerDeregistered(envelope=reported, cause="FI", effective_date=day),
        ContactPersonLeft(envelope=reported, company_id="C-2", effective_date=day),
        CustomerDeceased(envelope=reported, date_of_death=day),
        ConsentExpired(envelope=reported, purpose=TELEMARKETING, channel=Channel.PHONE, company=ACME, expired_on=day),
        NixRegistered(envelope=reported, phone=PHONE, register_version_date=day),
        NixDeregistered(envelope=reported, phone=PHONE, register_version_date=day),
    ]
    assert [valid_from(e) for e in dated] == [start] * len(dated)
    undated = [
        NixRegistered(envelope=reported, phone=PHONE),
        MarketingOptOut(envelope=reported, channel=Channel.ANY),
        ConsentGiven(envelope=reported, purpose=TELEMARKETING, channel=Channel.PHONE, company=ACME),
    ]
    assert [valid_from(e) for e in undated] == [reported.occurred_at] * len(undated)


@pytest.mark.parametrize(
    "story",
    [
        lambda: worker_log(registered(), in_nix(), nix_override("2025-01-01")),
        lambda: worker_log(registered(), nix_override("2025-01-01"), died(reported=date(2025, 2, 1), on=date(2025, 1, 30))),
        lambda: worker_log(registered(), nix_override("2025-01-01"), erased(date(2025, 3, 1))),
    ],
)
def test_asked_about_now_as_known_now_it_is_the_fold_of_the_whole_log(story):
    log = story()
    assert state_at(log, valid_at=FAR, known_at=FAR) == fold(log)


def test_a_fold_at_a_moment_over_a_log_read_in_batches_is_the_same_per_customer():
    bertil = parse_event(person("C-2", occurred_at="2025-01-05T09:00:00Z", recorded_at="2025-01-05T09:00:00Z"))
    log = worker_log(registered(), bertil, in_nix(), nix_override("2025-01-01"))
    folding = FoldAt(valid_at=at("2025-02-15"), known_at=FAR)
    for start in range(0, len(log), 2):
        folding.add(log[start : start + 2])
    assert folding.states[ANNA] == state_at([e for e in log if e.customer_id == ANNA], valid_at=at("2025-02-15"), known_at=FAR)
    assert set(folding.states) == {ANNA, "C-2"}


def test_moments_need_a_time_zone():
    with pytest.raises(ValueError, match="time zone"):
        state_at([registered()], valid_at=datetime(2025, 1, 1), known_at=FAR)
