"""Reading SPAR notification files (registervard/spar_files.py) and `registervard spar import --dry-run` / `spar
request` on a small SQLite register (tests/spar_register.py), no broker: what cannot be read is named by line and
element path and the rest goes on; an entity-expansion or external-entity file is refused unread; a person the
register does not know is named by a masked number, never the whole one."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from events.customer import CustomerState, evolve
from events.jsonlines import parse_event
from events.spar_changes import changes
from events.spar_records import Part
from registervard import exit_codes
from registervard.cli import app as cli
from registervard.spar_files import BrokenFile, UnsafeFile, read_mapping, read_records
from tests import spar_register
from tests.spar_register import ATTACKS, CHANGES, CURRENT, FULL, PEOPLE, UNKNOWN


def line_of(path, text: str) -> int:
    """The line of `path` that holds `text` (the fixtures' lines are counted, not hard-wired)."""
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text in line)


@pytest.fixture
def env(tmp_path):
    return {"REGISTERVARD_DATABASE_URL": spar_register.build(tmp_path / "register.db"), "COLUMNS": "300"}


def test_the_three_kinds_of_file_are_read_record_by_record_and_a_bad_element_leaves_out_only_its_part():
    changed = list(read_records(CHANGES))
    assert [r.record.identity_number if r.record else None for r in changed] == [
        *(PEOPLE[c][0] for c in ("C-ANNA", "C-PROT", "C-BAD", "C-DEAD", "C-EMIG")),
        UNKNOWN,
        None,  # its identity number's check digit is wrong: the record is left out
    ]
    bad = changed[2]
    assert [str(p) for p in bad.problems] == [
        f"line {line_of(CHANGES, '1234X')}: /SPARExport/AviseringPost[3]/Folkbokforingsadress/SvenskAdress/PostNr: "
        "is not a Swedish postal code (five digits); the addresses are left out [INVALID_FIELD]"
    ]
    assert bad.record is not None and bad.record.addresses == () and bad.record.names[0].name.surname == "Lind"  # the name still counts
    protected = changed[1].record
    assert protected is not None and (protected.names, protected.addresses) == ((), ())  # SPAR's rule, not a problem
    assert changed[1].problems == ()
    assert [str(p) for p in changed[6].problems] == [
        f"line {line_of(CHANGES, '198112189870')}: /SPARExport/AviseringPost[7]/PersonId/IdNummer: the check digit (the last digit) does not "
        "agree with the digits before it (Luhn); look for a mistyped or swapped digit; the record is left out [INVALID_IDENTITY_NUMBER]"
    ]
    assert [len(list(read_records(path))) for path in (CURRENT, FULL)] == [3, 5]


def test_an_old_numbers_record_names_the_new_number_and_one_that_is_no_valid_number_leaves_out_the_deregistration(tmp_path):
    def post(code: str, new_number: str) -> str:
        details = f"<AvregistreringsorsakKod>{code}</AvregistreringsorsakKod><Avregistreringsdatum>2018-05-01</Avregistreringsdatum>"
        return (
            "<AviseringPost><PersonId><IdNummer>197802022389</IdNummer></PersonId><SenasteAndringSPAR>2018-05-01</SenasteAndringSPAR>"
            f"<Persondetaljer>{details}<Hanvisningsnummer>{new_number}</Hanvisningsnummer></Persondetaljer></AviseringPost>\n"
        )

    path = tmp_path / "gammalt_nummer.xml"
    path.write_text(f"<SPARExport>\n{post('G', '19850709-9805')}{post('GN', '198507099806')}</SPARExport>\n", encoding="utf-8")
    replaced, mistyped = read_records(path)
    assert replaced.problems == () and replaced.record is not None and replaced.record.deregistration is not None
    assert (replaced.record.deregistration.cause, replaced.record.deregistration.new_identity_number) == ("GN", "198507099805")  # G before 2019
    assert mistyped.record is not None and mistyped.record.deregistration is None and Part.DEREGISTRATION in mistyped.record.left_out
    (problem,) = mistyped.problems
    assert str(problem).startswith("line 3: /SPARExport/AviseringPost[2]/Persondetaljer/Hanvisningsnummer: the check digit")
    assert str(problem).endswith("the deregistration is left out [INVALID_IDENTITY_NUMBER]") and "9806" not in str(problem)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda path: path.stem)
def test_an_entity_expansion_or_external_entity_file_is_refused_before_anything_is_read(attack):
    records = read_records(attack)
    with pytest.raises(UnsafeFile, match=r"^line 2: the file declares a document type \(DOCTYPE\).*nothing in the file was read"):
        next(records)


def test_a_file_that_stops_being_xml_is_read_up_to_the_break_which_is_named(tmp_path):
    text = CURRENT.read_text(encoding="utf-8")
    broken = tmp_path / "broken.xml"
    broken.write_text(
        text.replace("<Postort>STOCKHOLM</Postort></SvenskAdress>\n    </SarskildPostadress>", "<Postort>STOCKHOLM</SvenskAdress>"), encoding="utf-8"
    )
    read = []
    with pytest.raises(BrokenFile) as stopped:
        read.extend(read_records(broken))
    assert [r.record.identity_number for r in read if r.record] == [PEOPLE["C-GONE"][0]]
    assert str(stopped.value).startswith(f"line {line_of(broken, 'Box 123')}: /SPARExport/AviseringPost[2]/SarskildPostadress/SvenskAdress/Postort: ")
    assert "the file is not well-formed XML here (mismatched tag); nothing after it was read" in str(stopped.value)


def test_each_file_compared_again_once_its_events_are_in_the_register_gives_nothing():
    now = datetime.now(UTC)
    states: dict[str, CustomerState] = {}
    for document in spar_register.documents():
        event = parse_event(document, now=now)
        states[event.customer_id] = evolve(states.get(event.customer_id), event)
    customer_of = {number: customer_id for customer_id, (number, _) in PEOPLE.items()}

    def publish(path) -> int:
        """Compare every record of the file with the states, fold what it gives in, and count it."""
        published = 0
        for read in read_records(path):
            if read.record is not None and read.record.identity_number in customer_of:
                customer_id = customer_of[read.record.identity_number]
                result = changes(read.record, states[customer_id], as_of=now.date(), fallback_day=now.date(), now=now)
                states[customer_id], published = result.state, published + len(result.events)
        return published

    assert [publish(path) for path in (CHANGES, CURRENT, FULL)] == [8, 5, 4]  # each kind of address apart; the full one ends a special postal address
    assert [publish(path) for path in (CHANGES, CURRENT, FULL)] == [0, 0, 0]


def test_import_compares_with_the_register_names_what_it_cannot_do_and_never_a_whole_identity_number(env):
    result = CliRunner().invoke(cli, ["spar", "import", str(CHANGES), "--dry-run"], env=env)
    assert result.exit_code == exit_codes.SOME_REFUSED, result.output
    said = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    record_line = line_of(CHANGES, UNKNOWN) - 1  # the record's own line (AviseringPost), the one above its number
    assert said[1] == f"line {record_line}: /SPARExport/AviseringPost[6]: {UNKNOWN[:8]}-**** is not in the register; nothing created [UNKNOWN_PERSON]"
    assert len(said) == 3 and "PostNr" in said[0] and "IdNummer" in said[2]
    assert result.stdout.splitlines() == [
        "andringsavisering.xml: 7 record(s) read (SPAR schema 2023.1); 5 customer(s) found: 5 with changes, 0 already up to date.",
        "8 event(s) would be published (dry run: nothing published): AddressChanged 2, CivilStatusChanged 1, CustomerDeceased 1, "
        "CustomerEmigrated 1, NameChanged 2, ProtectedIdentitySet 1.",
        "Not done: 1 person(s) not in the register (not created), 1 record(s) left out, 1 element(s) or line(s) that could not be read, "
        "0 change(s) refused; each is named on standard error.",
    ]
    for personal in [UNKNOWN, "198112189870", "Okänd", "1234X", "Kvarngatan", *(number for number, _ in PEOPLE.values())]:
        assert personal not in result.output


def test_import_of_an_attack_file_exits_1_with_advice_and_reads_nothing(env):
    result = CliRunner().invoke(cli, ["spar", "import", str(ATTACKS[0]), "--dry-run"], env=env)
    assert result.exit_code == exit_codes.ERROR
    assert "billion_laughs.xml: line 2: the file declares a document type (DOCTYPE)" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output and "record(s) read" not in result.stdout


def test_with_a_mapping_only_its_customers_are_the_files_people(env, tmp_path):
    mapping = tmp_path / "customers.csv"
    anna = PEOPLE["C-ANNA"][0]
    mapping.write_text(f"Personnummer;Kundnummer\n{anna[2:8]}-{anna[8:]};C-ANNA\n{UNKNOWN};C-NONE\n{UNKNOWN};{anna}\n", encoding="utf-8")
    assert read_mapping(mapping).customers == {anna: ("C-ANNA",), UNKNOWN: ("C-NONE",)}
    result = CliRunner().invoke(cli, ["spar", "import", str(CHANGES), "--dry-run", "--mapping", str(mapping)], env=env)
    assert result.exit_code == exit_codes.SOME_REFUSED, result.output
    stderr = " ".join(result.stderr.split())
    assert "customers.csv line 4: kundnummer: must be an opaque customer id" in stderr
    assert "the mapping names customer C-NONE, which the register does not have; nothing published [UNKNOWN_CUSTOMER]" in stderr
    assert stderr.count("is not in the register; nothing created [UNKNOWN_PERSON]") == 4  # C-PROT, C-BAD, C-DEAD, C-EMIG: not in the mapping
    assert "1 customer(s) found: 1 with changes" in result.stdout


def test_request_writes_the_active_peoples_numbers_one_per_line_for_the_owner_only(env, tmp_path):
    output = tmp_path / "numbers.txt"
    result = CliRunner().invoke(cli, ["spar", "request", "--output", str(output)], env=env)
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="ascii").splitlines() == sorted(number for number, _ in PEOPLE.values())  # no company; the protected too
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "10 identity number(s) written" in result.stdout and "1 of the register's 11 customer(s) left out" in result.stdout
