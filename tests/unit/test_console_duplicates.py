"""The console's duplicate pages in-process (TestClient): the likely pairs with their reasons, and merging one customer
of a pair into the other, over the console's planted customers and a few duplicates of them registered as upstream
systems register them (folded by the worker's and the projections' own code, as `tests/console_register.py` does).
Publishing is handed to a stand-in that keeps the events (the merge itself is `tests/e2e/test_merge_duplicates.py`'s)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from events import codec
from events.catalog import CustomersMerged
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.settings import Settings
from processors.lifecycle import Lifecycle
from processors.policy import Append, IntakeMessage, Sealer, decide
from projections.access import DisclosureRow
from projections.audit import AuditProjection
from projections.data_keys import key_store
from projections.database import connect
from projections.duplicates import Block, DuplicateReport, Reason
from projections.register import RegisterProjection
from projections.runner import apply_batch
from registervard.api.roles import ROLES, may_call
from registervard.web import duplicate_pages
from registervard.web.texts import texts
from tests import console_register as planted
from tests.duplicate_register import number
from tests.unit.test_console_web import app_for, csrf_of, signed_in

LOVISA_AGAIN, DORIS_AGAIN = "P-LOVISA-WEBB", "P-DORIS-BUTIK"
OSTEN, OSTEN_AGAIN = "P-OSTEN", "P-OSTEN-2"
ALI, ALI_COORDINATION = "P-ALI", "P-ALI-SAMORDNING"


def registration(customer_id: str, name: tuple[str, str], street: str, postal_code: str, city: str, **registered: Any) -> dict[str, Any]:
    """A CustomerRegistered as the web shop sends it."""
    return {
        "type": "CustomerRegistered",
        "customer_id": customer_id,
        "occurred_at": "2025-01-10T09:00:00Z",
        "recorded_at": "2025-01-10T09:00:00Z",
        "source": "WEBSHOP",
        "customer_kind": "PERSON",
        "registration": {
            "name": {"given_names": name[0], "surname": name[1]},
            "address": {"street": street, "postal_code": postal_code, "city": city},
            **registered,
        },
    }


DUPLICATES = [
    # Lovisa again, with her number, name, phone and (a house letter aside) her address in Lund: 100, four reasons.
    registration(
        LOVISA_AGAIN, planted.LAPSED_NAME, "Ågatan 2 A", "22100", planted.NEW_CITY, identity_number=planted.LAPSED_NUMBER, contact={"phone": "+46701112233"}
    ),
    # Doris again, unprotected here: a pair with a protected identity, listed by ids alone.
    registration(DORIS_AGAIN, planted.PROTECTED_NAME, "Butiksgatan 1", "90326", planted.PROTECTED_CITY, identity_number=planted.PROTECTED_NUMBER),
    # Accents and a street abbreviation, no numbers: the same name and address, 75.
    registration(OSTEN, ("Östen", "Åberg"), "Drottninggatan 5", "41103", "Göteborg"),
    registration(OSTEN_AGAIN, ("Osten", "Aberg"), "Drottningg. 5", "411 03", "GÖTEBORG"),
    # A samordningsnummer, then a personnummer of the same birth date: a pair only a forced merge may merge.
    registration(ALI, ("Ali", "Hassan"), "Björkgatan 7", "70210", "Örebro", identity_number=number("19850312", "451")),
    registration(ALI_COORDINATION, ("Ali", "Hasan"), "Linnégatan 40", "41304", "Göteborg", identity_number=number("19850312", "773", coordination=True)),
]


def fold(settings: Settings, documents: list[dict[str, Any]]) -> None:
    """Register `documents` (new customers) as the worker and the projections would, on a topic of their own."""
    engine = connect(settings.database_url)
    keys = key_store(settings)
    keys.ensure({str(d["customer_id"]) for d in documents})
    lifecycle, sealer, records = Lifecycle(), Sealer(keys), []
    for offset, document in enumerate(documents):
        message = IntakeMessage(str(document["customer_id"]).encode(), codec.encode(parse_event(dict(document))), "duplicates-test.intake", 0, offset)
        decision = decide(message, lifecycle, sealer)
        assert isinstance(decision, Append), decision
        records += [LogRecord("duplicates-test.events", 0, len(records) + i, r.value) for i, r in enumerate(decision.records)]
    try:
        for projection in (RegisterProjection(settings.lookup_key), AuditProjection()):
            assert not apply_batch(engine, projection, records, keys)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = planted.build(tmp_path_factory.mktemp("duplicates") / "register.db", customers=0)
    fold(settings, DUPLICATES)
    return settings


@pytest.fixture(scope="module")
def keys(register: Settings) -> dict[str, str]:
    return planted.role_keys(register)


@pytest.fixture(scope="module")
def app(register: Settings):
    return app_for(register)


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[CustomersMerged]:
    """What the pages publish, kept here instead of sent to Kafka."""
    sent: list[CustomersMerged] = []

    async def publish(_settings: Settings, event: CustomersMerged) -> None:
        sent.append(event)

    monkeypatch.setattr(duplicate_pages, "publish_merge", publish)
    return sent


def merge_form(page: str) -> dict[str, str]:
    """The confirmation form's fields, as the browser would POST them."""
    form = re.search(r'<form method="post" action="/console/duplicates/merge".*?</form>', page, re.S)
    assert form, "the page has the merge form"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form[0]))


def merge_disclosures(register: Settings) -> list[str]:
    """The customers the merge's confirmation pages disclosed, in order."""
    engine = connect(register.database_url)
    try:
        with Session(engine) as session:
            query = select(DisclosureRow.customer_id).where(DisclosureRow.channel == "console", DisclosureRow.purpose == "duplicates_merge")
            return list(session.scalars(query.order_by(DisclosureRow.id)))
    finally:
        engine.dispose()


def pair_text(page: str, first: str, second: str) -> str:
    """The text of the listed pair of `first` and `second` (tags dropped), or "" when it is not listed."""
    for item in re.findall(r'<li class="pair".*?</li>\s*(?=<li class="pair"|</ol>)', page, re.S):
        if f'/console/customers/{first}"' in item and f'/console/customers/{second}"' in item:
            return " ".join(re.sub(r"<[^>]+>", " ", item).split())
    return ""


def test_the_duplicate_pages_are_shown_to_the_roles_the_roles_table_gives_them_and_the_nav_links_there(app, keys) -> None:
    pages = {
        "/console/duplicates": "duplicates_find",
        f"/console/duplicates/merge?a={OSTEN}&b={OSTEN_AGAIN}&keep={OSTEN}": "duplicates_merge",
        f"/console/duplicates/merged?keep={OSTEN}&drop={OSTEN_AGAIN}": "duplicates_merge",
    }
    for role in ROLES:
        client = signed_in(app, keys[role])
        for path, endpoint in pages.items():
            assert client.get(path, follow_redirects=False).status_code == (200 if may_call(role, endpoint) else 403), (role, path)
        linked = 'href="/console/duplicates"' in client.get("/console/search" if may_call(role, "customer") else "/console/duplicates").text
        assert linked == may_call(role, "duplicates_find"), role
    assert [role for role in ROLES if may_call(role, "duplicates_find") or may_call(role, "duplicates_merge")] == ["admin"]
    stranger = TestClient(app).get("/console/duplicates", follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/console/sign-in?next=")


def test_a_merge_needs_the_sessions_csrf_token_and_a_role_that_may(app, keys, published) -> None:
    form = {"a": OSTEN, "b": OSTEN_AGAIN, "keep": OSTEN}
    admin = signed_in(app, keys["admin"])
    token = csrf_of(admin.get(f"/console/duplicates/merge?a={OSTEN}&b={OSTEN_AGAIN}&keep={OSTEN}").text)
    for sent in ({}, {"csrf": token + "x"}):
        refused = admin.post("/console/duplicates/merge", data={**form, **sent}, follow_redirects=False)
        assert refused.status_code == 403 and "säkerhetskod" in refused.text
    reader = signed_in(app, keys["customer_service"])
    reader_token = csrf_of(reader.get("/console/search").text)
    assert reader.post("/console/duplicates/merge", data={**form, "csrf": reader_token}, follow_redirects=False).status_code == 403
    assert published == [], "nothing was published"


def test_the_list_shows_each_pair_with_its_score_reasons_and_links_hides_a_protected_identity_and_records_the_disclosures(app, keys, register) -> None:
    admin = signed_in(app, keys["admin"])
    empty = admin.get("/console/duplicates").text
    assert "kan ta en stund" in empty and 'class="pair"' not in empty, "opening the page does not search yet"

    page = admin.get("/console/duplicates?min_score=60").text
    lovisa = pair_text(page, planted.LAPSED, LOVISA_AGAIN)
    assert "Poäng 100" in lovisa and "Lovisa Lapsberg" in lovisa and "Ågatan 2 A, 22100 Lund" in lovisa
    assert "Skäl: samma person-/organisationsnummer, samma namn, samma adress, samma telefonnummer" in lovisa
    assert f'href="/console/customers/{planted.LAPSED}"' in page and f'href="/console/customers/{LOVISA_AGAIN}"' in page
    doris = pair_text(page, planted.PROTECTED, DORIS_AGAIN)
    assert "Poäng 100" in doris and "Skäl: samma person-/organisationsnummer" in doris and "Visas inte (skyddad identitet)" in doris
    for hidden in (*planted.PROTECTED_NAME, planted.PROTECTED_CITY, "Hemliga", "Butiksgatan"):
        assert hidden not in page, hidden
    assert "Poäng 75" in pair_text(page, OSTEN, OSTEN_AGAIN) and "Skäl: samma namn, samma adress" in pair_text(page, OSTEN, OSTEN_AGAIN)
    assert "liknande namn, samma födelsedatum" in pair_text(page, ALI, ALI_COORDINATION)
    assert "4 par med minst 60 poäng bland 8 kunder." in page

    stricter = admin.get("/console/duplicates?min_score=80").text
    assert pair_text(stricter, planted.LAPSED, LOVISA_AGAIN) and not pair_text(stricter, OSTEN, OSTEN_AGAIN), "the filter leaves out the 75"
    assert admin.get("/console/duplicates?min_score=101").status_code == 422

    admin.cookies.set("rv_lang", "en")
    english = admin.get("/console/duplicates?min_score=100").text
    assert "Reasons: same identity number, same name, same address, same phone" in pair_text(english, planted.LAPSED, LOVISA_AGAIN)

    engine = connect(register.database_url)
    with Session(engine) as session:
        shown = session.scalars(select(DisclosureRow.customer_id).where(DisclosureRow.channel == "console", DisclosureRow.purpose == "duplicates")).all()
    engine.dispose()
    assert set(shown) == {planted.LAPSED, LOVISA_AGAIN, planted.PROTECTED, DORIS_AGAIN, OSTEN, OSTEN_AGAIN, ALI, ALI_COORDINATION}


def test_every_reason_and_shared_key_has_words_in_both_languages() -> None:
    for lang in ("sv", "en"):
        words = texts(lang)
        assert all(f"duplicates.reason.{reason.value}" in words for reason in Reason)
        assert all(f"duplicates.block.{block.value}" in words for block in Block)
    assert texts("en")["duplicates.reason.same_phone"] != texts("sv")["duplicates.reason.same_phone"]


def test_a_refused_merge_shows_the_rule_and_its_reason_as_advice_and_publishes_nothing(app, keys, published) -> None:
    admin = signed_in(app, keys["admin"])
    token = csrf_of(admin.get("/console/search").text)
    confirm = admin.get(f"/console/duplicates/merge?a={planted.PROTECTED}&b={DORIS_AGAIN}&keep={DORIS_AGAIN}")
    assert confirm.status_code == 409
    assert f"{planted.PROTECTED} har, eller har haft, skyddad identitet" in confirm.text
    assert f"Regel PROTECTED_IDENTITY: {planted.PROTECTED} has a protected identity" in confirm.text
    assert 'id="merge-form"' not in confirm.text and planted.PROTECTED_NAME[1] not in confirm.text

    posted = admin.post("/console/duplicates/merge", data={"a": DORIS_AGAIN, "b": planted.PROTECTED, "keep": DORIS_AGAIN, "csrf": token})
    assert posted.status_code == 409 and "Regel PROTECTED_IDENTITY" in posted.text
    same = admin.get(f"/console/duplicates/merge?a={OSTEN}&b={OSTEN}&keep={OSTEN}")
    assert same.status_code == 409 and "En kund kan inte slås ihop med sig själv." in same.text
    assert published == []


def test_a_confirmed_merge_is_published_and_the_page_links_to_the_kept_customer(app, keys, register, published) -> None:
    admin = signed_in(app, keys["admin"])
    before = len(merge_disclosures(register))
    refused = admin.get(f"/console/duplicates/merge?a={ALI}&b={ALI_COORDINATION}&keep={ALI}&min_score=60")
    assert refused.status_code == 409 and "Regel IDENTITY_NUMBERS_DIFFER" in refused.text
    forced_link = re.search(r'<a href="([^"]+)" id="merge-forced">', refused.text)
    assert forced_link, "a refusal a forced merge overrides offers one"

    confirm = admin.get(forced_link[1].replace("&amp;", "&"))
    assert confirm.status_code == 200
    assert f"{ALI_COORDINATION} slås ihop med {ALI}" in confirm.text and "Ali Hasan" in confirm.text and "Tvingad sammanslagning" in confirm.text
    form = merge_form(confirm.text)
    assert form == {"csrf": form["csrf"], "a": ALI, "b": ALI_COORDINATION, "keep": ALI, "min_score": "60", "force": "1"}

    answer = admin.post("/console/duplicates/merge", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/duplicates/merged?")
    [event] = published
    assert (event.kept_customer_id, event.dropped_customer_id, event.forced) == (ALI, ALI_COORDINATION, True)
    assert event.envelope.customer_id == ALI_COORDINATION and event.envelope.source.startswith("CONSOLE:")

    done = admin.get(answer.headers["location"]).text
    assert f"Sammanslagningen av {ALI_COORDINATION} med {ALI} är publicerad." in done
    assert f'href="/console/customers/{ALI}" id="kept-link"' in done and 'href="/console/duplicates?min_score=60"' in done
    assert merge_disclosures(register)[before:] == [ALI, ALI_COORDINATION], "the confirmation named both (the refusal neither)"


def test_the_list_says_when_pairs_were_left_out_and_a_merge_kafka_did_not_take_is_not_claimed(app, keys, monkeypatch) -> None:
    def crowded(_engine: Any, *, min_score: int, limit: int) -> DuplicateReport:
        return DuplicateReport(pairs=[], more=True, customers=8, compared=0, skipped={Block.PHONE: 3})

    async def unreachable(_settings: Settings, _event: CustomersMerged) -> None:
        raise KafkaConnectionError("no broker")

    monkeypatch.setattr(duplicate_pages, "register_duplicates", crowded)
    monkeypatch.setattr(duplicate_pages, "publish_merge", unreachable)
    admin = signed_in(app, keys["admin"])
    page = admin.get("/console/duplicates?min_score=60").text
    assert "Visar de 100 bästa paren." in page and "3 värden (telefonnummer) delas av för många kunder" in page

    form = merge_form(admin.get(f"/console/duplicates/merge?a={OSTEN}&b={OSTEN_AGAIN}&keep={OSTEN}").text)
    answer = admin.post("/console/duplicates/merge", data=form, follow_redirects=False)
    assert answer.status_code == 503 and "Inget är sammanslaget." in answer.text and "no broker" not in answer.text
