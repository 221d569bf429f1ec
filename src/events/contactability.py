"""May we contact this customer on this channel, for this purpose, as this company, at this time?

`may_contact` answers from the customer's state (the fold's `CustomerState`)
and the contactability rules, which are data (`contactability_rules.toml`, or
the file REGISTERVARD_CONTACT_RULES names): the law and the industry
agreements change, the code that applies them does not. The decision carries
every reason that applies, those that deny and those that allow, so that a
person sees all the problems at once. Reason messages never carry personal data.

Rules in time: the rules file holds versions (`Rules.versions`), each in force
from a moment until the next one takes effect (a ban on telemarketing from a
date, say). A decision at a moment uses the version in force at that moment
(`Rules.in_force`) and names it (`Decision.rules`), so that a decision made
before a change can still be explained after it.

Pure: plain functions over the state; the only I/O is reading the rules file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from events.catalog import Channel, ConsentPurpose
from events.customer import NIX_OVERRIDE_VALIDITY_MONTHS, Consent, CustomerState, Status, add_months
from events.timeline import start_of

DEFAULT_RULES_PATH = Path(__file__).with_name("contactability_rules.toml")

# --- Reasons --------------------------------------------------------------------

DENY_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "NOT_A_CUSTOMER": "There is no such customer in the register.",
        "FORBIDDEN_BY_RULES": "{purpose} is not allowed at all under the contactability rules.",
        "CHANNEL_NOT_ALLOWED": "{purpose} is not carried out on {channel} under the contactability rules.",
        "DECEASED": "The customer has died: no contact but post about a contract to the estate.",
        "ERASED": "The customer's data was erased (GDPR): no contact at all.",
        "EMIGRATED": "The customer has emigrated: no post to the Swedish address from the day of emigration.",
        "DEREGISTERED": "The customer is deregistered from the population register (for a cause other than death or emigration): no contact.",
        "PROTECTED_IDENTITY": "The customer has a protected identity: no {purpose} on {channel}, and name and address must not be disclosed.",
        "OPTED_OUT": "The customer has opted out of direct marketing on {channel}.",
        "NO_PHONE_NUMBER": "The register has no phone number for the customer.",
        "NO_EMAIL_ADDRESS": "The register has no e-mail address for the customer.",
        "NO_POSTAL_ADDRESS": "The register has no postal address for the customer.",
        "NIX_REGISTERED": "The phone number is registered in NIX-Telefon and there is no valid consent to {company} to call despite NIX.",
        "NIX_NOT_CHECKED": "The phone number has not been washed against NIX-Telefon within {nix_months} months of the register version used.",
        "CONSENT_EXPIRED": "The customer's consent to {company} for {purpose} on {channel} has lapsed.",
        "NO_CONSENT": "{purpose} on {channel} needs the customer's consent to {company}, and there is none.",
    }
)
"""Reasons that deny contact, by code."""

ALLOW_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "CONSENT_VALID": "The customer has a consent in force to {company} for {purpose} on {channel}.",
        "NIX_OVERRIDE_CONSENT": "The customer has given {company} a consent in force to be called despite NIX-Telefon.",
        "NIX_CHECKED": "The phone number was found not registered in NIX-Telefon at a wash less than {nix_months} months old.",
        "EXISTING_CUSTOMER": (
            "The customer is an existing customer of {company}: contact about the same kind of goods needs no consent and is not stopped by NIX."
        ),
        "CONTRACT": "Contact needed to fulfil a contract needs no consent.",
        "LEGITIMATE_INTEREST": "{purpose} on {channel} needs no consent; the customer may object at any time.",
        "ESTATE": "Post about a contract may go to the deceased customer's estate (dödsbo).",
    }
)
"""Reasons that support contact, by code."""

NO_CONSENT_BASES = frozenset({"CONTRACT", "LEGITIMATE_INTEREST"})
"""Lawful bases a purpose may name for the channels where it needs no consent."""


@dataclass(frozen=True)
class Reason:
    """Why contact is, or is not, allowed; `message` is for a person and carries no personal data."""

    code: str
    message: str

    @property
    def denies(self) -> bool:
        """Whether this reason alone stops the contact."""
        return self.code in DENY_MESSAGES


@dataclass(frozen=True)
class Decision:
    """Whether contact is allowed, and every reason that applies (those that deny first)."""

    allowed: bool
    reasons: tuple[Reason, ...]
    rules: VersionRef | None = None
    """The version of the rules that decided (the one in force at the moment asked about)."""

    @property
    def denials(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.denies)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


# --- Rules ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PurposeRule:
    """How one purpose may be carried out; see the comments in contactability_rules.toml."""

    allowed: bool
    channels: frozenset[Channel]
    direct_marketing: bool
    consent_required_on: frozenset[Channel]
    basis_without_consent: str
    nix_applies_on: frozenset[Channel]
    existing_customer_exception: bool
    protected_identity_blocks: frozenset[Channel]


@dataclass(frozen=True)
class VersionRef:
    """Which version of the rules decided: its id, what it is, and the moment from which it applies."""

    id: str
    label: str
    valid_from: datetime | None
    """None: the first version, in force from the beginning."""


@dataclass(frozen=True, kw_only=True)
class RuleVersion:
    """One version of the contactability rules: what applies from `valid_from` until the next version takes effect."""

    id: str = "1"
    """The version's id, as the rules file names it."""
    label: str = ""
    """What the version is, for a person (the law or agreement it follows)."""
    valid_from: datetime | None = None
    """The moment it takes effect; None for the first version (in force from the beginning)."""
    purposes: Mapping[ConsentPurpose, PurposeRule]
    nix_wash_valid_months: int
    nix_override_consent_months: int
    channel_needs: Mapping[Channel, str] = field(default_factory=dict)
    deceased_still_allowed: frozenset[tuple[ConsentPurpose, Channel]] = frozenset()
    erased_still_allowed: frozenset[tuple[ConsentPurpose, Channel]] = frozenset()
    emigration_blocks: frozenset[Channel] = frozenset()
    deregistered_still_allowed: frozenset[tuple[ConsentPurpose, Channel]] = frozenset()

    @property
    def ref(self) -> VersionRef:
        """Which version this is, as a decision names it."""
        return VersionRef(self.id, self.label, self.valid_from)

    def with_purpose(self, purpose: ConsentPurpose, **changes: Any) -> RuleVersion:
        """This version with one purpose's rule changed, e.g. `with_purpose(TELEMARKETING, allowed=False)`."""
        purposes = dict(self.purposes)
        purposes[purpose] = replace(purposes[purpose], **changes)
        return replace(self, purposes=MappingProxyType(purposes))


@dataclass(frozen=True)
class Rules:
    """The contactability rules as the rules file states them: every version, in the order they take effect."""

    versions: tuple[RuleVersion, ...]
    """The first applies from the beginning; each later one from its `valid_from`, which increase."""
    source: str = "rules"
    """Where they were read from (a path), for messages."""

    def in_force(self, at: datetime) -> RuleVersion:
        """The version in force at `at` (time zone required): the last one whose `valid_from` is on or before it."""
        if at.tzinfo is None:
            raise ValueError("`at` needs a time zone")
        found = self.versions[0]
        for version in self.versions[1:]:
            if version.valid_from is not None and version.valid_from > at:
                break
            found = version
        return found

    def with_purpose(self, purpose: ConsentPurpose, **changes: Any) -> Rules:
        """These rules with one purpose's rule changed in every version, e.g. `with_purpose(TELEMARKETING, allowed=False)`."""
        return replace(self, versions=tuple(v.with_purpose(purpose, **changes) for v in self.versions))


def load_rules(path: str | Path | None = None) -> Rules:
    """The rules in `path` (`Settings.contact_rules`), or the packaged file; each file is read once."""
    return _load(Path(path) if path is not None else DEFAULT_RULES_PATH)


@lru_cache(maxsize=4)
def _load(path: Path) -> Rules:
    return parse_rules(tomllib.loads(path.read_text(encoding="utf-8")), source=str(path))


_CHANNEL_NEEDS = ("phone", "email", "address")
_SECTIONS: Mapping[str, frozenset[str] | None] = MappingProxyType(
    {
        "nix": frozenset({"wash_valid_months", "override_consent_months"}),
        "channels": None,  # channel names, checked as channels
        "deceased": frozenset({"still_allowed"}),
        "erased": frozenset({"still_allowed"}),
        "emigrated": frozenset({"blocks"}),
        "deregistered": frozenset({"still_allowed"}),
        "purposes": None,  # purpose names, each checked by `_purpose_rule`
    }
)
"""The rules' sections and the settings each may hold: a misspelt setting is refused, never silently ignored."""
_PURPOSE_SETTINGS = frozenset(
    {
        "allowed",
        "channels",
        "direct_marketing",
        "consent_required_on",
        "basis_without_consent",
        "nix_applies_on",
        "existing_customer_exception",
        "protected_identity_blocks",
    }
)
_ABOUT = frozenset({"id", "label", "valid_from"})
"""What `[version]` and each `[[change]]` say about themselves, beside the settings."""
_WHOLE_VALUES = frozenset({"still_allowed"})
"""Tables a change replaces whole (as a list is), rather than setting by setting."""


def parse_rules(data: Mapping[str, Any], *, source: str = "rules") -> Rules:
    """Rules from the rules file's parsed TOML; a ValueError names what is wrong (and the change it is in).

    The file's sections are the first version (`[version]` gives its id and label; a file without it, as written
    before rules had versions, is one version). Each `[[change]]` is a later version: its `id`, `label`, `valid_from`
    (a date, from 00:00 UTC that day, or a time with its offset) and only the settings that change, applied on top of
    the version before it.
    """
    where = ""
    try:
        about = data.get("version", {})
        if unknown := set(about) - _ABOUT:
            raise ValueError(f"version: unknown setting(s) {sorted(unknown)}; it takes {sorted(_ABOUT - {'valid_from'})}")
        if "valid_from" in about:
            raise ValueError("version.valid_from: the first version applies from the beginning; state a later start as a [[change]]")
        settings = {k: v for k, v in data.items() if k not in ("version", "change")}
        _check_names(settings)
        versions = [_version(settings, id=str(about.get("id", "1")), label=str(about.get("label", "")), valid_from=None)]
        for number, change in enumerate(data.get("change", []), start=1):
            where = f"change {number} ({change.get('id', 'no id')}): "
            if missing := [key for key in ("id", "valid_from") if key not in change]:
                raise ValueError(f"missing {' and '.join(missing)}")
            valid_from = _start(change["valid_from"])
            previous = versions[-1].valid_from
            if previous is not None and valid_from <= previous:
                raise ValueError(f"valid_from {valid_from.isoformat()} is not after the change before it ({previous.isoformat()}); list changes in date order")
            if str(change["id"]) in {v.id for v in versions}:
                raise ValueError(f"id {change['id']!r} is taken by an earlier version")
            changed = {k: v for k, v in change.items() if k not in _ABOUT}
            _check_names(changed)
            settings = _merged(settings, changed)
            versions.append(_version(settings, id=str(change["id"]), label=str(change.get("label", "")), valid_from=valid_from))
        return Rules(versions=tuple(versions), source=source)
    except KeyError as missing_key:
        raise ValueError(f"{source}: {where}missing setting {missing_key}") from None
    except ValueError as error:
        raise ValueError(f"{source}: {where}{error}") from None
    except (TypeError, AttributeError):  # a number where a table or a list belongs, say
        raise ValueError(f"{source}: {where}a setting has the wrong kind of value; compare it with the packaged contactability_rules.toml") from None


def _check_names(settings: Mapping[str, Any]) -> None:
    """Refuse a section or setting the rules do not have (a misspelling would otherwise change nothing, silently)."""
    for section, values in settings.items():
        if section not in _SECTIONS:
            raise ValueError(f"unknown section {section!r}; the rules have {', '.join(_SECTIONS)}")
        known = _SECTIONS[section]
        if known is not None and (unknown := set(values) - known):
            raise ValueError(f"{section}: unknown setting(s) {sorted(unknown)}; it takes {sorted(known)}")
    for name, rule in settings.get("purposes", {}).items():
        if unknown := set(rule) - _PURPOSE_SETTINGS:
            raise ValueError(f"purposes.{name}: unknown setting(s) {sorted(unknown)}; a purpose takes {sorted(_PURPOSE_SETTINGS)}")


def _merged(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `change` on top: tables setting by setting, any other value (a list, a number) replaced whole."""
    merged = dict(base)
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping) and key not in _WHOLE_VALUES:
            merged[key] = _merged(base[key], value)
        else:
            merged[key] = value
    return merged


def _start(value: Any) -> datetime:
    """A change's `valid_from`: a date (00:00 UTC that day) or a date and time with its offset."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"valid_from {value!r} is neither a date (2027-01-01) nor a time with an offset (2027-01-01T00:00:00+01:00)") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("valid_from is a time without an offset; write 2027-01-01T00:00:00+01:00, or a date alone (00:00 UTC)")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return start_of(value)
    raise ValueError("valid_from must be a date (2027-01-01) or a time with an offset")


def _version(data: Mapping[str, Any], *, id: str, label: str, valid_from: datetime | None) -> RuleVersion:
    nix = data["nix"]
    override_months = int(nix["override_consent_months"])
    if override_months != NIX_OVERRIDE_VALIDITY_MONTHS:
        raise ValueError(
            f"nix.override_consent_months is {override_months}, but the fold lets NIX override consents lapse after "
            f"{NIX_OVERRIDE_VALIDITY_MONTHS} (events.customer.NIX_OVERRIDE_VALIDITY_MONTHS); change both together"
        )
    needs = {Channel(name): what for name, what in data.get("channels", {}).items()}
    if unknown := set(needs.values()) - set(_CHANNEL_NEEDS):
        raise ValueError(f"channels: unknown need(s) {sorted(unknown)}; use {', '.join(_CHANNEL_NEEDS)}")
    purposes = {ConsentPurpose(name): _purpose_rule(name, rule) for name, rule in data["purposes"].items()}
    if missing := [p.value for p in ConsentPurpose if p not in purposes]:
        raise ValueError(f"purposes: no rule for {', '.join(missing)}")
    return RuleVersion(
        id=id,
        label=label,
        valid_from=valid_from,
        purposes=MappingProxyType(purposes),
        nix_wash_valid_months=int(nix["wash_valid_months"]),
        nix_override_consent_months=override_months,
        channel_needs=MappingProxyType(needs),
        deceased_still_allowed=_pairs(data.get("deceased", {}).get("still_allowed", {})),
        erased_still_allowed=_pairs(data.get("erased", {}).get("still_allowed", {})),
        emigration_blocks=_channels(data.get("emigrated", {}).get("blocks", [])),
        deregistered_still_allowed=_pairs(data.get("deregistered", {}).get("still_allowed", {})),
    )


def _purpose_rule(name: str, rule: Mapping[str, Any]) -> PurposeRule:
    basis = rule.get("basis_without_consent", "LEGITIMATE_INTEREST")
    if basis not in NO_CONSENT_BASES:
        raise ValueError(f"purposes.{name}.basis_without_consent must be one of {sorted(NO_CONSENT_BASES)}, not {basis!r}")
    return PurposeRule(
        allowed=bool(rule.get("allowed", True)),
        channels=_channels(rule["channels"]),
        direct_marketing=bool(rule["direct_marketing"]),
        consent_required_on=_channels(rule.get("consent_required_on", [])),
        basis_without_consent=basis,
        nix_applies_on=_channels(rule.get("nix_applies_on", [])),
        existing_customer_exception=bool(rule.get("existing_customer_exception", False)),
        protected_identity_blocks=_channels(rule.get("protected_identity_blocks", ["ANY"])),
    )


def _channels(names: list[str]) -> frozenset[Channel]:
    return frozenset(Channel(name) for name in names)


def _pairs(table: Mapping[str, list[str]]) -> frozenset[tuple[ConsentPurpose, Channel]]:
    return frozenset((ConsentPurpose(purpose), Channel(channel)) for purpose, channels in table.items() for channel in channels)


def _covers(channels: frozenset[Channel], channel: Channel) -> bool:
    """Whether a rule's channel list covers `channel` (ANY in a list covers every channel)."""
    return channel in channels or Channel.ANY in channels


# --- The decision -----------------------------------------------------------------


@dataclass(frozen=True)
class _Ask:
    state: CustomerState
    channel: Channel
    purpose: ConsentPurpose
    company: str
    at: datetime
    day: date
    rule: PurposeRule
    rules: RuleVersion


def decision_document(
    decision: Decision, *, customer_id: str, channel: Channel, purpose: ConsentPurpose, company: str, at: datetime, known_at: datetime | None = None
) -> dict[str, Any]:
    """The decision and the question it answers, as plain data for JSON (CLI and API give the same shape): `at` is the
    moment in the world asked about (valid at), `known_at` the moment of the register's knowledge (default: `at`)."""
    return {
        "customer_id": customer_id,
        "channel": channel.value,
        "purpose": purpose.value,
        "company": company,
        "at": at.isoformat(),
        "known_at": (known_at or at).isoformat(),
        "allowed": decision.allowed,
        "reasons": [{"code": r.code, "message": r.message, "denies": r.denies} for r in decision.reasons],
        "rules": version_document(decision.rules),
    }


def version_document(version: VersionRef | None) -> dict[str, Any] | None:
    """Which rules decided, as plain data: `version` (the id), `label` and `valid_from` (None: from the beginning)."""
    if version is None:
        return None
    return {"version": version.id, "label": version.label, "valid_from": version.valid_from.isoformat() if version.valid_from else None}


def may_contact(
    state: CustomerState | None,
    *,
    channel: Channel,
    purpose: ConsentPurpose,
    company: str,
    at: datetime,
    rules: Rules | None = None,
) -> Decision:
    """Whether `company` may contact the customer on `channel` for `purpose` at `at` (time zone required), and why,
    under the version of `rules` in force at `at`.

    `state` is the customer's state as it stood at `at` (`events.timeline.state_at`; today's state answers for now).
    """
    if at.tzinfo is None:
        raise ValueError("`at` needs a time zone")
    version = (rules or load_rules()).in_force(at)
    words = {"channel": channel.value, "purpose": purpose.value, "company": company, "nix_months": version.nix_wash_valid_months}
    if state is None or not state.registered:
        return _decide([_reason("NOT_A_CUSTOMER", words)], version)
    ask = _Ask(state, channel, purpose, company, at, at.astimezone(UTC).date(), version.purposes[purpose], version)
    codes = [code for check in _CHECKS for code in check(ask)]
    return _decide([_reason(code, words) for code in dict.fromkeys(codes)], version)


def _decide(reasons: list[Reason], version: RuleVersion) -> Decision:
    ordered = tuple(sorted(reasons, key=lambda r: not r.denies))  # stable: deny reasons first, each group in check order
    return Decision(allowed=not any(r.denies for r in ordered), reasons=ordered, rules=version.ref)


def _reason(code: str, words: Mapping[str, Any]) -> Reason:
    return Reason(code, (DENY_MESSAGES.get(code) or ALLOW_MESSAGES[code]).format(**words))


def _purpose(ask: _Ask) -> list[str]:
    denied = []
    if not ask.rule.allowed:
        denied.append("FORBIDDEN_BY_RULES")
    if not _covers(ask.rule.channels, ask.channel):
        denied.append("CHANNEL_NOT_ALLOWED")
    return denied


def _lifecycle(ask: _Ask) -> list[str]:
    state, asked = ask.state, (ask.purpose, ask.channel)
    codes = []
    if state.deceased_on is not None or state.status is Status.DECEASED:
        codes.append("ESTATE" if asked in ask.rules.deceased_still_allowed else "DECEASED")
    if state.status is Status.ERASED and asked not in ask.rules.erased_still_allowed:
        codes.append("ERASED")
    if _abroad(state, ask.day) and _covers(ask.rules.emigration_blocks, ask.channel):
        codes.append("EMIGRATED")
    if state.status is Status.DEREGISTERED and _deregistered_by(state, ask.day) and asked not in ask.rules.deregistered_still_allowed:
        codes.append("DEREGISTERED")
    return codes


def _abroad(state: CustomerState, day: date) -> bool:
    """Emigrated on `day`: the emigration has taken effect, and no return (CustomerImmigrated) after it has too."""
    emigrated, back = state.emigrated_on, state.immigrated_on
    if emigrated is None or emigrated > day:
        return False
    return back is None or not (emigrated <= back <= day)


def _deregistered_by(state: CustomerState, day: date) -> bool:
    return state.deregistered_on is None or state.deregistered_on <= day


def _protected_identity(ask: _Ask) -> list[str]:
    return ["PROTECTED_IDENTITY"] if ask.state.protected and _covers(ask.rule.protected_identity_blocks, ask.channel) else []


def _opt_out(ask: _Ask) -> list[str]:
    opted_out = ask.state.opted_out
    if ask.rule.direct_marketing and (ask.channel in opted_out or Channel.ANY in opted_out):
        return ["OPTED_OUT"]
    return []


def _contact_details(ask: _Ask) -> list[str]:
    contact = ask.state.contact
    match ask.rules.channel_needs.get(ask.channel):
        case "phone" if not (contact and contact.phone):
            return ["NO_PHONE_NUMBER"]
        case "email" if not (contact and contact.email):
            return ["NO_EMAIL_ADDRESS"]
        case "address" if ask.state.address is None:
            return ["NO_POSTAL_ADDRESS"]
    return []


def _existing_customer(ask: _Ask) -> bool:
    return ask.rule.existing_customer_exception and ask.company in ask.state.customer_of


def _consent(ask: _Ask) -> list[str]:
    if not _covers(ask.rule.consent_required_on, ask.channel):
        return [ask.rule.basis_without_consent]
    matching = _matching_consents(ask)
    if any(_in_force(c, ask) for c in matching):
        return ["CONSENT_VALID"]
    if _existing_customer(ask):
        return ["EXISTING_CUSTOMER"]
    return ["CONSENT_EXPIRED" if any(_lapsed(c, ask) for c in matching) else "NO_CONSENT"]


def _nix(ask: _Ask) -> list[str]:
    phone = ask.state.contact.phone if ask.state.contact else None
    if not _covers(ask.rule.nix_applies_on, ask.channel) or not phone:
        return []  # no number: NO_PHONE_NUMBER already says so
    overrides = [c for c in _matching_consents(ask) if c.overrides_nix]
    if any(_in_force(c, ask) for c in overrides):
        return ["NIX_OVERRIDE_CONSENT"]
    if _existing_customer(ask):
        return ["EXISTING_CUSTOMER"]
    lapsed = ["CONSENT_EXPIRED"] if any(_lapsed(c, ask) for c in overrides) else []
    status = next((entry for entry in ask.state.nix if entry.phone == phone), None)
    if status is not None and status.registered:
        return [*lapsed, "NIX_REGISTERED"]
    if status is None or not status.as_of <= ask.day < add_months(status.as_of, ask.rules.nix_wash_valid_months):
        return [*lapsed, "NIX_NOT_CHECKED"]
    return ["NIX_CHECKED"]


def _matching_consents(ask: _Ask) -> list[Consent]:
    return [c for c in ask.state.consents if c.purpose == ask.purpose and c.company == ask.company and (c.channel == ask.channel or c.channel is Channel.ANY)]


def _in_force(consent: Consent, ask: _Ask) -> bool:
    return consent.given_at <= ask.at and (consent.lapses_on is None or ask.day < consent.lapses_on)


def _lapsed(consent: Consent, ask: _Ask) -> bool:
    return consent.given_at <= ask.at and consent.lapses_on is not None and consent.lapses_on <= ask.day


_CHECKS = (_purpose, _lifecycle, _protected_identity, _opt_out, _contact_details, _consent, _nix)
"""Every check runs, so a denial lists every reason that applies."""
