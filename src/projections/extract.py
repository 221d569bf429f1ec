"""The register extract (registerutdrag, GDPR Art. 15): everything the register holds about one person.

What it holds now is the fold's full state: this is the data subject's own
data, so a protected identity's name and address are included (they are theirs;
the protection is about disclosing them to others). Where it came from and how
it changed is the audit trail: every event with its source, when it happened and
when it was recorded. Who received it is the `disclosures` table, and the
downstream topic when the customer's record has been published there. Besides
the data, the extract carries what Art. 15 requires a person be told (the
controller, purposes, categories, recipients, storage, rights, IMY, automated
decisions, transfers: `projections.extract_art15`).

A customer others were merged into as duplicates (CustomersMerged) is one person with several customer ids: their
extract names the ids merged into them (`merged_customer_ids`) and its history holds the events of every one of them,
each naming its customer id. The extract of a merged id is the extract of the customer it was merged into
(`redirected_from` names the id asked for), from the moment the register knew of the merge.

`build_extract` reads; `render_html` makes a page a person can read (jinja2,
every value escaped), in Swedish or English: its words are data
(`extract_sv.toml`, `extract_en.toml`, read by `projections.extract_texts`).
The JSON's keys and codes stay English and stable; its texts are in the
extract's language. Nothing here writes, and nothing goes to the logs.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from events.catalog import ConsentExpired, ConsentGiven, ConsentWithdrawn, CustomersMerged
from events.convert import to_plain
from events.customer import CustomerState
from events.deregistration import cause as find_cause
from events.settings import Settings
from projections import extract_texts
from projections.access import DisclosureRow
from projections.audit import AuditRow, canonical_time, iter_rows
from projections.extract_art15 import CONTROLLER_SETTINGS, Controller, art15_sections
from projections.history_at import state_at_moment
from projections.merges import merged_customers
from projections.register import load_states
from projections.tables import CustomerRow, OutboxRow

TEMPLATES = Path(__file__).with_name("templates")
ENVELOPE_KEYS = {"type", "event_id", "customer_id", "occurred_at", "recorded_at", "source", "correlation_id", "causation_id", "schema_version"}
CONSENT_EVENTS = {cls.__name__ for cls in (ConsentGiven, ConsentWithdrawn, ConsentExpired)}
MERGE_FACTS = ("kept_customer_id", "dropped_customer_id", "forced")
"""What the history shows of a merge: the rest is what the merged customer's record held, which their own events there show."""


def _time(moment: datetime | None) -> str | None:
    return canonical_time(moment)[:-8] + "Z" if moment is not None else None


def _decoded(payload: bytes, keys: Any = None) -> tuple[Any, dict[str, Any] | str]:
    """The event in a trail entry and its facts (without the envelope), unsealed with `keys` when given; or why they cannot be read."""
    from events import codec
    from events.jsonlines import to_json

    try:
        event = codec.decode(payload)
        if keys is not None:
            from events.sealing import is_sealed, unseal  # crypto-shredding: a destroyed key leaves the fields sealed

            if is_sealed(event):
                event = unseal(event, keys)
        document = json.loads(to_json(event))
        return event, {k: _erased_if_sealed(v) for k, v in document.items() if k not in ENVELOPE_KEYS}
    except Exception as error:  # ciphertext whose key was destroyed, a schema we no longer know
        return None, f"(not readable: {type(error).__name__})"


def _erased_if_sealed(value: Any) -> Any:
    """A field still sealed after unsealing (its key destroyed: erased) is shown as such, not as ciphertext."""
    if isinstance(value, dict) and {"key_id", "ciphertext"} <= value.keys():
        return extract_texts.ERASED_FACT
    return value


def build_extract(
    session: Session,
    customer_id: str,
    *,
    downstream_topic: str | None = None,
    now: datetime | None = None,
    keys: Any = None,
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
    language: str = "sv",
    controller: Controller | None = None,
    retention_years: int = Settings.retention_years,
) -> dict[str, Any] | None:
    """Everything held about `customer_id`, as plain JSON-able data; None if the register has never heard of them.

    `keys` (an `events.sealing.KeyStore`) unseals the personal fields of the audit trail's payloads. With `valid_at`
    and/or `known_at` (each else now), the extract is as it stood then: the data and consents as they were at
    `valid_at` as the register knew them at `known_at` (folded from the audit trail, `projections.history_at`), and the
    history, sources and recipients as recorded by `known_at`. `language` (sv or en) is that of the texts of the Art. 15
    sections; `controller` (from settings; None: none given, and the extract says so) and `retention_years`
    (REGISTERVARD_RETENTION_YEARS) fill them in.
    """
    words = extract_texts.texts(language)  # first: an unknown language is refused before anything is read
    at_a_moment = valid_at is not None or known_at is not None
    if at_a_moment:
        found = state_at_moment(session, customer_id, valid_at=valid_at, known_at=known_at, keys=keys, now=now)
        state = found.state
    else:
        state = load_states(session, [customer_id]).get(customer_id)
    if state is not None and state.merged_into is not None:  # a pointer: the person's extract is the kept customer's
        arguments = dict(downstream_topic=downstream_topic, now=now, keys=keys, valid_at=valid_at, known_at=known_at, language=language)
        kept = build_extract(session, state.merged_into, **arguments, controller=controller, retention_years=retention_years)
        return {**kept, "redirected_from": customer_id} if kept is not None else None
    merged = merged_customers(session, [customer_id]).get(customer_id, []) if state is not None else []
    if at_a_moment:
        merged = [m for m in merged if m in state.merged_from] if state is not None else []  # those merged by then, as known then
        query = select(AuditRow).where(AuditRow.customer_id.in_([customer_id, *merged]), AuditRow.recorded_at <= found.known_at)
    else:
        query = select(AuditRow).where(AuditRow.customer_id.in_([customer_id, *merged]))
    entries = list(iter_rows(session, query=query))
    if state is None and not entries:
        return None
    source_of: dict[str, str] = {}
    history: list[dict[str, Any]] = []
    consent_history: list[dict[str, Any]] = []
    sources: dict[str, dict[str, Any]] = {}
    for row in entries:
        event, facts = _decoded(row.payload, keys)
        if isinstance(event, CustomersMerged) and isinstance(facts, dict):
            facts = {key: facts[key] for key in MERGE_FACTS if key in facts}
        entry = {
            "customer_id": row.customer_id,
            "seq": row.seq,
            "event": row.event_type,
            "event_id": row.event_id,
            "source": row.source,
            "occurred_at": _time(row.occurred_at),
            "recorded_at": _time(row.recorded_at),
            "caused_by": row.causation_id,
            "duplicate_of": row.duplicate_of_seq,
            "facts": facts,
        }
        history.append(entry)
        source_of.setdefault(row.event_id, row.source)
        if row.duplicate_of_seq is None:
            seen = sources.setdefault(
                row.source,
                {"source": row.source, "label": words.code("source", row.source), "events": 0, "first": entry["recorded_at"], "last": entry["recorded_at"]},
            )
            seen["events"] += 1
            seen["last"] = entry["recorded_at"]
        if row.event_type in CONSENT_EVENTS and row.duplicate_of_seq is None:
            consent_history.append(
                {"event": row.event_type, "occurred_at": entry["occurred_at"], "source": row.source, **(facts if isinstance(facts, dict) else {})}
            )
    disclosures = select(DisclosureRow).where(DisclosureRow.customer_id.in_([customer_id, *merged]))  # what was disclosed under any of their ids
    if at_a_moment:
        disclosures = disclosures.where(DisclosureRow.disclosed_at <= found.known_at)
    recipients = [
        {"recipient": d.recipient, "channel": d.channel, "purpose": d.purpose, "disclosed_at": _time(d.disclosed_at)}
        for d in session.scalars(disclosures.order_by(DisclosureRow.disclosed_at, DisclosureRow.id))
    ]
    downstream = None
    if downstream_topic and session.get(CustomerRow, customer_id) is not None:
        pending = session.get(OutboxRow, customer_id) is not None
        downstream = {
            "topic": downstream_topic,
            "status": "queued for publishing" if pending else "published",
            "what": "the register record (name and address left out while the identity is protected); erasure sends a tombstone",
        }
    moments = {"valid_at": _time(found.valid_at), "known_at": _time(found.known_at)} if at_a_moment else {}
    extract = {
        "customer_id": customer_id,
        "merged_customer_ids": merged,
        "language": words.language,
        "generated_at": _time(now or datetime.now(UTC)),
        **moments,
        "data": _data(state, source_of) if state is not None else None,
        "consents": {"active": _active_consents(state, source_of), "history": consent_history},
        "nix": [to_plain(entry, for_json=True) for entry in state.nix] if state else [],
        "sources": list(sources.values()),
        "history": history,
        "recipients": recipients,
        "downstream": downstream,
    }
    return extract | art15_sections(extract, words, controller=controller or Controller(), retention_years=retention_years)


def _data(state: CustomerState, source_of: dict[str, str]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return to_plain(value, for_json=True) if value is not None else None

    return {
        "kind": state.kind.value if state.kind else None,
        "status": state.status.value,
        "identity_number": state.identity_number,
        "company_name": state.company_name,
        "name": plain(state.name),
        "names": [{"effective_date": n.effective_date.isoformat(), **plain(n.value), "source": source_of.get(n.event_id)} for n in state.names],
        "address": plain(state.address),
        "addresses": _addresses(state, source_of),
        "contact": plain(state.contact),
        "civil_status": state.civil_status.value if state.civil_status else None,
        "protected_identity": state.protected,
        "deceased_on": state.deceased_on.isoformat() if state.deceased_on else None,
        "emigrated_on": state.emigrated_on.isoformat() if state.emigrated_on else None,
        "immigrated_on": state.immigrated_on.isoformat() if state.immigrated_on else None,
        "deregistered_on": state.deregistered_on.isoformat() if state.deregistered_on else None,
        "deregistration_cause": _cause(state.deregistration_cause),
        "customer_of": sorted(state.customer_of),
        "contact_person_for": state.contact_person_for,
        "former_contact_person_for": [
            {"company_id": r.company_id, "left_on": r.left_on.isoformat(), "source": source_of.get(r.event_id)} for r in state.past_contact_roles
        ],
        "opted_out_of_marketing_on": sorted(c.value for c in state.opted_out),
    }


def _addresses(state: CustomerState, source_of: dict[str, str]) -> list[dict[str, Any]]:
    """Every address over time, of every kind, by effective date: `kind` is null for an address the customer (or an
    upstream system) gave, else which of the population register's it is; `ended` marks the day one of a kind ended."""
    entries = [(a, None, False) for a in state.addresses] + [(a, a.kind.value, a.ended) for a in state.registered_addresses]
    return [
        {"effective_date": a.effective_date.isoformat(), **to_plain(a.value, for_json=True), "kind": kind, "ended": ended, "source": source_of.get(a.event_id)}
        for a, kind, ended in sorted(entries, key=lambda entry: entry[0].effective_date)  # stable: each history keeps its order
    ]


def _cause(code: str | None) -> dict[str, Any] | None:
    """A deregistration cause as the person reads it: the code and what it means (the code alone if the table has lost it)."""
    if code is None:
        return None
    found = find_cause(code)
    return {"code": code, "meaning": found.meaning if found else None, "english": found.english if found else None}


def _active_consents(state: CustomerState | None, source_of: dict[str, str]) -> list[dict[str, Any]]:
    if state is None:
        return []
    return [
        {
            "purpose": c.purpose.value,
            "channel": c.channel.value,
            "company": c.company,
            "given_at": _time(c.given_at),
            "overrides_nix": c.overrides_nix,
            "valid_until": c.valid_until.isoformat() if c.valid_until else None,
            "lapses_on": c.lapses_on.isoformat() if c.lapses_on else None,
            "source": source_of.get(c.event_id),
        }
        for c in state.consents
    ]


def to_json(extract: dict[str, Any]) -> str:
    """The extract as indented JSON, non-ASCII letters as they are."""
    return json.dumps(extract, ensure_ascii=False, indent=2, default=lambda v: v.isoformat() if isinstance(v, (date, datetime)) else str(v))


def render_html(extract: dict[str, Any]) -> str:
    """The extract as an HTML page for the person it is about, in the extract's language; every value is escaped."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    words = extract_texts.texts(extract.get("language") or "sv")
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))
    environment.filters.update(
        facts=words.fact_lines,
        address=words.address,
        day=extract_texts.day,
        moment=extract_texts.moment,
        person_name=extract_texts.person_name,
        identity_number=extract_texts.identity_number,
        cause=words.cause,
    )
    return environment.get_template("extract.html").render(x=extract, t=words, L=words.label, code=words.code, setting_of=CONTROLLER_SETTINGS)
