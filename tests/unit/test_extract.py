"""The register extract (projections/extract.py) on a SQLite register: own data even when protected, sources, recipients, escaping, erased fields."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from events import codec
from events.convert import to_plain
from events.customer import fold
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore, seal
from projections.access import DisclosureRow
from projections.audit import AuditRow, entry_fields
from projections.database import connect
from projections.extract import build_extract, render_html
from projections.register import register_row
from projections.tables import CustomerRow, CustomerStateRow
from tests.builders import line, person

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def register(tmp_path, events, *, sealed_with=None, recipients=()):
    engine = connect(f"sqlite:///{tmp_path / 'register.db'}")
    state = fold(events)
    with Session(engine) as session, session.begin():
        session.add(CustomerStateRow(customer_id=state.customer_id, state=to_plain(state, for_json=True)))
        session.add(CustomerRow(**register_row(state)))
        for seq, event in enumerate(events, start=1):
            payload = codec.encode(seal(event, sealed_with.key_for(event.customer_id, create=True)) if sealed_with else event)
            session.add(
                AuditRow(
                    **entry_fields(event),
                    seq=seq,
                    topic="t",
                    partition=0,
                    offset=seq,
                    duplicate_of_seq=None,
                    payload=payload,
                    prev_hash="0" * 64,
                    hash="0" * 64,
                )
            )
        for recipient in recipients:
            session.add(DisclosureRow(customer_id=state.customer_id, recipient=recipient, channel="export", purpose=None, disclosed_at=NOW))
    return engine


def story():
    return [
        parse_event(person("C-9"), now=NOW),
        parse_event(line("ProtectedIdentitySet", "C-9", source="SPAR", occurred_at="2025-02-01T09:00:00Z", protection="SKYDDAD_FOLKBOKFORING"), now=NOW),
        parse_event(line("ConsentGiven", "C-9", source="WEBSHOP", purpose="NEWSLETTER", channel="EMAIL", company="<script>Bolaget</script>"), now=NOW),
    ]


def test_the_extract_holds_the_persons_own_data_even_when_protected_with_sources_and_recipients(tmp_path):
    engine = register(tmp_path, story(), recipients=["Tryckeriet AB"])
    with Session(engine) as session:
        extract = build_extract(session, "C-9", downstream_topic="p.customers", now=NOW)
    assert extract["data"]["protected_identity"] is True
    assert extract["data"]["name"] == {"given_names": "Anna", "surname": "Svensson"}
    assert extract["data"]["addresses"][0]["source"] == "TEST"
    assert [(e["event"], e["source"]) for e in extract["history"]] == [
        ("CustomerRegistered", "TEST"),
        ("ProtectedIdentitySet", "SPAR"),
        ("ConsentGiven", "WEBSHOP"),
    ]
    assert extract["history"][0]["facts"]["registration"]["identity_number"] == "198112189876"
    assert [c["company"] for c in extract["consents"]["active"]] == ["<script>Bolaget</script>"]
    assert [r["recipient"] for r in extract["recipients"]] == ["Tryckeriet AB"]
    assert extract["downstream"] == {"topic": "p.customers", "status": "published", "what": extract["downstream"]["what"]}
    with Session(engine) as session:
        assert build_extract(session, "C-nobody") is None


def test_the_html_page_escapes_every_value(tmp_path):
    engine = register(tmp_path, story())
    with Session(engine) as session:
        html = render_html(build_extract(session, "C-9", now=NOW))
    assert "&lt;script&gt;Bolaget&lt;/script&gt;" in html and "<script>" not in html
    assert "Anna Svensson" in html and "Storgatan 1" in html and "Skyddad identitet" in html


def test_history_sealed_with_a_destroyed_key_shows_as_erased_and_a_live_key_unseals_it(tmp_path):
    keys = MemoryKeyStore()
    engine = register(tmp_path, story(), sealed_with=keys)
    with Session(engine) as session:
        live = build_extract(session, "C-9", now=NOW, keys=keys)
        keys.destroy("C-9")
        erased = build_extract(session, "C-9", now=NOW, keys=keys)
    assert live["history"][0]["facts"]["registration"]["name"]["surname"] == "Svensson"
    assert erased["history"][0]["facts"]["registration"] == "(erased: the data key was destroyed)"


def test_the_extract_tells_the_person_of_their_return_their_deregistration_and_the_company_they_left(tmp_path):
    address = {"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"}
    events = [
        parse_event(person("C-9", contact_person_for="C-CO"), now=NOW),
        parse_event(line("CustomerEmigrated", "C-9", source="SPAR", occurred_at="2025-02-01T09:00:00Z", effective_date="2025-02-01"), now=NOW),
        parse_event(
            line("CustomerImmigrated", "C-9", source="SPAR", occurred_at="2025-04-01T09:00:00Z", effective_date="2025-04-01", address=address), now=NOW
        ),
        parse_event(
            line("ContactPersonLeft", "C-9", source="CRM", occurred_at="2025-04-15T09:00:00Z", company_id="C-CO", effective_date="2025-04-15"), now=NOW
        ),
        parse_event(line("CustomerDeregistered", "C-9", source="SPAR", occurred_at="2025-05-01T09:00:00Z", cause="GN", effective_date="2025-05-01"), now=NOW),
    ]
    engine = register(tmp_path, events)
    with Session(engine) as session:
        extract = build_extract(session, "C-9", now=NOW)
    assert extract is not None
    data = extract["data"]
    assert (data["status"], data["emigrated_on"], data["immigrated_on"], data["address"]["city"]) == ("DEREGISTERED", "2025-02-01", "2025-04-01", "Lund")
    assert data["deregistration_cause"] == {"code": "GN", "meaning": "Gammalt personnummer", "english": "old personal identity number: replaced by a new one"}
    assert (data["contact_person_for"], data["former_contact_person_for"]) == (None, [{"company_id": "C-CO", "left_on": "2025-04-15", "source": "CRM"}])
    page = render_html(extract)
    assert "Folkbokförd i Sverige igen" in page and "Gammalt personnummer (GN)" in page and "C-CO, slutade 2025-04-15" in page
    english = render_html(build_extract_in(engine, "en"))
    assert "Registered in Sweden again" in english and "C-CO, left on 2025-04-15" in english
    assert "old personal identity number: replaced by a new one (GN)" in english
    engine.dispose()


def build_extract_in(engine, language):
    with Session(engine) as session:
        return build_extract(session, "C-9", now=NOW, language=language)
