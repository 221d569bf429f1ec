"""Duplicate customers (projections/duplicates.py, `registervard duplicates find`): normalisation, blocking, scoring,
and precision and recall over a register with duplicates and near misses planted (tests/duplicate_register.py)."""

from __future__ import annotations

import json

import openpyxl
import pytest
from typer.testing import CliRunner

from projections.duplicates import (
    Block,
    Customer,
    Reason,
    Score,
    Street,
    birth_date,
    blocking_keys,
    candidate_pairs,
    find_duplicates,
    normalise_company,
    normalise_email,
    normalise_name,
    normalise_street,
    register_duplicates,
    score_pair,
)
from registervard.cli import app
from tests.duplicate_register import CUSTOMERS, DUPLICATES, KNOWN_LIMIT, NEAR_MISSES, number, write_register

# --- Normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("Storgatan 73", Street("storgatan", "73", None)),
        ("Storgatan 73 A", Street("storgatan", "73", "a")),
        ("Storgatan 73A, lgh 1102", Street("storgatan", "73", "a")),
        ("Storg. 73 b", Street("storgatan", "73", "b")),
        ("STORGATA 073, 2 tr", Street("storgatan", "73", None)),
        ("Stora gatan 5", Street("storagatan", "5", None)),
        ("Kungsv. 12 lgh 1201", Street("kungsvagen", "12", None)),
        ("Kungsväg 12", Street("kungsvagen", "12", None)),
        ("Ågatan 2", Street("agatan", "2", None)),
        ("Box 44", Street("box", "44", None)),
        ("Storgården", Street("storgarden", None, None)),
    ],
)
def test_a_street_is_read_as_its_name_house_number_and_letter_with_abbreviations_written_out(written, read):
    assert normalise_street(written) == read


def test_names_are_folded_to_words_and_companies_lose_their_legal_form():
    assert normalise_name("Anna-Karin  Östberg") == ("anna", "karin", "ostberg")
    assert normalise_name("E.") == ("e",) and normalise_name(None) == ()
    assert normalise_company("FJÄLLBYGGEN Aktiebolag (publ)") == normalise_company("Fjällbyggen AB") == "fjallbyggen"
    assert normalise_email(" Lena.Holm@Example.SE ") == "lena.holm@example.se"


def test_a_birth_date_comes_from_a_personnummer_or_samordningsnummer_never_an_organisationsnummer():
    assert birth_date(number("19850312", "451")) == birth_date(number("19850312", "773", coordination=True)) == "19850312"
    assert birth_date("165566778899") is None and birth_date(None) is None


# --- Blocking ------------------------------------------------------------------------------


def test_a_customer_is_blocked_by_number_phone_e_mail_address_and_birth_date_a_protected_one_by_number_alone():
    anna = Customer(
        "C-1", identity_number=number("19811218", "987"), given_names="Anna", surname="Carlsson", street="Storgatan 073 A",
        postal_code="111 22", phone="+46701234567", email="Anna@Example.se",
    )  # fmt: skip
    assert blocking_keys(anna) == {
        Block.IDENTITY_NUMBER: anna.identity_number,
        Block.PHONE: "+46701234567",
        Block.EMAIL: "anna@example.se",
        Block.ADDRESS: "11122 73 k",  # C and K as one initial: Carlsson and Karlsson meet
        Block.BIRTH_DATE: "19811218 k",
    }
    assert blocking_keys(anna._replace(protected=True)) == {Block.IDENTITY_NUMBER: anna.identity_number}
    assert blocking_keys(anna._replace(status="ERASED")) == {}


def test_only_customers_sharing_a_key_are_compared_and_a_key_shared_by_too_many_is_skipped():
    pairs = candidate_pairs(CUSTOMERS).pairs
    ids = {(CUSTOMERS[i].customer_id, CUSTOMERS[j].customer_id) for i, j in pairs}
    assert len(pairs) < len(CUSTOMERS) and ids >= DUPLICATES
    assert ("N03a", "N03b") not in ids, "namesakes in other cities share no key"
    assert ("N05a", "N05b") in ids and ("N02a", "N02b") in ids, "two personnummer of one birth date meet by phone and address, not by the birth date"
    switchboard = [Customer(f"C-{n}", given_names="Anna", surname=f"S{n}", phone="+4687000000") for n in range(5)]
    skipped = candidate_pairs(switchboard, max_block=4)
    assert skipped.pairs == set() and skipped.skipped == {Block.PHONE: 1}


# --- Scoring -------------------------------------------------------------------------------


def test_the_issues_example_is_a_likely_pair_for_its_name_and_address():
    emma = Customer("C-1", given_names="Emma", surname="Andersson", street="Storgatan 73", postal_code="11122", city="Stockholm")
    e = Customer("C-2", given_names="E.", surname="Andersson", street="Storgatan 73 A", postal_code="111 22", city="Stockholm")
    assert score_pair(emma, e).reasons == (Reason.SIMILAR_NAME, Reason.SAME_ADDRESS)
    assert score_pair(emma, e).score == 71
    other_entrance = score_pair(emma._replace(street="Storgatan 73 A"), e._replace(street="Storgatan 73 B"))
    assert other_entrance == Score(51, (Reason.SIMILAR_NAME, Reason.SIMILAR_ADDRESS)), "73 A and 73 B: below the default minimum"
    assert score_pair(emma, e._replace(given_names="Erik")) is None, "Erik is not Emma"


def test_a_pair_with_a_protected_identity_names_no_one():
    [pair] = find_duplicates([c for c in CUSTOMERS if c.customer_id.startswith("D10")]).pairs
    assert pair.protected and pair.reasons == (Reason.SAME_IDENTITY_NUMBER,) and pair.score == 100
    assert (pair.first.name, pair.first.address, pair.second.name, pair.second.address) == (None, None, None, None)
    assert "Bertil" not in json.dumps(pair.as_dict()) and "Lund" not in json.dumps(pair.as_dict())


def test_precision_and_recall_over_the_planted_register():
    listed = {(pair.first.customer_id, pair.second.customer_id) for pair in find_duplicates(CUSTOMERS).pairs}
    found = listed & DUPLICATES
    precision, recall = len(found) / len(listed), len(found) / len(DUPLICATES)
    print(f"duplicates: {len(DUPLICATES)} planted, {len(listed)} listed, precision {precision:.2f}, recall {recall:.2f}")
    # Every planted kind is one the issue asks to be found, so recall must be whole. The one pair listed wrongly is the
    # known limit (one name at one address, no numbers: nothing tells them apart), and no near miss may be listed.
    assert recall == 1.0
    assert listed - DUPLICATES == KNOWN_LIMIT and not listed & NEAR_MISSES
    assert precision >= 12 / 13


def test_pairs_are_listed_best_first_down_to_the_minimum_score_and_the_limit_says_there_are_more():
    report = find_duplicates(CUSTOMERS, min_score=70, limit=5)
    assert [p.score for p in report.pairs] == sorted((p.score for p in report.pairs), reverse=True)
    assert len(report.pairs) == 5 and report.more and report.customers == len(CUSTOMERS) - 2  # the erased are not read
    assert all(p.score >= 70 for p in find_duplicates(CUSTOMERS, min_score=70, limit=100).pairs)


# --- From the register, and the command ----------------------------------------------------


@pytest.fixture(scope="module")
def register_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('duplicates') / 'register.db'}"
    write_register(url)
    return url


def test_the_register_read_through_sqlalchemy_gives_the_same_pairs_as_the_plain_rows(register_url):
    from projections.database import connect

    engine = connect(register_url)
    try:
        assert register_duplicates(engine).as_dict() == find_duplicates(CUSTOMERS).as_dict()
    finally:
        engine.dispose()


def test_the_command_prints_a_table_json_or_csv_and_writes_a_workbook_without_a_name_on_standard_error(register_url, tmp_path):
    runner, env = CliRunner(), {"REGISTERVARD_DATABASE_URL": register_url}
    as_json = runner.invoke(app, ["duplicates", "find", "--format", "JSON", "--min-score", "100"], env=env)
    assert as_json.exit_code == 0, as_json.output
    assert {tuple(c["customer_id"] for c in p["customers"]) for p in json.loads(as_json.stdout)["pairs"]} == {
        ("D01a", "D01b"), ("D02a", "D02b"), ("D10a", "D10b"), ("D11a", "D11b"),
    }  # fmt: skip
    assert "protected identity is compared by identity number only" in " ".join(as_json.stderr.split())
    table = runner.invoke(app, ["duplicates", "find", "--limit", "3"], env=env)
    assert table.exit_code == 0 and "D01a" in table.stdout and "There are more" in table.stderr
    workbook = tmp_path / "dubbletter.xlsx"
    written = runner.invoke(app, ["duplicates", "find", "--output", str(workbook)], env=env)
    assert written.exit_code == 0, written.output
    rows = list(openpyxl.load_workbook(workbook).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("Poäng", "Kundnummer 1", "Namn 1") and len(rows) == 1 + 13
    assert ("Emma Andersson", "E. Andersson") in {(r[2], r[6]) for r in rows}
    as_csv = runner.invoke(app, ["duplicates", "find", "--format", "csv"], env=env)
    assert as_csv.stdout.splitlines()[0].startswith("Poäng;Kundnummer 1;")
    for result in (as_json, table, written, as_csv):
        assert not any(name in result.stderr for name in ("Andersson", "Storgatan", "Bertil", "Östberg"))
    refused = runner.invoke(app, ["duplicates", "find", "--format", "json", "--output", str(tmp_path / "x.csv")], env=env)
    assert refused.exit_code == 2
