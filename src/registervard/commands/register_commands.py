"""Reading the register: `registervard status`, `quarantine`, `customer show` and `customer contacts`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from events.customer import CustomerState
from events.validation import is_identity_number
from projections.consent_lapses import LapsedConsent, lapsed_consents, with_lapsed_consents
from projections.history_at import StateAt, record_at, state_at_moment
from projections.merges import merged_customers, merged_into
from projections.read import company_contacts, customer_record, customer_state
from registervard.bootstrap import bootstrap
from registervard.commands.time_axes import KnownAt, ValidAt, moment_option
from registervard.console import advise_on_failure, console, errors, fail, run
from registervard.listings import folded, whole
from registervard.worker_report import WorkersReport, worker_report


@advise_on_failure
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the register's customers by status, the work pending (events not yet in the register, consents past
    their lapse date whose expiry is not yet recorded), and the workers: who owns which intake partition, how far
    behind each is, which are recovering, and the next consent expiry due."""
    # Imported here, not at the top: it imports the runner, whose metrics register in the default Prometheus
    # registry, which the worker's and the projections' processes serve (see commands/service.py).
    from projections.status import register_status

    settings = bootstrap().settings
    current = run(register_status(settings))
    workers = run(worker_report(settings))
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "customers": current.customers,
                    "events_in_log": current.events_in_log,
                    "lag": current.lag,
                    "consent_expiries_pending": current.lapsed_unrecorded,
                    "oldest_lapse": current.oldest_lapse.isoformat() if current.oldest_lapse else None,
                    "quarantined": current.quarantined,
                    "workers": workers.as_json(),
                }
            )
        )
        return
    total = sum(current.customers.values())
    by_status = ", ".join(f"{count} {name.lower()}" for name, count in sorted(current.customers.items()))
    console.print(f"Register: {total} customer(s){f' ({by_status})' if total else ''}")
    console.print(f"Event log: {current.events_in_log} event(s); not yet in the register: {current.lag}")
    console.print(f"Consents past their lapse date, expiry not yet recorded: {current.lapsed_unrecorded}")
    if current.lapsed_unrecorded:
        console.print(
            f"[yellow]Pending:[/yellow] the earliest lapsed on {current.oldest_lapse}. Contact checks count them as lapsed already; "
            f"the worker's expiry timer records their ConsentExpired (every {settings.expiry_check_seconds:g} s while `registervard worker` runs).",
            highlight=False,
        )
    for projection, count in sorted((current.quarantined or {}).items()):
        console.print(
            f"[yellow]Quarantined:[/yellow] {count} log record(s) the {projection} projection could not open or write "
            "and skipped (`registervard quarantine` says where and why)."
        )
    _print_workers(workers)


def _print_workers(report: WorkersReport) -> None:
    """The "Workers" section: a row per intake partition (owner, lag) and a row per worker (state, next expiry)."""
    console.print(f"Workers (intake {report.intake_topic}, consumer group {report.group}):")
    if not report.partitions:
        console.print(f"The intake topic {report.intake_topic} does not exist yet (`registervard topics create`, or start the worker).")
    else:
        partitions = Table("partition", "owner", "lag")
        for p in report.partitions:
            partitions.add_row(str(p.partition), p.owner or "[yellow]none[/yellow]", str(p.lag))
        console.print(partitions)
    if not report.workers:
        console.print("No worker has reported its status (is `registervard worker` running?).")
        return
    workers = Table("worker", "mode", "state", "partitions", "standby", "next expiry due", "reported")
    for w in report.workers:
        state = w.describe()
        colour = {"ready": "green", "recovering": "yellow"}.get(w.state, "red")
        workers.add_row(
            w.worker,
            w.mode,
            f"[{colour}]{state}[/{colour}]",
            ", ".join(map(str, w.partitions)) or "-",
            ", ".join(map(str, w.standby_partitions)) or "-",
            w.next_expiry_due or "-",
            f"{w.seconds_since_report:.0f} s ago",
        )
    console.print(workers)


@advise_on_failure
def quarantine(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the log records the projections skipped because they could not open or write them: where, and why."""
    from projections.status import quarantined_records  # here, not at the top: see `status`

    records = quarantined_records(bootstrap().engine)
    if as_json:
        console.print_json(json.dumps(records))
        return
    if not records:
        console.print("No quarantined log records.")
        return
    # Whole ids and codes (an operator acts on them); the reason wraps rather than being cut.
    table = Table(
        whole("projection", [str(r["projection"]) for r in records]),
        "partition",
        "offset",
        whole("code", [str(r["code"]) for r in records]),
        folded("reason", min_width=20),
        "since",
    )
    for r in records:
        table.add_row(str(r["projection"]), str(r["partition"]), str(r["offset"]), str(r["code"]), str(r["reason"]), str(r["quarantined_at"]))
    console.print(table)


@advise_on_failure
def customer_show(
    customer_id: str,
    valid_at: ValidAt = None,
    known_at: KnownAt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a customer's record in the register: as it is now, or as it stood at --valid-at as known at --known-at
    (folded from the audit trail; name and address left out if the identity has been protected at any time).

    A consent past its lapse date is not counted in active_consents, as contact checks do not count it, but listed
    under lapsed_consents until the register has recorded its expiry (the worker's expiry timer does, within a minute
    or so while it runs). The address is the postal one; address_kinds lists the population register's addresses
    (SPAR) over time, each with its kind, from which the postal address is derived; merged_customer_ids the customers
    merged into this one as duplicates (their ids lead here)."""
    record = _record(customer_id, moment_option("--valid-at", valid_at), moment_option("--known-at", known_at))
    if record is None and is_identity_number(customer_id):  # not repeated: an identity number is personal data
        fail("That is an identity number, not a customer id. `registervard customer find NUMBER` finds the customer by it (any written form).")
    if record is None:
        fail(
            f"No customer {customer_id} in the register. Check the id (`registervard customer find` finds customers by identity number, "
            "name, phone or e-mail), or whether the projection is running (registervard project)."
        )
    if as_json:
        console.print_json(json.dumps({**record, "lapsed_consents": [c.as_dict() for c in record["lapsed_consents"]]}, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in record.items():
        if key == "lapsed_consents":
            if value:
                table.add_row("[bold]lapsed_consents[/bold]", "\n".join(c.describe() for c in value), style="yellow")
            continue
        if key == "address_kinds":
            table.add_row("[bold]address_kinds[/bold]", "\n".join(_describe_kind(entry) for entry in value))
            continue
        if key == "merged_customer_ids":
            table.add_row("[bold]merged_customer_ids[/bold]", ", ".join(value))
            continue
        table.add_row(f"[bold]{key}[/bold]", "" if value is None else str(value))
    console.print(table)


def _record(customer_id: str, valid_at: datetime | None, known_at: datetime | None) -> dict[str, Any] | None:
    """The customer's register row now, or as it stood at the moments asked about, with its lapsed consents
    (`_with_lapses`); fails if they were not registered then."""
    services = bootstrap()
    if valid_at is None and known_at is None:
        record = customer_record(services.settings, customer_id)
        if record is None:
            with Session(services.engine) as session:
                kept = merged_into(session, customer_id)
            return _merged(customer_id, kept, valid_at, known_at) if kept is not None else None
        with Session(services.engine) as session:
            kinds = address_kinds(customer_state(session, customer_id), hidden=bool(record["protected"]))
            merged = merged_customers(session, [customer_id]).get(customer_id, [])
            return {**with_lapsed_consents(record, lapsed_consents(session, customer_id)), "address_kinds": kinds, "merged_customer_ids": merged}
    with Session(services.engine) as session:
        found = state_at_moment(session, customer_id, valid_at=valid_at, known_at=known_at, keys=services.keys)
    if found.state is not None and found.state.merged_into is not None:  # merged by then: the kept customer answers
        return _merged(customer_id, found.state.merged_into, valid_at, known_at)
    past = record_at(found)
    if past is None and found.known:
        behind = " (the audit trail holds none of their events: is the audit projection running?)" if found.trail_events == 0 else ""
        fail(f"{customer_id} was not a registered customer at {found.valid_at.isoformat()} as known at {found.known_at.isoformat()}{behind}.")
    if past is None:
        return None
    kinds = address_kinds(found.state, hidden=found.protected_ever)
    merged = sorted(found.state.merged_from) if found.state is not None else []  # those merged by then, as known then
    return {**with_lapsed_consents(past, _lapsed_then(customer_id, found)), "address_kinds": kinds, "merged_customer_ids": merged}


def address_kinds(state: CustomerState | None, *, hidden: bool) -> list[dict[str, Any]]:
    """The population register's addresses over time (`CustomerState.registered_addresses`), each with its kind and
    whether it is the end of that kind; none while the identity is (or, in the past, has ever been) protected."""
    if state is None or hidden or state.protected:
        return []
    return [
        {"kind": a.kind.value, "effective_date": a.effective_date.isoformat(), "ended": a.ended, **_lines(a.value)}
        for a in state.registered_addresses
    ]


def _lines(address: Any) -> dict[str, Any]:
    return {"care_of": address.care_of, "street": address.street, "postal_code": address.postal_code, "city": address.city, "country": address.country}


def _describe_kind(entry: dict[str, Any]) -> str:
    where = ", ".join(part for part in (entry["care_of"], entry["street"], f"{entry['postal_code']} {entry['city']}".strip(), entry["country"]) if part)
    return f"{entry['kind']} {'ended' if entry['ended'] else 'from'} {entry['effective_date']}: {where}"


def _merged(customer_id: str, kept: str, valid_at: datetime | None, known_at: datetime | None) -> dict[str, Any] | None:
    """The record of the customer `customer_id` was merged into, saying so on standard error and in `redirected_from`."""
    errors.print(f"{customer_id} was merged into {kept} as a duplicate; showing {kept}.")
    record = _record(kept, valid_at, known_at)
    return {**record, "redirected_from": customer_id} if record is not None else None


def _lapsed_then(customer_id: str, found: StateAt) -> list[LapsedConsent]:
    """The consents the customer held at the moment asked about that had lapsed by then (expiry not yet known then)."""
    day = found.valid_at.astimezone(UTC).date()
    consents = found.state.consents if found.state is not None else ()
    return [
        LapsedConsent(customer_id, c.purpose.value, c.channel.value, c.company, c.lapses_on)
        for c in sorted(consents, key=lambda c: (c.lapses_on or day, c.purpose.value, c.channel.value, c.company))
        if c.lapses_on is not None and c.lapses_on <= day
    ]


@advise_on_failure
def customer_contacts(
    company_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a company's contact persons: those it has now, then those who left and when (those of the companies
    merged into it as duplicates too; a merged company's id answers for the company it was merged into)."""
    services = bootstrap()
    view = company_contacts(services.settings, company_id)
    if view is None:
        with Session(services.engine) as session:
            kept = merged_into(session, company_id)
        if kept is not None:  # as `customer show` does: say so, and answer for the kept company
            errors.print(f"{company_id} was merged into {kept} as a duplicate; showing {kept}.")
            found = company_contacts(services.settings, kept)
            company_id, view = kept, {**found, "redirected_from": company_id} if found is not None else None
    if view is None:
        fail(f"No customer {company_id} in the register. Check the id, or whether the projection is running (registervard project).")
    if as_json:
        console.print_json(json.dumps(view, default=str))
        return
    title = view["company_name"] or company_id
    if view["kind"] != "COMPANY":
        console.print(f"[yellow]{company_id} is not registered as a company;[/yellow] contact persons who name it are listed all the same.")
    people = [*view["contact_persons"], *view["former_contact_persons"]]
    table = Table(whole("contact person", [p["customer_id"] for p in people]), folded("name"), "status", "left on", title=f"Contact persons of {title}")
    for person in people:
        name = " ".join(part for part in (person["given_names"], person["surname"]) if part) or ("(protected identity)" if person["protected"] else "")
        table.add_row(person["customer_id"], name, person["status"], str(person["left_on"]) if person["left_on"] else "")
    console.print(table)
    now, before = len(view["contact_persons"]), len(view["former_contact_persons"])
    console.print(f"{now} contact person(s) now, {before} who left. Phone and e-mail: --json.")
