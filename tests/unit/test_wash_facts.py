"""The wash decides once per number and per distinct facts (projections/wash.py): it must answer exactly as deciding
every row from scratch (`wash_one`, `may_contact` on the whole state) does, over varied registers, moments and rules."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalog import Channel, ConsentPurpose, ContactDetails, CustomerKind, PostalAddress, Protection
from events.contactability import Rules, load_rules, may_contact
from events.customer import Consent, CustomerState, DatedAddress, NixStatus, Status
from projections.wash import Washer, WashRow, decision_facts, index_by_phone, stand_in, wash, wash_one

COMPANIES = ("Ringbolaget AB", "Annat AB")
DAY = date(2025, 6, 10)


def random_state(rng: random.Random, n: int, phones: list[str]) -> CustomerState:
    """A customer with a random mix of every fact the rules read (and some they do not)."""
    phone = rng.choice([*phones, None])
    other = f"+4673{n:07d}"
    day = DAY + timedelta(days=rng.randint(-200, 30))
    consents = tuple(
        Consent(
            purpose=rng.choice(list(ConsentPurpose)),
            channel=rng.choice([Channel.PHONE, Channel.ANY, Channel.EMAIL, Channel.SMS]),
            company=rng.choice(COMPANIES),
            given_at=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=rng.choice([0, 10, 23])),
            event_id=f"e-{n}-{k}",
            overrides_nix=rng.random() < 0.6,
            lapses_on=rng.choice([None, day + timedelta(days=rng.randint(0, 120))]),
        )
        for k in range(rng.choice([0, 0, 1, 2]))
    )
    nix = tuple(
        NixStatus(phone=rng.choice([p for p in (phone, other) if p]), registered=rng.random() < 0.4, as_of=DAY - timedelta(days=rng.randint(-5, 90)))
        for _ in range(rng.choice([0, 1, 1, 2]))
    )
    status = rng.choice([Status.ACTIVE, Status.ACTIVE, Status.DECEASED, Status.EMIGRATED, Status.ERASED, Status.DEREGISTERED])
    address = PostalAddress(street=f"Gatan {n}", postal_code="11122", city="Stockholm", care_of=rng.choice([None, "Kalle"]), country=rng.choice(["SE", "NO"]))
    return CustomerState(
        customer_id=f"C-{n}",
        kind=rng.choice([CustomerKind.PERSON, CustomerKind.PERSON, CustomerKind.COMPANY, None]),
        status=status,
        identity_number=f"19800101{n:04d}",
        addresses=(DatedAddress(effective_date=date(2020, 1, 1), value=address, event_id=f"a-{n}"),) if rng.random() < 0.7 else (),
        contact=rng.choice([None, ContactDetails(phone=phone, email=rng.choice([None, f"p{n}@example.se"]))]),
        protections=frozenset({Protection.OTHER}) if rng.random() < 0.15 else frozenset(),
        deceased_on=day if status is Status.DECEASED or rng.random() < 0.05 else None,
        emigrated_on=day if status is Status.EMIGRATED or rng.random() < 0.05 else None,
        immigrated_on=day + timedelta(days=rng.randint(-10, 40)) if rng.random() < 0.3 else None,
        deregistered_on=day if status is Status.DEREGISTERED and rng.random() < 0.8 else None,
        deregistration_cause="FI" if status is Status.DEREGISTERED else None,
        consents=consents,
        nix=nix,
        customer_of=frozenset(rng.sample(COMPANIES, rng.choice([0, 0, 1]))),
        opted_out=frozenset(rng.sample([Channel.PHONE, Channel.ANY, Channel.EMAIL], rng.choice([0, 0, 0, 1]))),
        event_ids=frozenset({f"x-{n}"}),
        events_applied=n,
    )


def varied_rules(rng: random.Random) -> Rules:
    rules = load_rules()
    match rng.randrange(4):
        case 0:
            return rules
        case 1:
            return rules.with_purpose(ConsentPurpose.TELEMARKETING, allowed=False)
        case 2:
            return rules.with_purpose(ConsentPurpose.TELEMARKETING, consent_required_on=frozenset({Channel.PHONE}), existing_customer_exception=False)
        case _:
            return rules.with_purpose(ConsentPurpose.TELEMARKETING, nix_applies_on=frozenset(), protected_identity_blocks=frozenset({Channel.POST}))


def written(phone: str, rng: random.Random) -> str:
    national = "0" + phone[3:]
    return rng.choice([phone, national, f"{national[:3]}-{national[3:6]} {national[6:8]} {national[8:]}", f"+46 {national[1:3]} {national[3:]}"])


def register_and_rows(seed: int) -> tuple[list[CustomerState], list[WashRow]]:
    rng = random.Random(seed)
    phones = [f"+4670{n:07d}" for n in range(rng.randint(1, 25))]  # fewer numbers than customers: some share one
    states = [random_state(rng, n, phones) for n in range(rng.randint(1, 60))]
    rows = []
    for _ in range(rng.randint(1, 120)):
        match rng.randrange(7):
            case 0 | 1 | 2:
                rows.append(WashRow(phone=written(rng.choice(phones), rng)))
            case 3:
                rows.append(WashRow(customer_id=rng.choice([*(s.customer_id for s in states), "C-unknown"])))
            case 4:
                rows.append(WashRow(phone=written(rng.choice(phones), rng), customer_id=rng.choice(states).customer_id))
            case 5:
                rows.append(WashRow(phone=written(f"+4672{rng.randrange(10**7):07d}", rng)))  # nobody's number
            case _:
                rows.append(WashRow(phone=rng.choice(["not a number", "", "   ", "12"]), customer_id=rng.choice([None, "", " "])))
    return states, rows


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), hours=st.integers(min_value=-24 * 200, max_value=24 * 120))
def test_the_wash_answers_every_row_as_deciding_it_from_scratch_does(seed: int, hours: int) -> None:
    states, rows = register_and_rows(seed)
    at = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=hours, minutes=seed % 60)
    rules = varied_rules(random.Random(seed))
    company = COMPANIES[seed % 2]
    by_phone, by_id = index_by_phone(states), {s.customer_id: s for s in states}
    expected = [wash_one(row, by_phone, company, at, rules, states_by_id=by_id) for row in rows]
    assert wash(rows, by_phone, company, at, rules, states_by_id=by_id) == expected


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), hours=st.integers(min_value=-24 * 200, max_value=24 * 120))
def test_a_customers_facts_decide_every_channel_and_purpose_as_the_whole_state_does(seed: int, hours: int) -> None:
    """Stronger than the wash needs (telemarketing by phone): `decision_facts` leaves out nothing any rule reads."""
    rng = random.Random(seed)
    state = random_state(rng, rng.randrange(10_000), ["+46701234567", "+46701234568"])
    at = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=hours)
    rules = varied_rules(rng)
    for purpose in ConsentPurpose:
        for channel in Channel:
            ask = {"channel": channel, "purpose": purpose, "company": COMPANIES[0], "at": at, "rules": rules}
            assert may_contact(stand_in(decision_facts(state)), **ask) == may_contact(state, **ask)


def test_customers_alike_but_for_who_they_are_share_one_decision() -> None:
    one = CustomerState(customer_id="C-1", kind=CustomerKind.PERSON, contact=ContactDetails(phone="+46701234567"),
                        nix=(NixStatus(phone="+46701234567", registered=True, as_of=DAY),), identity_number="198001010001")
    other = CustomerState(customer_id="C-2", kind=CustomerKind.PERSON, contact=ContactDetails(phone="+46707654321"),
                          nix=(NixStatus(phone="+46707654321", registered=True, as_of=DAY),), identity_number="198001010002")
    washer = Washer(index_by_phone([one, other]), COMPANIES[0], datetime(2025, 6, 11, tzinfo=UTC))
    assert decision_facts(one) == decision_facts(other)
    assert washer.decide(one) is washer.decide(other)


def test_the_facts_carry_no_personal_data() -> None:
    state = random_state(random.Random(3), 4711, ["+46701234567"])
    text = repr(decision_facts(state))
    for secret in ("+46701234567", "C-4711", "198001014711", "Gatan", "example.se", "e-4711"):
        assert secret not in text


@pytest.mark.parametrize("shared", [1, 3])
def test_a_shared_number_is_callable_only_if_every_customer_is(shared: int) -> None:
    phone = "+46701234567"
    states = [
        CustomerState(customer_id=f"C-{n}", kind=CustomerKind.PERSON, contact=ContactDetails(phone=phone),
                      nix=(NixStatus(phone=phone, registered=n == 2, as_of=DAY),))
        for n in range(shared)
    ]
    at = datetime(2025, 6, 11, tzinfo=UTC)
    [result] = wash([WashRow(phone="070-123 45 67")], index_by_phone(states), COMPANIES[0], at)
    assert result.may_call is (shared == 1)
    assert result.customer_ids == tuple(s.customer_id for s in states)
