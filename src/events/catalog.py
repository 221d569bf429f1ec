"""Every fact Registervård knows about, as a frozen record.

Each class mirrors one schema in `schemas/events/` field for field (a test
holds them together). Events are named in the past tense and say what happened
in the world. Personal data sits in fields typed `X | SealedPersonalData`, so
that it can be sealed with the customer's own key without changing the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID


class CustomerKind(StrEnum):
    PERSON = "PERSON"
    COMPANY = "COMPANY"


class Channel(StrEnum):
    PHONE = "PHONE"
    EMAIL = "EMAIL"
    POST = "POST"
    SMS = "SMS"
    ANY = "ANY"
    OTHER = "OTHER"


class ConsentPurpose(StrEnum):
    MARKETING = "MARKETING"
    PROFILING = "PROFILING"
    TELEMARKETING = "TELEMARKETING"
    NEWSLETTER = "NEWSLETTER"
    OTHER = "OTHER"


class NameChangeReason(StrEnum):
    MARRIAGE = "MARRIAGE"
    DIVORCE = "DIVORCE"
    OTHER = "OTHER"


class CivilStatus(StrEnum):
    UNMARRIED = "UNMARRIED"
    MARRIED = "MARRIED"
    DIVORCED = "DIVORCED"
    WIDOWED = "WIDOWED"
    REGISTERED_PARTNER = "REGISTERED_PARTNER"
    OTHER = "OTHER"


class AddressKind(StrEnum):
    """Which of the population register's addresses (SPAR) an address is; an address without one is one the customer
    or an upstream system gave. OTHER: a kind added after this reader's schema, kept as such an address."""

    POPULATION_REGISTER = "POPULATION_REGISTER"
    """Folkbokföringsadress: where the person is registered as living."""
    SPECIAL_POSTAL = "SPECIAL_POSTAL"
    """Särskild postadress: where the person asked their post to go; while in force, the register's postal address."""
    ABROAD = "ABROAD"
    """Utlandsadress: an emigrant's address abroad."""
    CONTACT = "CONTACT"
    """Kontaktadress: a coordination number's contact address."""
    OTHER = "OTHER"


class Protection(StrEnum):
    SEKRETESSMARKERING = "SEKRETESSMARKERING"
    SKYDDAD_FOLKBOKFORING = "SKYDDAD_FOLKBOKFORING"
    OTHER = "OTHER"


class WithdrawalReason(StrEnum):
    CUSTOMER_REQUEST = "CUSTOMER_REQUEST"
    DECEASED = "DECEASED"
    ERASED = "ERASED"
    OTHER = "OTHER"
    DEREGISTERED = "DEREGISTERED"  # added in schema release 3, after OTHER: symbols keep their positions


class PurgeReason(StrEnum):
    PROTECTED_IDENTITY = "PROTECTED_IDENTITY"
    ERASURE = "ERASURE"
    OTHER = "OTHER"


class DataCategory(StrEnum):
    NAME = "NAME"
    ADDRESS = "ADDRESS"
    IDENTITY_NUMBER = "IDENTITY_NUMBER"
    CONTACT = "CONTACT"
    ALL = "ALL"
    OTHER = "OTHER"


class ErasureReason(StrEnum):
    CUSTOMER_REQUEST = "CUSTOMER_REQUEST"
    RETENTION_EXPIRED = "RETENTION_EXPIRED"
    OTHER = "OTHER"


# --- Records shared by several events ---------------------------------------


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """Who an event concerns, when it happened, who reported it and why."""

    event_id: UUID
    """Unique id; the same event published twice takes effect once."""
    customer_id: str
    """Opaque customer id, also the Kafka key. Never personal data."""
    occurred_at: datetime
    """When the fact happened in the world (UTC)."""
    recorded_at: datetime
    """When a reporting system first recorded the fact (UTC)."""
    source: str
    """The reporting system: SPAR, CRM, WEBSHOP, NIX, REGISTERVARD..."""
    correlation_id: UUID | None = None
    """Groups the events of one business transaction."""
    causation_id: UUID | None = None
    """The event this one was derived from, if any."""
    schema_version: int = 1
    """Version of the event's schema the producer wrote."""


@dataclass(frozen=True, kw_only=True)
class SealedPersonalData:
    """Personal data encrypted with the customer's own data key."""

    key_id: str
    """The customer's data key in the key store."""
    algorithm: str
    """Authenticated encryption algorithm, e.g. AES-256-GCM."""
    nonce: bytes
    """Nonce of this encryption."""
    ciphertext: bytes
    """Encrypted Avro encoding of the plain personal record."""


@dataclass(frozen=True, kw_only=True)
class PersonName:
    """A person's name as registered."""

    given_names: str
    """All given names, space separated."""
    surname: str
    """Surname, including any middle name."""


@dataclass(frozen=True, kw_only=True)
class PostalAddress:
    """A postal address."""

    street: str
    """Street address with number, or box address."""
    postal_code: str
    """Postal code; in Sweden five digits."""
    city: str
    """Post town."""
    care_of: str | None = None
    """c/o line."""
    country: str = "SE"
    """ISO 3166-1 alpha-2 country code."""


@dataclass(frozen=True, kw_only=True)
class ContactDetails:
    """How a customer can be reached electronically."""

    phone: str | None = None
    """Phone number in E.164 form, or None."""
    email: str | None = None
    """E-mail address, or None."""


@dataclass(frozen=True, kw_only=True)
class Registration:
    """The personal details known when a customer registered."""

    identity_number: str | None = None
    """Personnummer, samordningsnummer or organisationsnummer, 12 digits."""
    name: PersonName | None = None
    """The person's name; None for a company."""
    company_name: str | None = None
    """The company's name; None for a person."""
    address: PostalAddress | None = None
    """Postal address, when known."""
    contact: ContactDetails | None = None
    """Phone and e-mail, when known."""


# --- Events -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: the envelope comes first."""

    envelope: Envelope
    """Event id, customer id, times, source and causes."""

    @property
    def customer_id(self) -> str:
        return self.envelope.customer_id

    @property
    def event_id(self) -> UUID:
        return self.envelope.event_id


@dataclass(frozen=True, kw_only=True)
class CustomerRegistered(Event):
    """A person or a company became a customer."""

    customer_kind: CustomerKind
    """Person (B2C) or company (B2B)."""
    registration: Registration | SealedPersonalData
    """Personal details, in clear or sealed."""
    company: str | None = None
    """The company of the group the customer became a customer of."""
    contact_person_for: str | None = None
    """For a company's contact person: the company's customer id."""


@dataclass(frozen=True, kw_only=True)
class AddressChanged(Event):
    """The customer moved, or their address was corrected."""

    effective_date: date
    """The day from which the new address applies (or, when `ended`, no longer applies)."""
    address: PostalAddress | SealedPersonalData
    """The new address; when `ended`, the address that ended."""
    address_kind: AddressKind | None = None
    """Which of the population register's addresses it is, each kind a history of its own; None for an address the
    customer or an upstream system gave (release 4)."""
    ended: bool = False
    """The customer has no address of this kind any more from `effective_date` (SPAR: a special postal address
    ended). Only with an `address_kind` (release 4)."""


@dataclass(frozen=True, kw_only=True)
class NameChanged(Event):
    """The customer changed name."""

    reason: NameChangeReason
    """Marriage, divorce or other."""
    effective_date: date
    """The day from which the new name applies."""
    name: PersonName | SealedPersonalData
    """The new name."""


@dataclass(frozen=True, kw_only=True)
class CivilStatusChanged(Event):
    """The customer's civil status changed."""

    civil_status: CivilStatus
    """The new civil status."""
    effective_date: date
    """The day from which it applies."""


@dataclass(frozen=True, kw_only=True)
class PersonalIdentityNumberAssigned(Event):
    """An identity number became known for the customer."""

    identity_number: str | SealedPersonalData
    """The 12-digit identity number."""


@dataclass(frozen=True, kw_only=True)
class ContactDetailsChanged(Event):
    """The customer's phone number or e-mail changed."""

    contact: ContactDetails | SealedPersonalData
    """Phone and e-mail after the change."""


@dataclass(frozen=True, kw_only=True)
class ProtectedIdentitySet(Event):
    """The customer got a protected identity: hide name and address."""

    protection: Protection
    """Kind of protection."""


@dataclass(frozen=True, kw_only=True)
class ProtectedIdentityLifted(Event):
    """The customer's protected identity ended: the kind named, or every kind in force."""

    protection: Protection | None = None
    """The kind of protection that ended, as ProtectedIdentitySet named it: the customer stays protected while another
    kind is in force, so a source lifts only its own (SPAR the population register's, never OTHER). None: every kind in
    force ends, as a lift did before the field was added (schema release 4)."""


@dataclass(frozen=True, kw_only=True)
class CustomerDeceased(Event):
    """The customer died."""

    date_of_death: date
    """Day of death as registered."""


@dataclass(frozen=True, kw_only=True)
class CustomerEmigrated(Event):
    """The customer emigrated and was deregistered."""

    effective_date: date
    """Day of deregistration."""
    destination_country: str | None = None
    """ISO country code moved to, when known."""


@dataclass(frozen=True, kw_only=True)
class CustomerImmigrated(Event):
    """The customer came (back) to Sweden and was registered in the population register again."""

    effective_date: date
    """Day of registration in Sweden."""
    address: PostalAddress | SealedPersonalData
    """The Swedish address the customer is registered at (folkbokföringsadress)."""
    origin_country: str | None = None
    """ISO country code moved from, when known."""


@dataclass(frozen=True, kw_only=True)
class CustomerDeregistered(Event):
    """The population register deregistered the customer for a cause other than death or emigration."""

    cause: str
    """The population register's two-character cause (avregistreringsorsak), one of events/deregistration_causes.toml."""
    effective_date: date
    """Day of deregistration."""


@dataclass(frozen=True, kw_only=True)
class ConsentEvent(Event):
    """Base of the consent events: which consent they are about."""

    purpose: ConsentPurpose
    """What the consent allows."""
    channel: Channel
    """The channel it covers."""
    company: str
    """The company the customer named; a consent covers only that company."""


@dataclass(frozen=True, kw_only=True)
class ConsentGiven(ConsentEvent):
    """The customer consented to a kind of contact or processing."""

    overrides_nix: bool = False
    """Explicit permission to call despite NIX; lapses after 3 months."""
    valid_until: date | None = None
    """Last valid day, when the consent itself says so."""


@dataclass(frozen=True, kw_only=True)
class ConsentWithdrawn(ConsentEvent):
    """A consent ended before it lapsed."""

    reason: WithdrawalReason
    """Why the consent ended."""


@dataclass(frozen=True, kw_only=True)
class ConsentExpired(ConsentEvent):
    """A consent lapsed because its validity ran out."""

    expired_on: date
    """The first day the consent no longer applies."""


@dataclass(frozen=True, kw_only=True)
class NixRegistered(Event):
    """A phone number of the customer is registered in NIX-Telefon."""

    phone: str | SealedPersonalData
    """The registered number, E.164."""
    register_version_date: date | None = None
    """Date of the NIX register version read."""


@dataclass(frozen=True, kw_only=True)
class NixDeregistered(Event):
    """A phone number of the customer left NIX-Telefon."""

    phone: str | SealedPersonalData
    """The number, E.164."""
    register_version_date: date | None = None
    """Date of the NIX register version read."""


@dataclass(frozen=True, kw_only=True)
class MarketingOptOut(Event):
    """The customer opted out of direct marketing (reklamspärr)."""

    channel: Channel
    """The channel opted out of; ANY for all."""


@dataclass(frozen=True, kw_only=True)
class MarketingOptOutLifted(Event):
    """The customer lifted an opt-out from direct marketing (opted in again)."""

    channel: Channel
    """The channel opted in on again; ANY lifts the opt-out on every channel."""


@dataclass(frozen=True, kw_only=True)
class ContactPersonLeft(Event):
    """The customer stopped being a company's contact person: they left the company, or were replaced."""

    company_id: str
    """The company's customer id, as the contact person's registration named it (`contact_person_for`)."""
    effective_date: date
    """The day they left: from it they are no longer the company's contact person."""


@dataclass(frozen=True, kw_only=True)
class CustomerErased(Event):
    """The customer's personal data was erased (GDPR Art. 17)."""

    reason: ErasureReason
    """Why the data was erased."""


@dataclass(frozen=True, kw_only=True)
class PersonalDataPurgeRequested(Event):
    """Recipients were told to delete their copies of some of the customer's data."""

    reason: PurgeReason
    """Protected identity, erasure or other."""
    data_categories: tuple[DataCategory, ...]
    """Which kinds of personal data to delete."""


# --- Merging duplicates (schema release 4) -----------------------------------------


@dataclass(frozen=True, kw_only=True)
class AbsorbedName:
    """A name of the dropped customer and the day it took effect, as their record held it."""

    effective_date: date
    """The day from which it applied."""
    name: PersonName
    """The name."""
    event_id: str
    """The event (of the dropped customer) that reported it."""


@dataclass(frozen=True, kw_only=True)
class AbsorbedAddress:
    """An address of the dropped customer and the day it took effect, as their record held it."""

    effective_date: date
    """The day from which it applied."""
    address: PostalAddress
    """The address."""
    event_id: str
    """The event (of the dropped customer) that reported it."""
    address_kind: AddressKind | None = None
    """Which of the population register's addresses it is (AddressChanged.address_kind)."""
    ended: bool = False
    """The end of the dropped customer's address of this kind (AddressChanged.ended)."""


@dataclass(frozen=True, kw_only=True)
class AbsorbedNixStatus:
    """What the latest NIX register version read said about one of the dropped customer's phone numbers."""

    phone: str
    """The number, E.164."""
    registered: bool
    """Registered in NIX-Telefon."""
    as_of: date
    """Date of the NIX register version (or of the report)."""


@dataclass(frozen=True, kw_only=True)
class AbsorbedPersonalData:
    """The dropped customer's personal data, as their record held it at the merge."""

    identity_number: str | None = None
    """Their 12-digit identity number, when known."""
    company_name: str | None = None
    """A company's name."""
    names: tuple[AbsorbedName, ...] = ()
    """Every name they had, by effective date."""
    addresses: tuple[AbsorbedAddress, ...] = ()
    """Every address they had, by effective date."""
    contact: ContactDetails | None = None
    """Their phone and e-mail."""
    nix: tuple[AbsorbedNixStatus, ...] = ()
    """The NIX-Telefon status of each of their phone numbers checked."""


@dataclass(frozen=True, kw_only=True)
class AbsorbedConsent:
    """A consent the dropped customer had given and that was in force at the merge."""

    purpose: ConsentPurpose
    """What it allows."""
    channel: Channel
    """The channel it covers."""
    company: str
    """The company it covers."""
    given_at: datetime
    """When the customer gave it."""
    given_event_id: str
    """The ConsentGiven event (of the dropped customer): a later ConsentExpired names it as its cause."""
    overrides_nix: bool = False
    """Whether it allows calls despite NIX."""
    valid_until: date | None = None
    """Last valid day, when the consent says so."""


@dataclass(frozen=True, kw_only=True)
class AbsorbedFacts:
    """What the dropped customer's record held at the merge besides personal data."""

    consents: tuple[AbsorbedConsent, ...] = ()
    """Their consents in force."""
    opted_out: tuple[Channel, ...] = ()
    """The channels they had opted out of direct marketing on."""
    customer_of: tuple[str, ...] = ()
    """The companies they were an existing customer of."""
    civil_status: CivilStatus | None = None
    """Their civil status, when known."""
    contact_person_for: str | None = None
    """For a company's contact person: the company's customer id."""
    merged_from: tuple[str, ...] = ()
    """Customers merged into the dropped customer before: they now point to the kept one too."""


@dataclass(frozen=True, kw_only=True)
class CustomersMerged(Event):
    """Two customer ids were found to be the same person or company: the dropped one was merged into the kept one.

    Published keyed by the dropped customer; the worker then sends the same fact keyed by the kept customer, with what
    the dropped customer's record held (`absorbed`, `absorbed_personal`), so that each customer's own events tell it."""

    kept_customer_id: str
    """The customer that stays."""
    dropped_customer_id: str
    """The customer merged into it: from now on a pointer to the kept one."""
    forced: bool = False
    """The two had different identity numbers or population-register status and the operator merged them anyway (the
    kept one's number and status stay)."""
    absorbed: AbsorbedFacts | None = None
    """Keyed by the kept customer: the dropped customer's consents, opt-outs and other facts. None keyed by the dropped one."""
    absorbed_personal: AbsorbedPersonalData | SealedPersonalData | None = None
    """Keyed by the kept customer: the dropped customer's names, addresses, numbers and NIX status, in clear or sealed."""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        CustomerRegistered,
        AddressChanged,
        NameChanged,
        CivilStatusChanged,
        PersonalIdentityNumberAssigned,
        ContactDetailsChanged,
        ProtectedIdentitySet,
        ProtectedIdentityLifted,
        CustomerDeceased,
        CustomerEmigrated,
        ConsentGiven,
        ConsentWithdrawn,
        ConsentExpired,
        NixRegistered,
        NixDeregistered,
        MarketingOptOut,
        CustomerErased,
        PersonalDataPurgeRequested,
        MarketingOptOutLifted,
        CustomerImmigrated,
        CustomerDeregistered,
        ContactPersonLeft,
        CustomersMerged,
    )
}
"""Event classes by name; the name is also the schema's name."""
