"""`registervard customer find`: find customers by identity number, name, phone number or e-mail address."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from projections.search import DEFAULT_LIMIT, Found, SearchBy, SearchQueryError, find_customers, read_query
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail
from registervard.listings import folded, whole

BADGE_COLOURS = {"active": "green", "protected": "magenta", "erased": "dim"}
"""Colours of the status badges on a terminal; the rest (deceased, emigrated, deregistered) in yellow."""

READ_AS = {
    "customer_id": "customer id",
    "identity_number": "identity number",
    "phone": "phone number",
    "email": "e-mail address",
    "name": "name",
    "former_name": "former name",
}


@advise_on_failure
def customer_find(
    text: Annotated[
        str,
        typer.Argument(
            metavar="QUERY",
            help="An identity number in any written form (YYMMDD-NNNN, YYYYMMDDNNNN, with + for 100 or older, an "
            'organisationsnummer), a name or part of one ("anna svens"), a phone number in any written form, or an e-mail address.',
        ),
    ],
    by: Annotated[
        SearchBy,
        typer.Option(case_sensitive=False, help="What QUERY is; auto reads it as what it looks like (digits: identity number and phone number)."),
    ] = SearchBy.AUTO,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many customers.")] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: {customers: [...], more: true|false}.")] = False,
) -> None:
    """Find customers by identity number, name, phone number or e-mail address.

    Lists each customer's id, kind and status (active, deceased, emigrated,
    deregistered, protected, erased), and their name and city unless the identity
    is protected. A protected identity is never found by name. `customer show ID`
    then shows the whole record.
    """
    services = bootstrap()
    try:
        query = read_query(text, by, lookup_key=services.settings.lookup_key)
    except SearchQueryError as error:
        fail(f"QUERY {error}.")
    result = find_customers(services.engine, query, limit=limit)
    if as_json:
        print(json.dumps({"customers": [found.as_dict() for found in result.customers], "more": result.more}, ensure_ascii=False))
        return
    searched = " and ".join(READ_AS[kind.value] for kind in query.read_as)
    if not result.customers:
        errors.print(f"No customer found, searching by {searched}.")
        for note in query.notes:
            errors.print(f"QUERY {note}.")
        return
    console.print(_table(result.customers))
    shown = f"{len(result.customers)} customer(s) found, searching by {searched}"
    if result.more:
        errors.print(f"{shown}; there are more: narrow the search, or raise --limit.")
    else:
        errors.print(f"{shown}. `registervard customer show ID` shows a customer's record.")


def _table(customers: list[Found]) -> Table:
    table = Table(
        whole("customer id", [c.customer_id for c in customers]),
        whole("kind", [c.kind or "" for c in customers]),
        whole("status", [c.badge for c in customers]),
        folded("name", ratio=2),
        folded("city", ratio=1),
        folded("found by", ratio=1),
        box=box.SIMPLE_HEAD,
    )
    for c in customers:
        colour = BADGE_COLOURS.get(c.badge, "yellow")
        name = "(not shown)" if c.protected else c.name or ""
        table.add_row(
            c.customer_id,
            (c.kind or "").lower(),
            f"[{colour}]{c.badge}[/{colour}]",
            escape(name),
            escape(c.city or ""),
            ", ".join(READ_AS[m.value] for m in c.matched_on),
        )
    return table
