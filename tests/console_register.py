"""A register for the web console's tests: the demo register (`registervard demo generate`) and a few planted
customers, on a SQLite file, built in-process by the worker's and the projections' own code, without a broker.

Each event goes the way it goes in production, short of Kafka: the worker's decision (`processors.policy.decide`:
the intake rules, the lifecycle and its consequences, personal fields sealed with each customer's data key in the
register's key store), then the register and audit projections (`projections.runner.apply_batch`) over the log
records it would have appended. Through the real broker the same register costs a worker and a projection process
started and caught up (tens of seconds on this machine), which the browser tests' budget does not have.

Planted:
- LAPSED: Lovisa Lapsberg, 19811218-9876, moved from Uppsala to Lund on 2024-09-01; a telemarketing consent that
  lapsed on 2025-02-01 (its expiry not recorded: the worker's expiry timer does not run here), a marketing consent in force.
- PROTECTED: Doris Hemlin, 19640823-3234, registered in Umeå, protected identity since 2024-05-01.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from events import codec
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.settings import Settings
from processors.lifecycle import Lifecycle
from processors.policy import Append, IntakeMessage, Sealer, decide
from projections.audit import AuditProjection
from projections.data_keys import key_store
from projections.database import connect
from projections.register import RegisterProjection
from projections.runner import apply_batch
from registervard.api.api_keys import create_key
from registervard.api.roles import ROLES
from registervard.demo import OUR_COMPANY, demo_events

LAPSED, PROTECTED = "P-LAPSED", "P-PROTECTED"
LAPSED_NUMBER, PROTECTED_NUMBER = "198112189876", "196408233234"
LAPSED_NAME, PROTECTED_NAME = ("Lovisa", "Lapsberg"), ("Doris", "Hemlin")
OLD_CITY, NEW_CITY, MOVED_ON = "Uppsala", "Lund", "2024-09-01"
PROTECTED_CITY = "Umeå"
LAPSED_CONSENT = {"purpose": "TELEMARKETING", "channel": "PHONE", "company": OUR_COMPANY}
LAPSES_ON = "2025-02-01"
TOPIC = "console-test.events"


def _event(kind: str, customer_id: str, occurred_at: str, source: str = "CRM", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "customer_id": customer_id, "occurred_at": occurred_at, "recorded_at": occurred_at, "source": source, **fields}


def planted() -> list[dict[str, Any]]:
    """The planted customers' events, as upstream systems write them."""
    return [
        _event(
            "CustomerRegistered",
            LAPSED,
            "2024-03-01T09:00:00Z",
            customer_kind="PERSON",
            registration={
                "identity_number": LAPSED_NUMBER,
                "name": {"given_names": LAPSED_NAME[0], "surname": LAPSED_NAME[1]},
                "address": {"street": "Storgatan 1", "postal_code": "75310", "city": OLD_CITY},
                "contact": {"phone": "+46701112233", "email": "lovisa@example.se"},
            },
        ),
        _event("ConsentGiven", LAPSED, "2024-03-05T10:00:00Z", "WEBSHOP", valid_until="2025-01-31", **LAPSED_CONSENT),
        _event("ConsentGiven", LAPSED, "2024-03-05T10:01:00Z", "WEBSHOP", purpose="MARKETING", channel="EMAIL", company=OUR_COMPANY),
        _event(
            "AddressChanged",
            LAPSED,
            "2024-08-20T08:00:00Z",
            "SPAR",
            effective_date=MOVED_ON,
            address={"street": "Ågatan 2", "postal_code": "22100", "city": NEW_CITY},
        ),
        _event(
            "CustomerRegistered",
            PROTECTED,
            "2024-02-01T09:00:00Z",
            customer_kind="PERSON",
            registration={
                "identity_number": PROTECTED_NUMBER,
                "name": {"given_names": PROTECTED_NAME[0], "surname": PROTECTED_NAME[1]},
                "address": {"street": "Hemliga vägen 3", "postal_code": "90325", "city": PROTECTED_CITY},
            },
        ),
        _event("ProtectedIdentitySet", PROTECTED, "2024-05-01T09:00:00Z", "SPAR", protection="SKYDDAD_FOLKBOKFORING"),
    ]


def build(path: Path, *, customers: int = 300) -> Settings:
    """The register at `path` (SQLite): `customers` demo customers and the planted ones; the settings to serve it with."""
    settings = Settings(database_url=f"sqlite:///{path}", topic_prefix="console-test")
    documents: list[Mapping[str, Any]] = [json.loads(line) for line in demo_events(customers=customers)] if customers else []
    documents = sorted([*documents, *planted()], key=lambda d: str(d["occurred_at"]))  # the order they happened in
    engine = connect(settings.database_url)
    keys = key_store(settings)
    keys.ensure({str(d["customer_id"]) for d in documents})  # one transaction for every customer's data key
    lifecycle, sealer = Lifecycle(), Sealer(keys)
    records: list[LogRecord] = []
    refused = []
    for offset, document in enumerate(documents):
        value = codec.encode(parse_event(dict(document)))
        decision = decide(IntakeMessage(str(document["customer_id"]).encode(), value, "console-test.intake", 0, offset), lifecycle, sealer)
        if not isinstance(decision, Append):
            refused.append(decision)
            continue
        for record in decision.records:  # the event and what the worker derived from it, in log order
            records.append(LogRecord(TOPIC, 0, len(records), record.value))
    assert not refused, f"the worker refused {len(refused)} demo or planted event(s): {refused[:3]}"
    try:
        for projection in (RegisterProjection(settings.lookup_key), AuditProjection()):
            for start in range(0, len(records), 2000):
                quarantined = apply_batch(engine, projection, records[start : start + 2000], keys)
                assert not quarantined, f"{projection.name} quarantined {len(quarantined)} record(s): {quarantined[0].code}"
    finally:
        engine.dispose()
    return settings


def role_keys(settings: Settings, names: Mapping[str, str] | None = None) -> dict[str, str]:
    """An API key for every role in the register at `settings`, by role; each key's holder is named from `names`
    (role -> name), else "Console <role>"."""
    engine = connect(settings.database_url)
    try:
        return {role: create_key(engine, (names or {}).get(role, f"Console {role}"), role)[1] for role in ROLES}
    finally:
        engine.dispose()
