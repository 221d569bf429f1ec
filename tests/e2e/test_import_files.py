"""`registervard import` of Swedish files as they really are, end to end through the real broker, worker and register:

a cp1252 semicolon CSV from Excel and a workbook, each with a title row above the header, "Pnr", a whole "Namn",
a combined "Postadress", a c/o line in the street, columns the register has no field for, and bad optional
fields. The report and the result file are checked row by row, and the register for what was imported. Then the
register's own export, protected identities and all, is imported again: every row is already there.
"""

from __future__ import annotations

import asyncio
import csv
import re
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest

from events.identity import luhn_check_digit
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from projections.audit import AuditProjection
from projections.data_keys import key_store
from projections.lookup import lookup_hash
from projections.register import RegisterProjection
from projections.runner import run_projection
from registervard import exit_codes
from registervard.importing import opaque_id
from tests.conftest import eventually, register_rows, running_worker, service_env

pytestmark = pytest.mark.kafka


def personnummer(born: str, serial: str) -> str:
    """A valid 10-digit personnummer (YYMMDD-NNNC) of this birth date and serial number."""
    return f"{born}-{serial}{luhn_check_digit(born + serial)}"


ANNA = personnummer("811218", "987")  # 811218-9876
ASA = personnummer("590302", "124")
EVA = personnummer("750611", "242")
PER = personnummer("680124", "453")
ORGNR = "556036-0793"
TWELVE = {number: ("19" + number).replace("-", "") for number in (ANNA, ASA, EVA, PER)}
PERSONAL = ["Anna Maria", "Nilsson", "Storgatan 5", "Åsa", "Karin", "Exempel AB", "Ringvägen", "saknas", "ring ej", "070-123 45 67", "08-12 34 56"]
"""Values of the CSV file that no message may hold (the reasons' own examples, such as 'Anna Svensson', are not the file's)."""


def registervard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "registervard", *args], env=env, capture_output=True, text=True, timeout=300)


async def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command line in a thread, so the projections running in this event loop go on meanwhile."""
    return await asyncio.to_thread(registervard, *args, env=env)


def one_line(text: str) -> str:
    return " ".join(text.split())


@asynccontextmanager
async def projections_running(settings):
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_projection(settings, p, keys=key_store(settings), stop=stop)) for p in (RegisterProjection(), AuditProjection())]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)


@pytest.fixture
def register_settings(settings, tmp_path):
    """Topics, a worker and a register (SQLite) of this test's own."""
    mine = replace(settings, topic_prefix=f"{settings.topic_prefix}-{uuid.uuid4().hex[:6]}", database_url=f"sqlite:///{tmp_path / 'register.db'}")
    asyncio.run(ensure_topics(mine))
    with running_worker(mine, tmp_path / "worker.log"):
        yield mine


def message_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("line ")]


def read_result_csv(path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Swedish Excel needs the byte order mark to read UTF-8"
    return list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))


def write_excel_csv(path) -> None:
    """As Excel saves "CSV (semikolonavgränsad)": Windows-1252, `;`, CRLF, a title row padded with delimiters."""
    rows = [
        "Kundregister Ringbolaget AB, utdrag 2025-05-01;;;;;;;;;",
        ";;;;;;;;;",
        "Kundnr;Pnr;Namn;Gatuadress;Postadress;Telefon;E-post;Kontaktperson;Kund sedan;Anteckning",
        f";{ANNA};Anna Maria Svensson;c/o Nilsson, Storgatan 5;111 22 Stockholm;070-123 45 67;anna@example.se;;2019;",
        f"K-2;{TWELVE[ASA]};Svensson, Åsa;Ringvägen 2;S-211 20 Malmö;ring ej;saknas;;2020;Ring efter 17",
        f"K-3;{ORGNR};Exempel AB;Box 12;SE-211 20 Malmö;08-12 34 56;info@exempel.se;Karin Berg;2018;",
        "K-4;811218-9870;Bo;Storgatan 1;Stockholm;;;;;",
    ]
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))


def write_workbook(path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Kunder att importera"])
    sheet.append([])
    sheet.append(["Kundnr", "Pnr", "Namn", "Postadress", "Gatuadress", "Mobil", "E-post", "Skyddad identitet", "Kund sedan"])
    sheet.append([None, int(TWELVE[EVA]), "Lindqvist, Eva", "S-211 20 Malmö", "Storgatan 9", "12", "eva@example.se", "Nej", date(2019, 1, 1)])
    sheet.append(["X-2", PER, "Per Olof Ek", "831 91 Östersund", "c/o Berg, Byvägen 3", "0701234567", "saknas", "Ja", None])
    sheet.append(["X-3", None, "Nils", None, None, None, None, None, None])
    book.save(path)


async def test_swedish_files_are_imported_with_a_report_and_a_result_file_row_by_row(register_settings, tmp_path):
    env = service_env(register_settings)
    url = register_settings.database_url
    anna_id, eva_id = opaque_id(lookup_hash(ANNA)), opaque_id(lookup_hash(EVA))

    async with projections_running(register_settings):
        # --- Excel's CSV: cp1252, semicolons, a title row -------------------------------------------------
        excel_csv = tmp_path / "kunder.csv"
        write_excel_csv(excel_csv)
        imported = await cli("import", str(excel_csv), "--as-of", "2025-06-01", "--wait", "--wait-timeout", "240", env=env)
        assert imported.returncode == exit_codes.SOME_REFUSED, imported.stderr  # one row rejected
        assert "Traceback" not in imported.stderr
        report = imported.stderr.splitlines()
        assert "Read as Windows-1252 (Excel's CSV) text, ';'-separated; header on line 3 (1 line(s) above it left out)." in report
        assert one_line(imported.stderr).count("Namn → name (given_names, surname)") == 1
        assert "Postadress → postal_address (postal_code, city)" in imported.stderr
        phone_reason = "is not a phone number (expected a Swedish number with its leading zero, or + and a country code)"
        assert message_lines(imported.stderr) == [
            f"line 5: phone (column Telefon): {phone_reason}; left out [INVALID_PHONE]",
            "line 5: email (column E-post): is not an e-mail address; left out [INVALID_FIELD]",
            "line 7: identity_number: the check digit (the last digit) does not agree with the digits before it (Luhn); "
            "look for a mistyped or swapped digit [INVALID_IDENTITY_NUMBER]",
            "line 7: name: needs a given name and a surname, e.g. 'Anna Svensson' or 'Svensson, Anna' [MISSING_FIELD]",
            "line 7: postal_address: must be a postal code followed by the town, e.g. 111 22 Stockholm [INVALID_POSTAL_CODE]",
        ]
        summary = imported.stdout.splitlines()
        assert summary[:4] == [
            "4 row(s) read: 4 customer(s) published (1 of them a company's contact person), 0 already in the register, 1 row(s) rejected.",
            "1 row(s) kept with a value left out, by column: Telefon (1 row(s)), E-post (1 row(s)).",
            'Columns not imported: Kund sedan (3 row(s) with a value), Anteckning (1 row(s) with a value); --map "Column=field" imports one.',
            f"Each row's result: {tmp_path / 'kunder.result.csv'}",
        ]
        result = read_result_csv(tmp_path / "kunder.result.csv")
        assert result[0] == ["row", "customer_id", "status", "messages"]
        contact = re.fullmatch(r"contact person registered as (C-[0-9a-f]{16})", result[3][3])
        assert contact, result[3]
        karin = contact.group(1)
        assert result[1:] == [
            ["4", anna_id, "imported", ""],
            [
                "5",
                "K-2",
                "warning",
                f"phone (column Telefon): {phone_reason}; left out [INVALID_PHONE] | email (column E-post): is not an e-mail address; left out [INVALID_FIELD]",
            ],
            ["6", "K-3", "imported", f"contact person registered as {karin}"],
            ["7", "K-4", "rejected", " | ".join(line.split(": ", 1)[1] for line in message_lines(imported.stderr)[2:])],
        ]
        for text in (imported.stderr, (tmp_path / "kunder.result.csv").read_text(encoding="utf-8-sig")):
            for personal in [*PERSONAL, ANNA, TWELVE[ASA], ORGNR, "811218-9870"]:
                assert personal not in text

        register = register_rows(url)
        anna, asa, company, contact_person = register[anna_id], register["K-2"], register["K-3"], register[karin]
        assert (anna.given_names, anna.surname, anna.care_of, anna.street, anna.postal_code, anna.city) == (
            "Anna Maria",
            "Svensson",
            "Nilsson",
            "Storgatan 5",
            "11122",
            "Stockholm",
        )
        assert (anna.phone, anna.email) == ("+46701234567", "anna@example.se")
        assert (asa.given_names, asa.surname, asa.postal_code, asa.city, asa.phone, asa.email) == ("Åsa", "Svensson", "21120", "Malmö", None, None)
        assert (company.kind, company.company_name, company.postal_code, company.phone) == ("COMPANY", "Exempel AB", "21120", "+468123456")
        person = (contact_person.kind, contact_person.given_names, contact_person.surname, contact_person.contact_person_for)
        assert person == ("PERSON", "Karin", "Berg", "K-3")
        assert "K-4" not in register

        # --- A workbook with a title row ------------------------------------------------------------------
        workbook = tmp_path / "kunder.xlsx"
        write_workbook(workbook)
        from_excel = await cli("import", str(workbook), "--as-of", "2025-06-01", "--wait", "--wait-timeout", "240", env=env)
        assert from_excel.returncode == exit_codes.SOME_REFUSED, from_excel.stderr
        assert "Header on row 3 (1 row(s) above it left out)." in from_excel.stderr.splitlines()
        assert message_lines(from_excel.stderr) == [
            f"line 4: phone (column Mobil): {phone_reason}; left out [INVALID_PHONE]",
            "line 5: email (column E-post): is not an e-mail address; left out [INVALID_FIELD]",
            "line 6: name: needs a given name and a surname, e.g. 'Anna Svensson' or 'Svensson, Anna' [MISSING_FIELD]",
        ]
        assert from_excel.stdout.splitlines()[:3] == [
            "3 row(s) read: 2 customer(s) published, 0 already in the register, 1 row(s) rejected.",
            "2 row(s) kept with a value left out, by column: Mobil (1 row(s)), E-post (1 row(s)).",
            'Columns not imported: Kund sedan (1 row(s) with a value); --map "Column=field" imports one.',
        ]
        sheet = openpyxl.load_workbook(tmp_path / "kunder.result.xlsx").active
        assert list(sheet.iter_rows(values_only=True)) == [
            ("row", "customer_id", "status", "messages"),
            (4, eva_id, "warning", f"phone (column Mobil): {phone_reason}; left out [INVALID_PHONE]"),
            (5, "X-2", "warning", "email (column E-post): is not an e-mail address; left out [INVALID_FIELD]"),
            (6, "X-3", "rejected", "name: needs a given name and a surname, e.g. 'Anna Svensson' or 'Svensson, Anna' [MISSING_FIELD]"),
        ]
        assert all(cell.font.b for cell in sheet[1]) and (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", "A1:D4")

        register = register_rows(url)
        eva, per = register[eva_id], register["X-2"]
        assert (eva.given_names, eva.surname, eva.postal_code, eva.city, eva.phone, eva.email) == ("Eva", "Lindqvist", "21120", "Malmö", None, "eva@example.se")
        assert eva.protected is False and eva.identity_number == TWELVE[EVA]
        # "Skyddad identitet: Ja": registered, and protected at once: the register shows no name or address
        await eventually(lambda: _async(register_rows(url)["X-2"].protected), timeout=60, what="X-2's protection in the register")
        per = register_rows(url)["X-2"]
        assert (per.given_names, per.street, per.phone) == (None, None, "+46701234567")

        # --- The register's own export, read back: protected identities and all ------------------------------
        stamp = (datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)).isoformat().replace("+00:00", "Z")
        protect = {"type": "ProtectedIdentitySet", "customer_id": "K-2", "occurred_at": stamp, "source": "SPAR", "protection": "SEKRETESSMARKERING"}
        async with Publisher(register_settings) as publisher:
            await publisher.publish([parse_event(protect)])
        await eventually(lambda: _async(register_rows(url)["K-2"].protected), timeout=60, what="K-2's protection in the register")

        exported = tmp_path / "register.csv"
        export = await cli("export", "--format", "csv", "--recipient", "Registervård test", "--output", str(exported), env=env)
        assert export.returncode == 0, export.stderr
        again = await cli("import", str(exported), "--as-of", "2025-06-01", env=env)
        assert again.returncode == 0, again.stderr
        assert message_lines(again.stderr) == []
        assert "6 row(s) read: 0 customer(s) published, 6 already in the register, 0 row(s) rejected." in again.stdout
        statuses = {row[1]: row[2] for row in read_result_csv(tmp_path / "register.result.csv")[1:]}
        assert statuses == dict.fromkeys((anna_id, "K-2", "K-3", karin, eva_id, "X-2"), "unchanged")


async def _async(value):
    return value
