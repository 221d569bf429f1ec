"""Register operations end to end, through the real broker and the real databases:

import a 1,000-row spreadsheet with bad rows, import a NIX register extract,
wash a call list, export the register to Excel, and make a person's register
extract (JSON and HTML), each through the `registervard` command line.
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.customer import add_months
from events.identity import luhn_check_digit
from events.jsonlines import parse_event
from events.publish import Publisher
from events.topics import ensure_topics
from projections.access import DisclosureRow
from projections.audit import AuditProjection, AuditRow
from projections.data_keys import key_store
from projections.database import connect
from projections.downstream import run_downstream_publisher
from projections.export import EXPORT_COLUMNS, EXPORT_HEADER
from projections.lookup import lookup_hash
from projections.register import RegisterProjection
from projections.runner import run_projection
from projections.tables import CustomerRow, NixStatusRow
from registervard import exit_codes
from registervard.importing import opaque_id
from tests.conftest import eventually, running_worker, service_env

pytestmark = pytest.mark.kafka

ROWS = 1000
COMPANY = "Ringbolaget AB"
RECIPIENT = "Tryckeriet <AB> & Co"
HEADER = ["Kundnummer", "Personnummer", "Förnamn", "Efternamn", "Företag", "C/O", "Gatuadress", "Postnummer", "Ort", "Land", "Telefon", "E-post"]
BAD_LINES = {
    12: ("identity_number", "INVALID_IDENTITY_NUMBER"),
    22: ("surname", "MISSING_FIELD"),
    32: ("postal_code", "INVALID_POSTAL_CODE"),
    72: ("customer_id", "DUPLICATE_IN_FILE"),
    82: ("identity_number", "DUPLICATE_IN_FILE"),
}
LEFT_OUT = {42: ("phone", "Telefon", "INVALID_PHONE"), 62: ("email", "E-post", "INVALID_FIELD")}
"""Rows kept with a bad optional value left out (a warning), not rejected."""


def registervard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "registervard", *args], env=env, capture_output=True, text=True, timeout=300)


async def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command line in a thread, so the projections running in this event loop go on meanwhile."""
    return await asyncio.to_thread(registervard, *args, env=env)


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def own_topics(settings, tmp_path):
    """Topics and a worker of this test's own: the test runs once per database, and each run counts what it publishes."""
    mine = replace(settings, topic_prefix=f"{settings.topic_prefix}-{uuid.uuid4().hex[:6]}")
    asyncio.run(ensure_topics(mine))
    with running_worker(mine, tmp_path / "worker.log"):
        yield mine


class Register:
    """A generated register: each row's values, which rows are bad, and the customer id each good row gets."""

    def __init__(self, rng: random.Random) -> None:
        self.prefix = f"K{uuid.uuid4().hex[:6]}"
        self.run = rng.randint(100, 999)
        self.rows: list[list[object]] = []
        self.identity: dict[int, str] = {}
        for i in range(ROWS):
            self.rows.append(self._row(i, rng))
        self._spoil()

    def phone(self, i: int) -> str:
        """The E.164 number of row i; written in the sheet as 07X-RRR II II."""
        return f"+467{i % 10 if i % 10 in (0, 2, 3, 6, 9) else 0}{self.run:03d}{i:04d}"

    def written_phone(self, i: int) -> str:
        national = "0" + self.phone(i)[3:]
        return f"{national[:3]}-{national[3:6]} {national[6:8]} {national[8:]}"

    def customer_id(self, i: int) -> str:
        return opaque_id(lookup_hash(self.identity[i])) if i % 100 == 50 else f"{self.prefix}-{i:04d}"

    @property
    def good(self) -> list[int]:
        return [i for i in range(ROWS) if i + 2 not in BAD_LINES]

    def _row(self, i: int, rng: random.Random) -> list[object]:
        company = i % 100 == 90
        taken = set(self.identity.values())
        while True:  # two people drawn with the same number would be a duplicate the test did not plant (1-2% of runs)
            if company:
                nine = f"556{rng.randint(0, 999999):06d}"
                ten = nine + str(luhn_check_digit(nine))
                identity = "16" + ten
            else:
                born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 60 * 365))
                nine = f"{born:%y%m%d}{rng.randint(1, 999):03d}"  # serial number 000 is never assigned
                ten = nine + str(luhn_check_digit(nine))
                identity = f"{born.year // 100}{ten}"
            if identity not in taken:
                break
        self.identity[i] = identity
        if company:
            number: object = f"{ten[:6]}-{ten[6:]}"
        else:
            number = f"{ten[:6]}-{ten[6:]}" if i % 3 else int(identity)  # some as a spreadsheet number
        return [
            "" if i % 100 == 50 else f"{self.prefix}-{i:04d}",
            number,
            "" if company else f"Förnamn{i}",
            "" if company else f"Efternamn{i}",
            f"Företag {i} AB" if company else "",
            "Lindqvist" if i % 7 == 0 else "",
            f"Storgatan {i % 90 + 1}",
            f"{111 + i % 800:03d} {i % 100:02d}",
            "Stockholm",
            "Sverige" if i % 2 else "",
            self.written_phone(i),
            f"kund{i}@example.se",
        ]

    def _spoil(self) -> None:
        row = lambda line: self.rows[line - 2]  # noqa: E731
        number = str(row(12)[1]).replace("-", "")
        row(12)[1] = number[:-1] + str((int(number[-1]) + 1) % 10)  # wrong check digit
        row(22)[3] = ""
        row(32)[7] = "1234"
        row(42)[10] = "12"
        row(62)[11] = "kund-at-example"
        row(72)[0] = row(2)[0]
        row(82)[1] = self.identity[1]  # the same person as line 3, written with 12 digits

    def write_xlsx(self, path: Path) -> Path:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "Kunder"
        sheet.append(HEADER)
        for cells in self.rows:
            sheet.append(cells)
        book.save(path)
        return path


@asynccontextmanager
async def projections_running(settings):
    """The register and audit projections running against settings' database while the block runs."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_projection(settings, p, keys=key_store(settings), stop=stop)) for p in (RegisterProjection(), AuditProjection())]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)


def count(database_url: str, query) -> int:
    engine = connect(database_url)
    try:
        with Session(engine) as session:
            return session.scalar(query) or 0
    finally:
        engine.dispose()


async def test_import_nix_wash_export_and_extract_of_a_register(own_topics, database_url, tmp_path):
    rng = random.Random()
    register = Register(rng)
    spreadsheet = register.write_xlsx(tmp_path / "kunder.xlsx")
    project = replace(own_topics, database_url=database_url)
    env = service_env(project)
    ids = [register.customer_id(i) for i in register.good]
    today = datetime.now(UTC).date()

    async with projections_running(project):
        # --- Import --------------------------------------------------------------------
        imported = await cli("import", str(spreadsheet), "--source", "CRM", "--wait", "--wait-timeout", "240", env=env)
        assert imported.returncode == exit_codes.SOME_REFUSED, imported.stderr
        assert "Traceback" not in imported.stderr
        summary = f"1000 row(s) read: {len(ids)} customer(s) published, 0 already in the register, 5 row(s) rejected (2 duplicate(s) within the file)"
        assert summary in one_line(imported.stdout)
        for line, (field, code) in BAD_LINES.items():
            assert f"line {line}: {field}: " in imported.stderr and f"[{code}]" in imported.stderr.split(f"line {line}: ", 1)[1].split("\n")[0]
        for line, (field, column, code) in LEFT_OUT.items():
            assert f"line {line}: {field} (column {column}): " in imported.stderr and f"; left out [{code}]" in imported.stderr
        assert "line 72: customer_id: the same customer as line 2 [DUPLICATE_IN_FILE]" in imported.stderr
        assert "line 82: identity_number: the same identity number as line 3 [DUPLICATE_IN_FILE]" in imported.stderr
        rejected = [line for line in imported.stderr.splitlines() if line.startswith("line ")]
        assert len(rejected) == 7  # 5 rows rejected, 2 values left out
        for i in range(ROWS):  # no personal data in any reason
            assert register.identity[i][2:8] + "-" not in "\n".join(rejected) and register.written_phone(i) not in "\n".join(rejected)

        in_register = select(func.count()).select_from(CustomerRow).where(CustomerRow.customer_id.in_(ids))
        assert count(database_url, in_register) == len(ids)  # --wait returned: the register has applied every one

        again = await cli("import", str(spreadsheet), "--source", "CRM", env=env)
        assert f"0 customer(s) published, {len(ids)} already in the register, 5 row(s) rejected" in one_line(again.stdout)

        crm = tmp_path / "crm.csv"
        crm.write_text(f"Kundnummer;Personnummer;Förnamn;Efternamn\nX-{register.prefix};{register.identity[200]};Ny;Kund\n", encoding="utf-8")
        twice = await cli("import", str(crm), env=env)
        assert twice.returncode == 0, twice.stderr
        assert "0 customer(s) published, 0 already in the register (1 more under another customer id), 0 row(s) rejected" in one_line(twice.stdout)
        assert f"line 2: identity_number: the register already has this person as {register.customer_id(200)}; not published" in one_line(twice.stderr)

        # --- More facts from other systems: a NIX override consent, a death, an opt-out, a protected identity ---
        yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        stamp = yesterday.isoformat().replace("+00:00", "Z")
        facts = [
            {
                "type": "ConsentGiven",
                "customer_id": register.customer_id(100),
                "occurred_at": stamp,
                "source": "WEBSHOP",
                "purpose": "TELEMARKETING",
                "channel": "PHONE",
                "company": COMPANY,
                "overrides_nix": True,
            },
            {
                "type": "CustomerDeceased",
                "customer_id": register.customer_id(300),
                "occurred_at": stamp,
                "source": "SPAR",
                "date_of_death": yesterday.date().isoformat(),
            },
            {"type": "MarketingOptOut", "customer_id": register.customer_id(400), "occurred_at": stamp, "source": "CRM", "channel": "PHONE"},
            {
                "type": "ProtectedIdentitySet",
                "customer_id": register.customer_id(500),
                "occurred_at": stamp,
                "source": "SPAR",
                "protection": "SKYDDAD_FOLKBOKFORING",
            },
        ]
        async with Publisher(project) as publisher:
            await publisher.publish([parse_event(f) for f in facts])
        protected = select(func.count()).select_from(CustomerRow).where(CustomerRow.customer_id == register.customer_id(500), CustomerRow.protected.is_(True))
        await eventually(lambda: _async(count(database_url, protected) == 1), timeout=60, what="the protected identity in the register")

        # --- NIX register extract ------------------------------------------------------------
        version = today - timedelta(days=7)
        extract_file = tmp_path / "nix.txt"
        registered = [i for i in range(100, 200)]
        formats = [lambda i: register.phone(i), lambda i: register.written_phone(i), lambda i: register.phone(i)[1:], lambda i: "0046" + register.phone(i)[3:]]
        lines = ["Telefonnummer", *(formats[i % 4](i) for i in registered), "+46 8 123 45 67", "12", ""]
        extract_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        nix = await cli("nix", "import", str(extract_file), "--version-date", version.isoformat(), env=env)
        assert nix.returncode == exit_codes.SOME_REFUSED, nix.stderr  # the line "12"
        assert "line 103: phone: " in nix.stderr
        phones = len(ids) - 1  # line 42's phone was left out
        assert f"{phones} event(s) published (100 registered, {phones - 100} not registered)" in one_line(nix.stdout), nix.stdout

        nix_rows = select(func.count()).select_from(NixStatusRow).where(NixStatusRow.customer_id.in_(ids), NixStatusRow.as_of == version)
        await eventually(lambda: _async(count(database_url, nix_rows) == phones), timeout=120, what="the NIX status of every customer with a phone")
        nix_again = await cli("nix", "import", str(extract_file), "--version-date", version.isoformat(), env=env)
        assert f"0 event(s) published (0 registered, 0 not registered), {phones} customer(s) already up to date" in one_line(nix_again.stdout)

        # --- Wash a call list ------------------------------------------------------------
        calls = tmp_path / "ringlista.csv"
        wanted = {
            "override": (register.written_phone(100), "", "yes", "NIX_OVERRIDE_CONSENT"),
            "nix": (register.phone(101), "", "no", "NIX_REGISTERED"),
            "washed": (register.written_phone(200), "", "yes", "NIX_CHECKED"),
            "dead": (register.written_phone(300), "", "no", "DECEASED"),
            "opted out": (register.written_phone(400), "", "no", "OPTED_OUT"),
            "protected": (register.written_phone(500), "", "no", "PROTECTED_IDENTITY"),
            "nobody": ("070-000 00 01", "", "no", "UNKNOWN_NUMBER"),
            "garbled": ("ring mig", "", "no", "INVALID_NUMBER"),
            "by id": ("", register.customer_id(200), "yes", "NIX_CHECKED"),
            "unknown id": ("", "K-nobody", "no", "NOT_A_CUSTOMER"),
        }
        calls.write_text("Namn;Telefon;Kundnummer\n" + "".join(f"{name};{p};{c}\n" for name, (p, c, _, _) in wanted.items()), encoding="utf-8")
        washed_file = tmp_path / "washed.csv"
        washed = await cli("wash", str(calls), "--company", COMPANY, "--output", str(washed_file), env=env)
        assert washed.returncode == 0, washed.stderr
        answers = {row["Namn"]: row for row in csv.DictReader(washed_file.open(encoding="utf-8-sig"), delimiter=";")}
        assert list(answers) == list(wanted)
        for name, (phone, customer, may_call, code) in wanted.items():
            assert (answers[name]["Telefon"], answers[name]["Kundnummer"]) == (phone, customer)
            assert answers[name]["Får ringas"] == {"yes": "ja", "no": "nej"}[may_call], (name, answers[name])
            assert code in answers[name]["Skäl"].split(", "), (name, answers[name])
        assert "10 row(s) washed" in washed.stderr and "3 may be called, 7 may not" in washed.stderr

        stale = add_months(version, 2) + timedelta(days=1)
        later = await cli("wash", str(calls), "--company", COMPANY, "--at", f"{stale.isoformat()}T10:00:00Z", env=env)
        later_answers = {row["Namn"]: row for row in csv.DictReader(later.stdout.splitlines(), delimiter=";")}
        assert (later_answers["washed"]["Får ringas"], later_answers["washed"]["Skäl"]) == ("nej", "NIX_NOT_CHECKED")

        # --- Export ------------------------------------------------------------------------
        exported_file = tmp_path / "register.xlsx"
        exported = await cli("export", "--format", "xlsx", "--status", "ACTIVE", "--recipient", RECIPIENT, "--output", str(exported_file), env=env)
        assert exported.returncode == 0, exported.stderr
        sheet = openpyxl.load_workbook(exported_file, read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        header, records = rows[0], [dict(zip(EXPORT_COLUMNS, r, strict=False)) for r in rows[1:]]  # read-only rows end at their last value
        assert header == EXPORT_HEADER and header[:3] == ("Kundnummer", "Kundtyp", "Status")
        ours = {r["customer_id"]: r for r in records if r["customer_id"] in set(ids)}
        assert len(ours) == len(ids) - 1  # the deceased customer is not ACTIVE
        assert all(r["status"] == "ACTIVE" for r in records)
        assert ours[register.customer_id(200)]["surname"] == "Efternamn200"
        assert ours[register.customer_id(200)]["identity_number"] == register.identity[200]
        assert ours[register.customer_id(200)]["phone"] == register.phone(200)
        hidden = ours[register.customer_id(500)]
        assert (hidden["protected"], hidden["given_names"], hidden["surname"], hidden["street"]) == ("ja", None, None, None)
        assert ours[register.customer_id(190)]["company_name"] == "Företag 190 AB"
        disclosed = select(func.count()).select_from(DisclosureRow).where(DisclosureRow.recipient == RECIPIENT, DisclosureRow.channel == "export")
        assert count(database_url, disclosed) == len(records)

        # --- Register extract ----------------------------------------------------------------
        await run_downstream_publisher(project, until_empty=True)
        person = register.customer_id(500)
        audited = select(func.count()).select_from(AuditRow).where(AuditRow.customer_id == person)
        await eventually(lambda: _async(count(database_url, audited) >= 4), timeout=60, what="the person's history in the audit trail")
        as_json = await cli("extract", person, "--format", "json", env=env)
        assert as_json.returncode == 0, as_json.stderr
        extract = json.loads(as_json.stdout)
        data = extract["data"]
        assert data["protected_identity"] is True
        assert data["name"] == {"given_names": "Förnamn500", "surname": "Efternamn500"}  # their own data, protection or not
        assert data["identity_number"] == register.identity[500]
        assert data["address"]["street"] == "Storgatan 51" and data["addresses"][0]["source"] == "CRM"
        assert data["contact"]["phone"] == register.phone(500)
        history = [(e["event"], e["source"]) for e in extract["history"]]
        assert ("CustomerRegistered", "CRM") in history and ("ProtectedIdentitySet", "SPAR") in history and ("NixDeregistered", "NIX") in history
        registration = next(e for e in extract["history"] if e["event"] == "CustomerRegistered")
        assert registration["facts"]["registration"]["name"]["surname"] == "Efternamn500"
        assert registration["occurred_at"] and registration["recorded_at"]
        assert {s["source"] for s in extract["sources"]} >= {"CRM", "SPAR", "NIX"}
        assert extract["nix"] == [{"phone": register.phone(500), "registered": False, "as_of": version.isoformat()}]
        assert {"recipient": RECIPIENT, "channel": "export"}.items() <= extract["recipients"][0].items()
        assert extract["downstream"]["topic"] == project.customers_topic and extract["downstream"]["status"] == "published"

        consenting = json.loads((await cli("extract", register.customer_id(100), env=env)).stdout)
        (consent,) = consenting["consents"]["active"]
        assert (consent["company"], consent["overrides_nix"], consent["source"]) == (COMPANY, True, "WEBSHOP")
        assert [c["event"] for c in consenting["consents"]["history"]] == ["ConsentGiven"]
        assert consenting["nix"][0]["registered"] is True

        page = tmp_path / "extract.html"
        as_html = await cli("extract", person, "--format", "html", "--output", str(page), env=env)
        assert as_html.returncode == 0, as_html.stderr
        html = page.read_text(encoding="utf-8")
        number = register.identity[500]
        assert "Förnamn500 Efternamn500" in html and "Storgatan 51" in html and f"{number[:8]}-{number[8:]}" in html  # as Swedes write it
        assert "Skyddad identitet" in html and "SPAR" in html
        assert "Tryckeriet &lt;AB&gt; &amp; Co" in html and RECIPIENT not in html
        assert project.customers_topic in html

        nobody = await cli("extract", "K-nobody", env=env)
        assert nobody.returncode == 1 and "holds nothing about K-nobody" in one_line(nobody.stderr)


async def _async(value):
    return value
