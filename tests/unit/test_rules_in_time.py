"""Rules in time: the contactability rules file holds versions, each in force from a moment; a decision at a moment
uses the version in force then and names it (events.contactability)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime

import pytest

from events.catalog import Channel, ConsentPurpose, CustomerRegistered, NixDeregistered
from events.contactability import DEFAULT_RULES_PATH, VersionRef, decision_document, load_rules, may_contact, parse_rules
from events.customer import NIX_OVERRIDE_VALIDITY_MONTHS, CustomerState, fold
from events.jsonlines import parse_event
from tests.builders import envelope, person

ANNA = "C-1"
ACME = "Acme AB"
TELEMARKETING, MARKETING = ConsentPurpose.TELEMARKETING, ConsentPurpose.MARKETING
PACKAGED = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
BAN = """
[[change]]
id = "2"
label = "Ban on telemarketing"
valid_from = 2027-01-01
purposes.TELEMARKETING.allowed = false
"""


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def callable_customer() -> CustomerState:
    """Anna, an existing customer of Acme, her number washed clear of NIX: Acme may call her, the rules permitting."""
    registered = parse_event(person(ANNA, company=ACME))
    assert isinstance(registered, CustomerRegistered)
    washed = NixDeregistered(envelope=envelope(ANNA, on=date(2026, 12, 1), source="NIX"), phone="+46701234567", register_version_date=date(2026, 12, 1))
    state = fold([registered, washed])
    assert state is not None
    return state


def rules_with(text: str):
    return parse_rules(tomllib.loads(PACKAGED + text), source="rules.toml")


def call(rules, when: str):
    return may_contact(callable_customer(), channel=Channel.PHONE, purpose=TELEMARKETING, company=ACME, at=at(when), rules=rules)


def test_the_packaged_rules_are_one_version_in_force_from_the_beginning():
    [first] = load_rules().versions
    assert (first.id, first.valid_from) == ("1", None) and "NIX" in first.label
    decision = call(load_rules(), "2026-12-15T10:00:00Z")
    assert decision.allowed and decision.rules == VersionRef("1", first.label, None)


def test_a_ban_with_a_future_start_changes_no_decision_before_that_date_and_every_one_after():
    rules = rules_with(BAN)
    assert [(v.id, v.valid_from) for v in rules.versions] == [("1", None), ("2", datetime(2027, 1, 1, tzinfo=UTC))]
    for before in ("2026-12-15T10:00:00Z", "2026-12-31T23:59:59Z"):
        assert call(rules, before) == call(load_rules(), before), "the same decision, by the same version"
        assert call(rules, before).rules.id == "1"
    banned = call(rules, "2027-01-01T00:00:00Z")
    assert not banned.allowed and banned.denials[0].code == "FORBIDDEN_BY_RULES"
    assert banned.rules == VersionRef("2", "Ban on telemarketing", datetime(2027, 1, 1, tzinfo=UTC))
    assert may_contact(callable_customer(), channel=Channel.POST, purpose=MARKETING, company=ACME, at=at("2027-02-01T10:00:00Z"), rules=rules).allowed


def test_the_example_in_the_packaged_file_is_the_ban_and_reads_as_written_once_uncommented():
    example = PACKAGED[PACKAGED.index("# [[change]]") :]
    uncommented = "\n".join(line.removeprefix("# ") for line in example.splitlines())
    rules = rules_with("\n" + uncommented)
    assert rules.versions[1].ref == VersionRef("2", "Ban on telemarketing", datetime(2027, 1, 1, tzinfo=UTC))
    assert not rules.versions[1].purposes[TELEMARKETING].allowed and rules.versions[0].purposes[TELEMARKETING].allowed


def test_a_start_with_an_offset_is_that_moment():
    rules = rules_with(BAN.replace("valid_from = 2027-01-01", "valid_from = 2027-01-01T00:00:00+01:00"))
    assert call(rules, "2026-12-31T22:59:59Z").rules.id == "1"
    assert call(rules, "2026-12-31T23:00:00Z").rules.id == "2", "midnight in Sweden"


def test_each_change_builds_on_the_version_before_it():
    later = """
[[change]]
id = "3"
label = "NIX washes valid one month"
valid_from = 2027-06-01
nix.wash_valid_months = 1

[change.deceased]
still_allowed = {}
"""
    rules = rules_with(BAN + later)
    third = rules.in_force(at("2027-07-01T00:00:00Z"))
    assert third.id == "3" and third.nix_wash_valid_months == 1
    assert not third.purposes[TELEMARKETING].allowed, "the ban stays"
    assert rules.versions[1].deceased_still_allowed and third.deceased_still_allowed == frozenset(), "still_allowed is replaced whole"


def test_a_rules_file_from_before_versions_loads_as_one_version(tmp_path):
    old = PACKAGED[: PACKAGED.index("\n[version]\n")] + PACKAGED[PACKAGED.index("\n[nix]\n") : PACKAGED.index("# --- Changes in time")]
    assert not {"version", "change"} & set(tomllib.loads(old)), "the file as it was before rules had versions"
    path = tmp_path / "old-rules.toml"
    path.write_text(old, encoding="utf-8")
    [only] = load_rules(path).versions
    assert (only.id, only.valid_from) == ("1", None)
    assert only.purposes == load_rules().versions[0].purposes


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (BAN.replace("valid_from = 2027-01-01\n", ""), "change 1 (2): missing valid_from"),
        (BAN + BAN.replace('id = "2"', 'id = "3"').replace("2027-01-01", "2026-01-01"), "change 2 (3): valid_from 2026-01-01T00:00:00+00:00 is not after"),
        (BAN + BAN.replace("2027-01-01", "2028-01-01"), "change 2 (2): id '2' is taken"),
        (BAN.replace(".allowed", ".alowed"), "purposes.TELEMARKETING: unknown setting(s) ['alowed']"),
        (BAN.replace("purposes.TELEMARKETING", "purpose.TELEMARKETING"), "unknown section 'purpose'"),
        (BAN.replace("valid_from = 2027-01-01", "valid_from = 2027-01-01T00:00:00"), "a time without an offset"),
        (BAN + "nix.override_consent_months = 4\n", "NIX_OVERRIDE_VALIDITY_MONTHS"),
    ],
)
def test_a_change_that_cannot_be_applied_is_refused_naming_it(text, complaint):
    with pytest.raises(ValueError) as refused:
        rules_with(text)
    assert complaint in str(refused.value) and str(refused.value).startswith("rules.toml: ")


def test_the_first_version_has_no_start_date():
    with pytest.raises(ValueError, match="the first version applies from the beginning"):
        parse_rules(tomllib.loads(PACKAGED.replace('[version]\n', '[version]\nvalid_from = 2020-01-01\n')))
    assert load_rules().versions[0].nix_override_consent_months == NIX_OVERRIDE_VALIDITY_MONTHS


def test_the_decision_document_names_the_version():
    when = at("2027-03-01T10:00:00Z")
    decision = call(rules_with(BAN), "2027-03-01T10:00:00Z")
    document = decision_document(decision, customer_id=ANNA, channel=Channel.PHONE, purpose=TELEMARKETING, company=ACME, at=when)
    assert document["rules"] == {"version": "2", "label": "Ban on telemarketing", "valid_from": "2027-01-01T00:00:00+00:00"}
    assert document["known_at"] == document["at"] == "2027-03-01T10:00:00+00:00"
