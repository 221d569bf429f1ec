"""Routes about one customer: the register row, lookup by identity number, history, contactability, a company's contact persons."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.contactability import decision_document, load_rules, may_contact
from events.identity import IdentityNumberError
from projections.consent_lapses import lapsed_consents, with_lapsed_consents
from projections.data_keys import key_store
from projections.history_at import record_at, state_at_moment
from projections.lookup import lookup_hash
from projections.read import company_contacts, customer_history
from projections.tables import CustomerRow, IdentityLookupRow
from registervard.api.auth import Principal, authorize
from registervard.api.disclosure_writer import DisclosureWriter, disclosure_rows
from registervard.api.errors import BODY_RESPONSES, ERROR_RESPONSES, ApiError, ErrorBody
from registervard.api.merged_ids import MERGED, merged_redirect, redirect_if_merged
from registervard.api.params import ChannelParam, Moment, PurposeParam, customer_id_path
from registervard.api.records import for_role, record_dict, records
from registervard.api.roles import may_call, roles_for

router = APIRouter(tags=["customers"], responses=ERROR_RESPONSES)

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "The register has no such customer (CUSTOMER_NOT_FOUND)."}}


def disclosed(request: Request, principal: Principal, customer_ids: list[str], endpoint: str) -> None:
    """Record that the key's holder receives these customers' data from `endpoint`; returns once it is committed, so
    that nothing is sent unrecorded (raises, and nothing is sent, if it cannot be)."""
    writer: DisclosureWriter = request.app.state.disclosures
    writer.record(disclosure_rows(principal.name, customer_ids, endpoint))


def not_found() -> ApiError:
    """404 CUSTOMER_NOT_FOUND; the message does not repeat the id (it may be a mistyped personnummer)."""
    return ApiError(
        404,
        "CUSTOMER_NOT_FOUND",
        "The register has no customer with that id. Check the id; a customer registered moments ago appears once the projection has applied the event.",
    )


class LookupRequest(BaseModel):
    """In the body, so that an identity number never appears in a URL or an access log."""

    identity_number: str = Field(
        max_length=20,
        description="Personnummer, samordningsnummer or organisationsnummer, 10 or 12 digits, with or without separator.",
        examples=["198112189876"],
    )


# /customers/lookup first: else /customers/{customer_id} takes its path for every other method (a 405 naming GET).
@router.post("/customers/lookup", summary="Find customers by identity number", responses=BODY_RESPONSES)
def lookup(body: LookupRequest, request: Request, principal: Principal = authorize("lookup")) -> dict[str, Any]:
    """Every customer registered with this identity number (several customers may share one), as register rows.
    An empty list when there is none. POST, so that the number stays out of URLs and logs."""
    try:
        hashed = lookup_hash(body.identity_number, request.app.state.settings.lookup_key)
    except IdentityNumberError:
        # Not the parser's reason: it quotes parts of the number (a month, a check digit).
        raise ApiError(
            422,
            "INVALID_IDENTITY_NUMBER",
            "body.identity_number: is not a valid personnummer, samordningsnummer or organisationsnummer; check its date, its length and its check digit.",
        ) from None
    with Session(request.app.state.database.engine()) as session:
        ids = sorted(session.scalars(select(IdentityLookupRow.customer_id).where(IdentityLookupRow.lookup_hash == hashed)))
        found = records(session, ids)
    matches = [c for c in ids if c in found]
    disclosed(request, principal, matches, "lookup")
    return {"customers": [for_role(found[c], principal.role) for c in matches]}


VALID_AT = "The moment in the world asked about (effective dates), ISO 8601 with seconds and a time zone (write + as %2B), in 1900-2099; default now."
KNOWN_AT = "The moment of the register's knowledge: only events recorded by then count (recorded_at). Written as valid_at; default now."


@router.get("/customers/{customer_id}", summary="A customer's register row", responses={**NOT_FOUND, **MERGED})
def get_customer(
    request: Request,
    customer_id: str = customer_id_path(),
    valid_at: Moment | None = Query(None, description=VALID_AT),
    known_at: Moment | None = Query(None, description=KNOWN_AT),
    principal: Principal = authorize("customer"),
) -> dict[str, Any]:
    """The customer's current row in the register; with `valid_at` and/or `known_at`, the row as it stood at `valid_at`
    as the register knew it at `known_at`, folded from the audit trail (with both moments in the answer; 404 if the
    customer was not registered then). A past row is the customer's history, so it needs a role that may read the
    history too (`customer_service`, `admin`). A protected identity comes back without name and address (those fields
    are null; in a past row also when the identity was protected at any time). The `reader` role does not see
    `active_consents` and `nix_registered`."""
    if valid_at is None and known_at is None:
        with Session(request.app.state.database.engine()) as session:
            row = session.get(CustomerRow, customer_id)
            if row is None:
                redirect_if_merged(session, request, customer_id)
                raise not_found()
            # As `customer show` and contactability: a consent past its lapse date is not active, though the register
            # holds it until its expiry is recorded.
            lapsed = lapsed_consents(session, customer_id)
            record = with_lapsed_consents(record_dict(row), lapsed)
            record["lapsed_consents"] = [c.as_dict() for c in lapsed]
    else:
        if not may_call(principal.role, "history"):
            raise ApiError(
                403,
                "FORBIDDEN_FOR_ROLE",
                f"Your key's role '{principal.role}' may read a customer's row as it is now; a past one (valid_at, known_at) is their history, "
                f"which roles {', '.join(roles_for('history'))} may read.",
            )
        with Session(request.app.state.database.engine()) as session:
            found = state_at_moment(session, customer_id, valid_at=valid_at, known_at=known_at, keys=key_store(request.app.state.settings))
        if found.state is not None and found.state.merged_into is not None:  # merged by then: the kept customer answers
            raise merged_redirect(request, customer_id, found.state.merged_into)
        past = record_at(found)
        if past is None:
            raise not_found() if not found.known else not_registered_then()
        record = past
    disclosed(request, principal, [customer_id], "customer")
    return for_role(record, principal.role)


def not_registered_then() -> ApiError:
    """404 CUSTOMER_NOT_FOUND for a customer the register has, but had not registered at the moments asked about."""
    return ApiError(
        404,
        "CUSTOMER_NOT_FOUND",
        "The customer was not registered at valid_at as the register knew it at known_at. "
        "Ask about a later moment, or leave both out for the row as it is now.",
    )


@router.get("/customers/{customer_id}/history", summary="A customer's history", responses={**NOT_FOUND, **MERGED})
def history(request: Request, customer_id: str = customer_id_path(), principal: Principal = authorize("history")) -> dict[str, Any]:
    """Address and name history (empty while the identity is protected), consents in force and NIX status."""
    found = customer_history(request.app.state.database.engine(), customer_id)
    if found is None:
        with Session(request.app.state.database.engine()) as session:
            redirect_if_merged(session, request, customer_id)
        raise not_found()
    disclosed(request, principal, [customer_id], "history")
    return found


@router.get("/customers/{customer_id}/contactability", summary="May we contact this customer?", responses={**NOT_FOUND, **MERGED})
def contactability(
    request: Request,
    # Annotated with the Query inside: a Query as default would drop the type's own validator (the one that upper-cases).
    channel: Annotated[ChannelParam, Query(description="The channel of the contact: PHONE, EMAIL, POST, SMS, ANY or OTHER, in any case.")],
    purpose: Annotated[PurposeParam, Query(description="Why to contact: MARKETING, PROFILING, TELEMARKETING, NEWSLETTER or OTHER, in any case.")],
    customer_id: str = customer_id_path(),
    company: str = Query(min_length=1, max_length=300, description="The company that would contact, as customers name it in consents."),
    valid_at: Moment | None = Query(None, description=f"When the contact is (or was) made. {VALID_AT}"),
    at: Moment | None = Query(None, deprecated=True, description="Another name for valid_at, from before there were two moments; valid_at wins."),
    known_at: Moment | None = Query(None, description=KNOWN_AT),
    principal: Principal = authorize("contactability"),
) -> dict[str, Any]:
    """Whether `company` may contact the customer on `channel` for `purpose` at `valid_at`, with every reason that
    applies (those that deny first), decided from the customer as they stood then (a consent that has lapsed since
    still counts), as the register knew them at `known_at`, under the version of the rules (`contactability_rules.toml`)
    in force at `valid_at`; `rules` names that version. 404 if the register has never heard of the customer."""
    asked = valid_at or at  # not refused when both are given: the schema cannot say "one of them" of query parameters
    keys = key_store(request.app.state.settings) if asked is not None or known_at is not None else None
    with request.app.state.database.engine().connect() as connection:
        found = state_at_moment(connection, customer_id, valid_at=asked, known_at=known_at, keys=keys)
    if not found.known:
        raise not_found()
    if found.state is not None and found.state.merged_into is not None:
        raise merged_redirect(request, customer_id, found.state.merged_into)
    rules = load_rules(request.app.state.settings.contact_rules)
    decision = may_contact(found.state, channel=channel, purpose=purpose, company=company, at=found.valid_at, rules=rules)
    disclosed(request, principal, [customer_id], "contactability")
    return decision_document(decision, customer_id=customer_id, channel=channel, purpose=purpose, company=company, at=found.valid_at, known_at=found.known_at)


@router.get("/customers/{customer_id}/contact-persons", summary="A company's contact persons", responses={**NOT_FOUND, **MERGED})
def contact_persons(request: Request, customer_id: str = customer_id_path(), principal: Principal = authorize("contact_persons")) -> dict[str, Any]:
    """The contact persons of the company `customer_id`: `contact_persons` it has now, and `former_contact_persons` who
    left (with `left_on`, latest first). Each with the name, status, phone and e-mail of their register row; a protected
    identity without a name. Empty lists for a customer no contact person names."""
    view = company_contacts(request.app.state.database.engine(), customer_id)
    if view is None:
        with Session(request.app.state.database.engine()) as session:
            redirect_if_merged(session, request, customer_id)
        raise not_found()
    shown = [customer_id, *(p["customer_id"] for p in (*view["contact_persons"], *view["former_contact_persons"]))]
    disclosed(request, principal, shown, "contact_persons")
    return view
