"""The register extract's GDPR Art. 15 sections, in Swedish and English, as `registervard extract` writes them (JSON and
HTML) on a small known SQLite register of two people: the controller from settings (and a warning when they are not
set), purposes, categories, recipients, storage period, rights, IMY, automated decisions, transfers, sources; and
nothing of the other person's."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from events import codec
from events.convert import to_plain
from events.customer import fold
from events.jsonlines import parse_event
from events.settings import Settings
from projections.access import DisclosureRow
from projections.audit import AuditRow, entry_fields
from projections.database import connect
from projections.extract import build_extract, render_html, to_json
from projections.register import register_row
from projections.tables import CustomerRow, CustomerStateRow
from registervard.cli import app as cli
from registervard.erasure import retention_due
from tests.builders import line, person

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ANNA, BERTIL, EMIGRANT = "C-9", "C-7", "C-5"
CONTROLLER = {
    "REGISTERVARD_CONTROLLER_NAME": "Acme Postorder AB",
    "REGISTERVARD_CONTROLLER_ADDRESS": "Box 17, 111 22 Stockholm",
    "REGISTERVARD_CONTROLLER_EMAIL": "dataskydd@acme.se",
    "REGISTERVARD_DPO_EMAIL": "dpo@acme.se",
}
UNSET = dict.fromkeys(CONTROLLER)
"""CliRunner removes a variable set to None: none of the controller's settings."""


def at(day: int, hour: int = 8) -> datetime:
    return datetime(2025, 5, day, hour, tzinfo=UTC)


def anna():
    """Registered by the CRM, moved (SPAR), a newsletter consent (web shop), washed clear of NIX."""
    return [
        parse_event(person(ANNA, source="CRM"), now=NOW),
        parse_event(
            line(
                "AddressChanged",
                ANNA,
                source="SPAR",
                occurred_at="2025-03-01T09:00:00Z",
                effective_date="2025-03-01",
                address={"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"},
            ),
            now=NOW,
        ),
        parse_event(line("ConsentGiven", ANNA, source="WEBSHOP", purpose="NEWSLETTER", channel="EMAIL", company="Acme AB"), now=NOW),
        parse_event(line("NixDeregistered", ANNA, source="NIX", phone="+46701234567", register_version_date="2025-05-01"), now=NOW),
    ]


def bertil():
    """Another customer: nothing of his may appear in Anna's extract."""
    document = person(BERTIL, "194107086995", source="CRM")
    document["registration"].update(
        name={"given_names": "Bertil", "surname": "Bergqvist"},
        address={"street": "Kvarngatan 9", "postal_code": "41301", "city": "Göteborg"},
        contact={"phone": "+46709998877", "email": "bertil@example.se"},
    )
    married = line("CivilStatusChanged", BERTIL, source="SPAR", civil_status="MARRIED", effective_date="2025-02-01")
    return [parse_event(document, now=NOW), parse_event(married, now=NOW)]


DISCLOSURES = [
    (ANNA, "Kundtjänstappen", "api", "customer", at(1)),
    (ANNA, "Kundtjänstappen", "api", "history", at(2)),
    (ANNA, "Kundtjänstappen", "api", "customer", at(3)),
    (ANNA, "Tryckeriet AB", "export", None, at(4)),
    (BERTIL, "Grannbanken AB", "export", "kreditprövning", at(5)),
]


def register(path, stories, disclosures=()):
    """A register (migrated SQLite file at `path`) holding each story's customer: state, register row, audit trail."""
    engine = connect(f"sqlite:///{path}")
    seq = 0
    with Session(engine) as session, session.begin():
        for events in stories:
            state = fold(events)
            session.add(CustomerStateRow(customer_id=state.customer_id, state=to_plain(state, for_json=True)))
            session.add(CustomerRow(**register_row(state)))
            for event in events:
                seq += 1
                fields = dict(seq=seq, topic="t", partition=0, offset=seq, duplicate_of_seq=None, prev_hash="0" * 64, hash="0" * 64)
                session.add(AuditRow(**entry_fields(event), **fields, payload=codec.encode(event)))
        for customer_id, recipient, channel, purpose, when in disclosures:
            session.add(DisclosureRow(customer_id=customer_id, recipient=recipient, channel=channel, purpose=purpose, disclosed_at=when))
    return engine


@pytest.fixture
def database(tmp_path):
    engine = register(tmp_path / "register.db", [anna(), bertil()], DISCLOSURES)
    engine.dispose()
    return f"sqlite:///{tmp_path / 'register.db'}"


def extract(database, *args, **env):
    result = CliRunner().invoke(cli, ["extract", ANNA, "--no-record", *args], env={"REGISTERVARD_DATABASE_URL": database, "COLUMNS": "300", **env})
    assert result.exit_code == 0, result.output
    return result


def section(page: str, heading: str) -> str:
    """The text of the page's section under the `<h2>` that reads `heading`, up to the next one (tags removed)."""
    found = re.search(rf"<h2[^>]*>{re.escape(heading)}</h2>(.*?)(?=<h2|</body>)", page, re.S)
    assert found, f"no section {heading!r}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def test_the_json_carries_every_art15_section_with_the_controller_from_settings(database):
    document = json.loads(extract(database, "--format", "json", **CONTROLLER).stdout)
    assert document["language"] == "sv"
    assert document["controller"] == {
        "name": "Acme Postorder AB",
        "address": "Box 17, 111 22 Stockholm",
        "email": "dataskydd@acme.se",
        "dpo_email": "dpo@acme.se",
        "missing": [],
    }
    assert [p["code"] for p in document["purposes"]] == [
        "CUSTOMER_RELATIONSHIP",
        "REGISTER_CARE",
        "DIRECT_MARKETING",
        "CONSENTED_MARKETING",
        "CONTACT_CHECKS",
        "ACCOUNTABILITY",
    ]
    assert all(p["purpose"] and p["legal_basis"] for p in document["purposes"])
    assert [c["code"] for c in document["categories"]] == ["IDENTITY_NUMBER", "NAME", "ADDRESS", "CONTACT", "CONSENTS", "NIX", "DISCLOSURES", "HISTORY"]
    assert document["recipient_summary"] == [
        {"recipient": "Kundtjänstappen", "channel": "api", "purposes": ["customer", "history"], "times": 3, "first": "2025-05-01T08:00:00Z", "last": "2025-05-03T08:00:00Z"},  # noqa: E501
        {"recipient": "Tryckeriet AB", "channel": "export", "purposes": [], "times": 1, "first": "2025-05-04T08:00:00Z", "last": "2025-05-04T08:00:00Z"},
    ]
    assert [c["code"] for c in document["recipient_categories"]] == ["INTERNAL_SYSTEMS", "EXPORT_RECIPIENTS", "DATA_SUBJECT"]
    storage = document["storage"]
    assert (storage["retention_years"], storage["counted_from"], storage["erasure_due_after"]) == (3, None, None)
    assert "3 år" in storage["text"][0]
    assert {"RECTIFICATION", "ERASURE", "RESTRICTION", "OBJECTION", "COMPLAINT"} <= {r["code"] for r in document["rights"]}
    assert document["complaint"]["authority"] == "Integritetsskyddsmyndigheten (IMY)" and "imy.se" in document["complaint"]["text"]
    assert document["automated_decisions"]["legal_or_similarly_significant_effects"] is False and "artikel 22" in document["automated_decisions"]["text"]
    assert document["third_country_transfers"]["any"] is False and "EU/EES" in document["third_country_transfers"]["text"]
    assert [(s["source"], s["label"], s["events"]) for s in document["sources"]] == [
        ("CRM", "Vårt kundsystem", 1),
        ("SPAR", "Statens personadressregister (SPAR), folkbokföringen", 1),
        ("WEBSHOP", "Vår webbutik", 1),
        ("NIX", "NIX-Telefon, spärregistret för telefonförsäljning", 1),
    ]
    # the keys scripts read stay, with their codes
    assert {"customer_id", "generated_at", "data", "consents", "nix", "sources", "history", "recipients", "downstream"} <= document.keys()
    codes = (document["data"]["status"], document["consents"]["active"][0]["purpose"], document["history"][0]["event"])
    assert codes == ("ACTIVE", "NEWSLETTER", "CustomerRegistered")
    assert len(document["recipients"]) == 4


def test_the_swedish_page_has_every_art15_section_in_words_not_codes(database):
    result = extract(database, "--format", "html", **CONTROLLER)
    page = result.stdout
    assert '<html lang="sv">' in page and "<title>Registerutdrag – C-9</title>" in page
    assert section(page, "Personuppgiftsansvarig").endswith(
        "Namn Acme Postorder AB Adress Box 17, 111 22 Stockholm E-post dataskydd@acme.se Dataskyddsombud, e-post dpo@acme.se"
    )
    assert "UPPGIFT SAKNAS" not in page and "Varning" not in page and "Warning" not in result.stderr
    data = section(page, "Uppgifter vi har om dig")
    for words in ("Typ Privatperson", "Status Aktiv", "Personnummer 19811218-9876", "Namn Anna Svensson", "Adress Ågatan 2 221 00 Lund"):
        assert words in data
    assert "Skyddad identitet nej" in data
    purposes = section(page, "Ändamål och rättslig grund")
    assert "Ändamål Rättslig grund Sköta kundförhållandet: leveranser, fakturor och kundtjänst. Avtal (artikel 6.1 b)." in purposes
    assert "Samtycke (artikel 6.1 a)" in purposes
    categories = section(page, "Kategorier av personuppgifter")
    assert "Person- eller organisationsnummer Namn Adress Kontaktuppgifter (telefon, e-post) Samtycken Uppgifter från NIX-Telefon" in categories
    assert "Civilstånd" not in categories  # Anna's civil status is not held
    sources = section(page, "Varifrån uppgifterna kommer")
    assert "Vårt kundsystem 1" in sources and "Statens personadressregister (SPAR), folkbokföringen 1" in sources and "Vår webbutik" in sources
    consents = section(page, "Samtycken")
    assert "Nyhetsbrev E-post Acme AB 2025-01-10 10:00 nej" in consents and "Samtycke lämnat" in consents
    recipients = section(page, "Mottagare")
    assert "Kundtjänstappen Via registrets API Kunduppgifter, Historik 3 gånger 2025-05-01 10:00 2025-05-03 10:00" in recipients
    assert "Tryckeriet AB Exportfil 1 gång 2025-05-04 10:00" in recipients
    assert recipients.count("Kundtjänstappen") == 1  # one row per recipient, not per API call
    assert "Kategorier av mottagare" in recipients
    storage = section(page, "Lagringstid")
    assert "mer än 3 år" in storage and "begära att dina uppgifter raderas" in storage
    rights = section(page, "Dina rättigheter")
    for right in ("Rätt till rättelse", "Rätt till radering", "Rätt till begränsning", "Rätt att invända", "Rätt att återkalla samtycke", "Rätt att klaga"):
        assert right in rights
    assert "Integritetsskyddsmyndigheten (IMY)" in section(page, "Klagomål") and "www.imy.se" in section(page, "Klagomål")
    assert "Vi fattar inga beslut om dig som enbart grundas på automatiserad behandling" in section(page, "Automatiserat beslutsfattande")
    assert "för inte över dina personuppgifter till något land utanför EU/EES" in section(page, "Överföring till länder utanför EU/EES")
    history = section(page, "Historik")
    assert "Registrerad som kund Vårt kundsystem" in history and "Postnummer" not in history and "Adress: Ågatan 2, 221 00 Lund" in history
    # no codes, field names or UTC timestamps where a person reads
    for code in ("CustomerRegistered", "NEWSLETTER", "PERSON", "ACTIVE", "postal_code", "overrides_nix", "T08:00:00Z", "CRM", "WEBSHOP"):
        assert code not in page, code


def test_the_english_page_has_the_same_sections_in_english(database):
    page = extract(database, "--format", "html", "--lang", "en", **CONTROLLER).stdout
    assert '<html lang="en">' in page and "<title>Register extract – C-9</title>" in page
    assert "Name Acme Postorder AB Address Box 17, 111 22 Stockholm" in section(page, "Controller")
    assert "Kind Private person Status Active" in section(page, "The data we hold about you")
    assert "Contract (Article 6(1)(b))" in section(page, "Purposes and legal basis")
    assert "Contact details (phone, e-mail)" in section(page, "Categories of personal data")
    assert "Our customer system" in section(page, "Where the data came from")
    assert "Newsletter E-mail Acme AB" in section(page, "Consents")
    assert "Kundtjänstappen Through the register's API Customer data, History 3 times" in section(page, "Recipients")
    assert "more than 3 years" in section(page, "Storage period")
    rights = section(page, "Your rights")
    for right in ("Right to rectification", "Right to erasure", "Right to restriction", "Right to object", "Right to lodge a complaint"):
        assert right in rights
    assert "Swedish Authority for Privacy Protection" in section(page, "Complaints")
    assert "We make no decision about you based solely on automated processing" in section(page, "Automated decision-making")
    assert "does not transfer your personal data" in section(page, "Transfers outside the EU/EEA")
    assert "Registered as a customer" in section(page, "History")
    assert not any(swedish in page for swedish in ("Dina rättigheter", "Lagringstid", "Mottagare", "Privatperson"))
    document = json.loads(extract(database, "--lang", "en", **CONTROLLER).stdout)
    assert document["language"] == "en" and document["rights"][1]["title"] == "Right to rectification"
    assert document["consents"]["active"][0]["purpose"] == "NEWSLETTER"  # codes stay codes in either language


def test_without_the_controllers_settings_the_extract_warns_in_place_and_the_command_on_stderr(database):
    result = extract(database, "--format", "html", **{**UNSET, "REGISTERVARD_CONTROLLER_NAME": "Acme Postorder AB"})
    warning = " ".join(result.stderr.split())
    assert (
        "Warning: the controller's details are not set (REGISTERVARD_CONTROLLER_ADDRESS, REGISTERVARD_CONTROLLER_EMAIL, REGISTERVARD_DPO_EMAIL)"
        in warning
    )
    page = result.stdout
    assert "Varning: uppgifter om den personuppgiftsansvarige saknas" in page
    controller = section(page, "Personuppgiftsansvarig")
    assert "Namn Acme Postorder AB" in controller
    assert "Adress UPPGIFT SAKNAS (REGISTERVARD_CONTROLLER_ADDRESS är inte inställd)" in controller
    assert "Dataskyddsombud, e-post UPPGIFT SAKNAS (REGISTERVARD_DPO_EMAIL är inte inställd)" in controller
    document = json.loads(extract(database, **UNSET).stdout)
    assert document["controller"]["missing"] == [
        "REGISTERVARD_CONTROLLER_NAME",
        "REGISTERVARD_CONTROLLER_ADDRESS",
        "REGISTERVARD_CONTROLLER_EMAIL",
        "REGISTERVARD_DPO_EMAIL",
    ]
    assert document["controller"]["name"] is None


def test_the_controllers_settings_are_read_from_the_environment_blank_as_unset(monkeypatch):
    for name, value in {**CONTROLLER, "REGISTERVARD_CONTROLLER_NAME": "  Acme Postorder AB ", "REGISTERVARD_DPO_EMAIL": "  "}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.controller_name, settings.controller_address, settings.controller_email, settings.dpo_email) == (
        "Acme Postorder AB",
        "Box 17, 111 22 Stockholm",
        "dataskydd@acme.se",
        None,
    )


def test_nothing_of_another_customer_appears_in_the_extract(tmp_path):
    engine = register(tmp_path / "register.db", [anna(), bertil()], DISCLOSURES)
    with Session(engine) as session:
        document = build_extract(session, ANNA, now=NOW, downstream_topic="p.customers")
    assert document is not None
    assert [r["recipient"] for r in document["recipient_summary"]] == ["Kundtjänstappen", "Tryckeriet AB"]
    assert "CIVIL_STATUS" not in {c["code"] for c in document["categories"]}  # Bertil's, not Anna's
    shown = to_json(document) + render_html(document)
    his = [BERTIL, "Bertil", "Bergqvist", "194107086995", "19410708-6995", "Kvarngatan", "+46709998877", "bertil@example.se"]
    for data in [*his, "Grannbanken", "kreditprövning", "Gift"]:
        assert data not in shown, data
    engine.dispose()


def test_the_storage_period_of_an_emigrant_says_when_erasure_is_due_as_the_retention_run_decides(tmp_path):
    emigrated = line("CustomerEmigrated", EMIGRANT, source="SPAR", occurred_at="2025-02-01T09:00:00Z", effective_date="2025-02-01", destination_country="NO")
    events = [parse_event(person(EMIGRANT, source="CRM"), now=NOW), parse_event(emigrated, now=NOW)]
    engine = register(tmp_path / "register.db", [events])
    with Session(engine) as session:
        document = build_extract(session, EMIGRANT, now=NOW)
    assert document is not None
    storage = document["storage"]
    assert (storage["counted_from"], storage["erasure_due_after"]) == ("2025-02-01", "2028-02-01")
    assert "Räknat från 2025-02-01 ska dina uppgifter raderas efter 2028-02-01." in storage["text"]
    assert "POPULATION_REGISTER" in {c["code"] for c in document["categories"]}
    assert "Till land: Norge" in render_html(document)
    due = [d.customer_id for d in retention_due(Settings(), engine=engine, today=date(2028, 2, 1))]
    due_next_day = [d.customer_id for d in retention_due(Settings(), engine=engine, today=date(2028, 2, 2))]
    assert (due, due_next_day) == ([], [EMIGRANT])
    engine.dispose()


def test_a_protected_identitys_extract_is_still_their_own_with_a_note_to_give_it_to_them_alone(tmp_path):
    protected = line("ProtectedIdentitySet", ANNA, source="SPAR", occurred_at="2025-05-02T09:00:00Z", protection="SKYDDAD_FOLKBOKFORING")
    register(tmp_path / "register.db", [[*anna(), parse_event(protected, now=NOW)]]).dispose()
    result = extract(f"sqlite:///{tmp_path / 'register.db'}", "--format", "html", **CONTROLLER)
    page = result.stdout
    assert "Namn Anna Svensson" in section(page, "Uppgifter vi har om dig") and "Ågatan 2" in page  # theirs, protection or not
    assert "Skyddad identitet ja: ditt namn och din adress lämnas inte ut till någon annan" in section(page, "Uppgifter vi har om dig")
    assert "Du har skyddad identitet. Utdraget innehåller ditt namn och din adress och är bara till dig" in page
    assert "C-9 has a protected identity" in " ".join(result.stderr.split())


def test_an_erased_customers_extract_holds_no_personal_data_and_says_erased(tmp_path):
    events = [*anna(), parse_event(line("CustomerErased", ANNA, source="REGISTERVARD", occurred_at="2025-05-20T09:00:00Z", reason="CUSTOMER_REQUEST"), now=NOW)]
    engine = register(tmp_path / "register.db", [events])
    with Session(engine) as session:
        document = build_extract(session, ANNA, now=NOW)
    engine.dispose()
    assert document is not None and document["data"]["status"] == "ERASED" and document["data"]["name"] is None
    assert not {"IDENTITY_NUMBER", "NAME", "ADDRESS", "CONTACT"} & {c["code"] for c in document["categories"]}
    page = render_html(document)
    assert "Status Raderad" in section(page, "Uppgifter vi har om dig") and "Raderad Registret självt" in section(page, "Historik")
