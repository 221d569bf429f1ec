"""Values as Swedish registers write them, taken apart: whole names, postal addresses, c/o lines, postal codes."""

from __future__ import annotations

import pytest

from events.postal_codes import split_postal_code
from registervard.swedish_values import looks_like_company, split_care_of, split_name, split_postal_address, without_care_of_prefix


@pytest.mark.parametrize(
    "written, parts",
    [
        ("Anna Svensson", ("Anna", "Svensson")),
        ("Anna Maria Svensson", ("Anna Maria", "Svensson")),
        ("  Anna   Maria  Svensson ", ("Anna Maria", "Svensson")),
        ("Svensson, Anna", ("Anna", "Svensson")),
        ("Svensson,Anna Maria", ("Anna Maria", "Svensson")),
        ("Karl af Klercker", ("Karl", "af Klercker")),
        ("Anna von der Lancken", ("Anna", "von der Lancken")),
        ("Lisa Svensson-Berg", ("Lisa", "Svensson-Berg")),
        ("Anna", None),
        ("Svensson,", None),
        (", Anna", None),
        ("Svensson, Anna, Maria", None),
        ("", None),
    ],
)
def test_a_whole_name_is_split_into_given_names_and_surname(written, parts):
    assert split_name(written) == parts


@pytest.mark.parametrize(
    "written, parts",
    [
        ("111 22 Stockholm", ("11122", "Stockholm", None)),
        ("11122 Stockholm", ("11122", "Stockholm", None)),
        ("S-211 20 Malmö", ("21120", "Malmö", "SE")),
        ("SE-211 20 Malmö", ("21120", "Malmö", "SE")),
        ("se - 211 20  MALMÖ", ("21120", "MALMÖ", "SE")),
        ("SE 211 20 Malmö", ("21120", "Malmö", "SE")),
        ("N-0150 Oslo", ("0150", "Oslo", "NO")),
        ("831 91 Östersund", ("83191", "Östersund", None)),
        ("Stockholm", None),
        ("111 22", None),
        ("Stockholm 111 22", None),
        ("XX-111 22 Stockholm", None),
    ],
)
def test_a_postal_address_is_split_into_postal_code_town_and_the_country_its_letters_name(written, parts):
    assert split_postal_address(written) == parts


@pytest.mark.parametrize(
    "written, parts",
    [
        ("111 22", ("11122", None)),
        ("S-211 20", ("21120", "SE")),
        ("SE-211 20", ("21120", "SE")),
        ("SE 21120", ("21120", "SE")),
        ("1234", ("1234", None)),
        ("abc", ("abc", None)),
    ],
)
def test_a_postal_code_is_read_without_spaces_and_country_letters(written, parts):
    assert split_postal_code(written) == parts


@pytest.mark.parametrize(
    "street, parts",
    [
        ("c/o Nilsson, Storgatan 5", ("Nilsson", "Storgatan 5")),
        ("C/O Anna Nilsson,Storgatan 5 lgh 1101", ("Anna Nilsson", "Storgatan 5 lgh 1101")),
        ("c/o: Nilsson , Box 12", ("Nilsson", "Box 12")),
        ("Storgatan 5", None),
        ("c/o Nilsson", None),
        ("Coopvägen 1, lgh 2", None),
    ],
)
def test_a_c_o_line_at_the_start_of_a_street_is_taken_apart(street, parts):
    assert split_care_of(street) == parts


def test_a_c_o_cell_keeps_the_name_without_its_c_o():
    assert [without_care_of_prefix(t) for t in ("c/o Nilsson", "C/O: Nilsson", "Nilsson", "Coop")] == ["Nilsson", "Nilsson", "Nilsson", "Coop"]


@pytest.mark.parametrize(
    "name, company",
    [("Exempel AB", True), ("Exempel AB (publ)", True), ("Bygg HB", True), ("Konsum Ek. för.", True), ("Abbe Svensson", False), ("Kajsa Abrahamsson", False)],
)
def test_a_company_form_at_the_end_of_a_name_says_company(name, company):
    assert looks_like_company(name) is company
