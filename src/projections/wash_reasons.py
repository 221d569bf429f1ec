"""What a wash's reason codes mean and what to do about them, in plain Swedish and English.

The codes come from two places: the wash itself (`projections.wash`: UNKNOWN_NUMBER, INVALID_NUMBER, NO_NUMBER,
NOT_CUSTOMERS_NUMBER, all about the row) and the contactability rules (`events.contactability`: about the customer,
e.g. NO_PHONE_NUMBER, NIX_REGISTERED, LEGITIMATE_INTEREST). The codes are stable (scripts and the API read them);
these texts are for the person reading the washed list, and may be reworded. Three codes are easily confused:

- NO_NUMBER: the row itself is empty (neither a number nor a customer id);
- NO_PHONE_NUMBER: the row names a customer, and the register has no phone number for them;
- UNKNOWN_NUMBER: the row's number belongs to no customer of the register.

No text carries personal data, nor the company or the moment of the wash.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from events.contactability import DENY_MESSAGES

Language = Literal["sv", "en"]

WASH_DENIALS = frozenset({"UNKNOWN_NUMBER", "INVALID_NUMBER", "NO_NUMBER", "NOT_CUSTOMERS_NUMBER"})
"""The wash's own codes (`projections.wash`): each stops the call."""

EXPLANATIONS: dict[str, tuple[str, str]] = {
    # The row (projections.wash)
    "UNKNOWN_NUMBER": (
        "Numret tillhör ingen kund i registret, så det kan inte tvättas mot registrets NIX-uppgifter. "
        "Ring inte; kontrollera numret, eller tvätta det mot NIX-Telefon på annat sätt.",
        "The number belongs to no customer in the register, so it cannot be washed against the register's NIX data. "
        "Do not call; check the number, or wash it against NIX-Telefon some other way.",
    ),
    "INVALID_NUMBER": (
        "Cellen går inte att läsa som ett telefonnummer. Rätta numret i listan och tvätta igen.",
        "The cell cannot be read as a phone number. Correct the number in the list and wash again.",
    ),
    "NO_NUMBER": (
        "Raden har varken telefonnummer eller kundnummer. Fyll i något av dem, eller ta bort raden.",
        "The row has neither a phone number nor a customer id. Fill in one of them, or remove the row.",
    ),
    "NOT_CUSTOMERS_NUMBER": (
        "Numret är inte kundens nuvarande telefonnummer i registret. Ring inte; kontrollera vilket nummer som gäller.",
        "The number is not the customer's current phone number in the register. Do not call; check which number is right.",
    ),
    # The customer (events.contactability), denying
    "NOT_A_CUSTOMER": (
        "Kundnumret finns inte i registret. Kontrollera kundnumret.",
        "The register has no customer with this id. Check the customer id.",
    ),
    "NO_PHONE_NUMBER": (
        "Kunden finns i registret men har inget telefonnummer där, så det finns inget nummer att ringa. "
        "Registrera kundens nummer först, eller ange numret i listan.",
        "The customer is in the register but has no phone number there, so there is no number to call. "
        "Register the customer's number first, or give the number in the list.",
    ),
    "FORBIDDEN_BY_RULES": (
        "Telemarketing är inte tillåten alls enligt kontaktreglerna.",
        "Telemarketing is not allowed at all under the contactability rules.",
    ),
    "CHANNEL_NOT_ALLOWED": (
        "Telemarketing per telefon är inte tillåten enligt kontaktreglerna.",
        "Telemarketing by phone is not allowed under the contactability rules.",
    ),
    "DECEASED": ("Kunden är avliden. Ring inte.", "The customer has died. Do not call."),
    "ERASED": ("Kundens uppgifter är raderade (GDPR). Ingen kontakt alls.", "The customer's data was erased (GDPR). No contact at all."),
    "EMIGRATED": (
        "Kunden har utvandrat och är avregistrerad från folkbokföringen. Ring inte.",
        "The customer has emigrated and is deregistered from the population register. Do not call.",
    ),
    "DEREGISTERED": (
        "Kunden är avregistrerad från folkbokföringen (av annat skäl än död eller utvandring). Ring inte.",
        "The customer is deregistered from the population register (for a cause other than death or emigration). Do not call.",
    ),
    "PROTECTED_IDENTITY": (
        "Kunden har skyddade personuppgifter. Ring inte i marknadsföringssyfte, och lämna inte ut namn eller adress.",
        "The customer has a protected identity. Do not call for marketing, and do not disclose name or address.",
    ),
    "OPTED_OUT": (
        "Kunden har tackat nej till direktreklam per telefon (reklamspärr). Ring inte.",
        "The customer has opted out of direct marketing by phone. Do not call.",
    ),
    "NIX_REGISTERED": (
        "Numret är registrerat i NIX-Telefon och kunden har inget gällande samtycke till att bli uppringd trots NIX. Ring inte.",
        "The number is registered in NIX-Telefon and the customer has no consent in force to be called despite NIX. Do not call.",
    ),
    "NIX_NOT_CHECKED": (
        "Numret är inte tvättat mot NIX-Telefon inom reglernas giltighetstid. "
        "Läs in ett nytt NIX-utdrag (registervard nix import) och tvätta igen.",
        "The number has not been washed against NIX-Telefon within the period the rules allow. "
        "Import a new NIX extract (registervard nix import) and wash again.",
    ),
    "CONSENT_EXPIRED": (
        "Kundens samtycke har upphört att gälla. Ring inte förrän kunden har gett ett nytt.",
        "The customer's consent has lapsed. Do not call until the customer gives a new one.",
    ),
    "NO_CONSENT": (
        "Telemarketing per telefon kräver kundens samtycke enligt kontaktreglerna, och det finns inget. Ring inte.",
        "Telemarketing by phone needs the customer's consent under the contactability rules, and there is none. Do not call.",
    ),
    # The customer, allowing
    "CONSENT_VALID": (
        "Kunden har ett gällande samtycke till telemarketing per telefon.",
        "The customer has a consent in force to telemarketing by phone.",
    ),
    "NIX_OVERRIDE_CONSENT": (
        "Kunden har ett gällande samtycke till att bli uppringd trots NIX-Telefon.",
        "The customer has a consent in force to be called despite NIX-Telefon.",
    ),
    "NIX_CHECKED": (
        "Numret är tvättat mot NIX-Telefon inom giltighetstiden och är inte registrerat där.",
        "The number was washed against NIX-Telefon within the valid period and is not registered there.",
    ),
    "EXISTING_CUSTOMER": (
        "Kunden är redan kund hos företaget: samtal om samma slags varor kräver inget samtycke och stoppas inte av NIX.",
        "The customer is an existing customer of the company: calls about the same kind of goods need no consent and are not stopped by NIX.",
    ),
    "CONTRACT": ("Kontakt som behövs för att fullgöra ett avtal kräver inget samtycke.", "Contact needed to fulfil a contract needs no consent."),
    "LEGITIMATE_INTEREST": (
        "Telemarketing per telefon kräver inget samtycke (berättigat intresse); kunden kan när som helst invända.",
        "Telemarketing by phone needs no consent (legitimate interest); the customer may object at any time.",
    ),
}
"""Code → (Swedish, English): what it means and, for a code that stops the call, what to do."""


def denies(code: str) -> bool:
    """Whether this code alone stops the call (LEGITIMATE_INTEREST, NIX_CHECKED and the like allow it)."""
    return code in WASH_DENIALS or code in DENY_MESSAGES


def explain(code: str, language: Language = "sv") -> str:
    """What `code` means and what to do, in `language`; a code without a text here is named as it is."""
    texts = EXPLANATIONS.get(code)
    if texts is None:  # a code the rules added later: the code still says it, and stays in the reason column
        return code
    return texts[0] if language == "sv" else texts[1]


def deciding(codes: Iterable[str], may_call: bool) -> list[str]:
    """The codes that decided a row: those that stop the call when it may not be made, else those that allow it."""
    return [code for code in codes if denies(code) != may_call]
