"""What GDPR Art. 15 requires of a register extract besides the data itself.

The controller's identity and contact (from settings: a placeholder the extract
warns about when one is not set), the purposes and their legal basis, the
categories of personal data held, the recipients (each recipient once, with how
often and when) and the categories of recipients, the storage period and its
criteria, the rights to rectification, erasure, restriction and objection, the
right to complain to IMY, whether there is automated decision-making, and
transfers to third countries. The fixed words are in `extract_<language>.toml`;
what is particular to the person is worked out here from their extract.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from events.customer import add_months
from projections.extract_texts import Texts

CONTROLLER_SETTINGS = {
    "name": "REGISTERVARD_CONTROLLER_NAME",
    "address": "REGISTERVARD_CONTROLLER_ADDRESS",
    "email": "REGISTERVARD_CONTROLLER_EMAIL",
    "dpo_email": "REGISTERVARD_DPO_EMAIL",
}
"""Each of the controller's details and the setting that gives it (events/settings.py)."""


@dataclass(frozen=True)
class Controller:
    """The controller's identity and contact details and its data protection officer's, as the settings give them."""

    name: str | None = None
    address: str | None = None
    email: str | None = None
    dpo_email: str | None = None

    @property
    def missing(self) -> list[str]:
        """The settings not given, by name (REGISTERVARD_CONTROLLER_NAME, ...)."""
        return [CONTROLLER_SETTINGS[f.name] for f in fields(self) if not getattr(self, f.name)]


def art15_sections(extract: dict[str, Any], texts: Texts, *, controller: Controller, retention_years: int) -> dict[str, Any]:
    """The Art. 15 sections of `extract` (as `build_extract` made it, without them), in the language of `texts`."""
    return {
        "controller": {
            **{key: getattr(controller, key) for key in CONTROLLER_SETTINGS},
            "missing": controller.missing,
        },
        "purposes": [dict(p) for p in texts.purposes],
        "categories": [{"code": code, "label": texts.code("category", code)} for code in categories(extract)],
        "recipient_summary": recipient_summary(extract["recipients"]),
        "recipient_categories": [dict(c) for c in texts.recipient_categories],
        "storage": storage(extract["data"], texts, retention_years),
        "rights": [dict(r) for r in texts.rights],
        "complaint": {
            "authority": "Integritetsskyddsmyndigheten (IMY)",
            "website": "https://www.imy.se",
            "text": texts.text("complaint"),
        },
        "automated_decisions": {"legal_or_similarly_significant_effects": False, "rule_based": ["contactability"], "text": texts.text("automated")},
        "third_country_transfers": {"any": False, "text": texts.text("transfers")},
    }


def categories(extract: dict[str, Any]) -> list[str]:
    """The categories of personal data the register holds about the person (Art. 15.1 b): what their data and history show."""
    data = extract["data"] or {}
    events = {entry["event"] for entry in extract["history"]}
    contact = data.get("contact") or {}
    held = {
        "IDENTITY_NUMBER": data.get("identity_number"),
        "NAME": data.get("names") or data.get("company_name"),
        "ADDRESS": data.get("addresses"),
        "CONTACT": contact.get("phone") or contact.get("email"),
        "CIVIL_STATUS": data.get("civil_status"),
        "PROTECTED_IDENTITY": data.get("protected_identity") or events & {"ProtectedIdentitySet", "ProtectedIdentityLifted"},
        "POPULATION_REGISTER": any(data.get(k) for k in ("deceased_on", "emigrated_on", "immigrated_on", "deregistered_on"))
        or events & {"CustomerDeceased", "CustomerEmigrated", "CustomerImmigrated", "CustomerDeregistered"},
        "CUSTOMER_RELATIONSHIP": data.get("customer_of") or data.get("contact_person_for") or data.get("former_contact_person_for"),
        "CONSENTS": extract["consents"]["active"] or extract["consents"]["history"],
        "NIX": extract["nix"] or events & {"NixRegistered", "NixDeregistered"},
        "MARKETING_OPT_OUT": data.get("opted_out_of_marketing_on") or events & {"MarketingOptOut", "MarketingOptOutLifted"},
        "DISCLOSURES": extract["recipients"] or extract["downstream"],
        "HISTORY": extract["history"],
    }
    return [code for code, present in held.items() if present]


def recipient_summary(recipients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each recipient once per channel (an API client that read the record a hundred times is one recipient): the
    purposes, how many times, and the first and latest time, in the order they first received data."""
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for row in recipients:
        seen = summary.setdefault(
            (row["recipient"], row["channel"]),
            {"recipient": row["recipient"], "channel": row["channel"], "purposes": [], "times": 0, "first": row["disclosed_at"], "last": None},
        )
        if row["purpose"] and row["purpose"] not in seen["purposes"]:
            seen["purposes"].append(row["purpose"])
        seen["times"] += 1
        seen["last"] = row["disclosed_at"]
    return list(summary.values())


def storage(data: dict[str, Any] | None, texts: Texts, retention_years: int) -> dict[str, Any]:
    """How long the data is kept (Art. 15.1 d): the criteria, and for a person deceased or emigrated the day after which
    their data is due for erasure (the rule of `registervard retention due`: the earlier of the two dates, plus the years)."""
    data = data or {}
    ended = [date.fromisoformat(d) for d in (data.get("deceased_on"), data.get("emigrated_on")) if d]
    counted_from = min(ended) if ended and data.get("status") in {"DECEASED", "EMIGRATED"} else None
    due = add_months(counted_from, 12 * retention_years) if counted_from else None
    text = [texts.text("storage", years=retention_years)]
    if counted_from and due:
        text.append(texts.text("storage_due", date=counted_from.isoformat(), due=due.isoformat()))
    text.append(texts.text("storage_history"))
    return {
        "retention_years": retention_years,
        "counted_from": counted_from.isoformat() if counted_from else None,
        "erasure_due_after": due.isoformat() if due else None,
        "text": text,
    }
