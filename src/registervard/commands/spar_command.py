"""`registervard spar import` and `registervard spar request`: SPAR notification files in, the infile of numbers out.

`import` reads a notification file (registervard/spar_files.py), finds each person's customers in the register by
identity number (the keyed-hash identity lookup, as `customer find` does; or a mapping file), compares each record
with the customer's state (events/spar_changes.py) and publishes what changed. A person the register does not know
is named (line and a masked number) and not created. The file is read record by record and handled `BATCH_RECORDS`
at a time, so its size does not matter.

`request` writes the identity numbers of the register's active people, one per line, for SPAR to subscribe or to
answer with their current records.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.catalog import CustomerKind, Event
from events.customer import CustomerState, Status
from events.identity import IdentityNumberError, parse_identity_number
from events.publish import Publisher
from events.spar_changes import changes
from events.spar_elements import TABLE
from events.spar_records import SparRecord
from projections.lookup import stored_number_hash
from projections.register import load_states
from projections.tables import CustomerRow, IdentityLookupRow
from registervard import catch_up, exit_codes
from registervard.bootstrap import Services, bootstrap
from registervard.console import advise_on_failure, console, errors, fail, progress, run
from registervard.spar_files import BrokenFile, CustomerMapping, ReadRecord, UnsafeFile, read_mapping, read_records

app = typer.Typer(help="SPAR (Statens personadressregister): notification files in, the infile of identity numbers out.", no_args_is_help=True)

BATCH_RECORDS = 1000
"""Records looked up in the register and published together."""

REMEMBERED_STATES = 50_000
"""Customers whose state after this run's events is kept, so that a second record of theirs in the same file is
compared with what the first one changed (the register has not applied it yet). The oldest are forgotten first."""

LISTED_MESSAGES = 1000
"""Messages printed at most; the rest are counted."""


@dataclass
class _Tally:
    """What an import found: counts, and the first messages (place and reason; never a value of the file)."""

    records: int = 0
    customers: int = 0
    changed: int = 0
    unchanged: int = 0
    left_alone: int = 0
    """Customers that are companies or erased: SPAR's records are about people, and an erased customer takes no facts."""
    unknown: int = 0
    records_left_out: int = 0
    problems: int = 0
    refused_events: int = 0
    events: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    unlisted: int = 0

    def say(self, message: str) -> None:
        if len(self.messages) < LISTED_MESSAGES:
            self.messages.append(message)
        else:
            self.unlisted += 1

    @property
    def refused(self) -> bool:
        return bool(self.unknown or self.records_left_out or self.problems or self.refused_events)


@dataclass(frozen=True)
class _Run:
    services: Services
    mapping: CustomerMapping | None
    as_of: date
    """The file's day (its modification time): its entries are read as current on it, and a fact without a date is dated it."""
    now: datetime
    publish: bool


@app.command("import")
@advise_on_failure
def import_notifications(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A SPAR notification file (XML, schema 2023.1): change, current-state or full.")],
    mapping: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="CSV of identity_number;customer_id: these customers, and only these, are the file's people "
            "(for a register whose identity numbers are kept elsewhere). Default: the register's own identity lookup.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Compare and report, publish nothing.")] = False,
    wait: Annotated[bool, typer.Option(help="After publishing, wait until the worker has admitted every event and the register has applied them.")] = False,
    wait_timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds (exit 1; the events stay published).")] = 3600,
) -> None:
    """Publish what a SPAR notification file says has changed about the register's customers.

    Each person's record is compared with their customer's state, and only what differs is published, with SPAR as
    the source: a move (AddressChanged), a new name, a civil status, a protected identity set or lifted, a death, an
    emigration or another deregistration, a block on direct marketing by post. Importing the same file again, once
    the register has applied it, publishes nothing. A person the register does not know is named on standard error
    (line and a masked number) and not created; an element that cannot be read is named by line and element path,
    and the rest of the file goes on. Exits 4 when anything was refused or not found, 1 for a file that is not
    well-formed XML (what came before the break is published) or that declares a document type (nothing is read)."""
    services = bootstrap()
    customers = None
    tally = _Tally()
    if mapping is not None:
        try:
            customers = read_mapping(mapping)
        except (ValueError, OSError) as error:
            fail(escape(f"{mapping.name}: {error}"))
        for line, message in customers.problems:
            tally.say(f"{mapping.name} line {line}: {message}")
        tally.problems += len(customers.problems)
    day = datetime.fromtimestamp(int(file.stat().st_mtime), UTC).date()
    options = _Run(services, customers, day, datetime.now(UTC), publish=not dry_run)
    broken: BrokenFile | None = None
    late: str | None = None
    try:
        with progress() as bar:
            task = bar.add_task("Reading records" if dry_run else "Publishing changes", total=None)
            broken, late = run(_import_and_wait(options, file, tally, lambda: bar.advance(task), wait=wait and not dry_run, timeout=wait_timeout))
    except UnsafeFile as error:
        fail(escape(f"{file.name}: {error}"))
    _report(tally, file, dry_run=dry_run)
    if broken is not None:
        fail(escape(f"{file.name}: {broken}. Correct the file (or ask SPAR for it again) and import it again: what was published takes effect once."))
    if late is not None:
        fail(late)
    if tally.refused:
        raise typer.Exit(exit_codes.SOME_REFUSED)


def _report(tally: _Tally, file: Path, *, dry_run: bool) -> None:
    for message in tally.messages:
        errors.print(message, markup=False, highlight=False, soft_wrap=True)
    if tally.unlisted:
        errors.print(f"... and {tally.unlisted} more message(s).", markup=False, highlight=False)
    say = lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    say(
        f"{file.name}: {tally.records} record(s) read (SPAR schema {TABLE.schema_version}); {tally.customers} customer(s) found: "
        f"{tally.changed} with changes, {tally.unchanged} already up to date"
        + (f", {tally.left_alone} left alone (companies or erased)" if tally.left_alone else "")
        + "."
    )
    published = sum(tally.events.values())
    kinds = ", ".join(f"{name} {count}" for name, count in sorted(tally.events.items()))
    verb = "would be published (dry run: nothing published)" if dry_run else "published"
    say(f"{published} event(s) {verb}{': ' + kinds if kinds else ''}.")
    if tally.refused:
        say(
            f"Not done: {tally.unknown} person(s) not in the register (not created), {tally.records_left_out} record(s) left out, "
            f"{tally.problems} element(s) or line(s) that could not be read, {tally.refused_events} change(s) refused; "
            "each is named on standard error."
        )


async def _import_and_wait(
    options: _Run, file: Path, tally: _Tally, on_record: Callable[[], None], *, wait: bool, timeout: float
) -> tuple[BrokenFile | None, str | None]:
    """Import the file; with `wait`, wait for the register. What broke the file, if it broke; advice if the wait ran out."""
    settings = options.services.settings
    before = await catch_up.mark(settings) if wait else None
    broken = await _import(options, file, tally, on_record)
    if before is None or not tally.events:
        return broken, None
    after = await catch_up.end_offsets(settings, settings.intake_topic)
    try:
        await catch_up.wait_until_current(settings, options.services.engine, before, after, timeout=timeout)
    except catch_up.NotCaughtUp as not_yet:
        return broken, str(not_yet)
    return broken, None


async def _import(options: _Run, file: Path, tally: _Tally, on_record: Callable[[], None]) -> BrokenFile | None:
    """One pass over the file: each batch of records looked up, compared and published (unless a dry run)."""
    remembered: dict[str, CustomerState] = {}
    batch: list[ReadRecord] = []
    broken = None
    reading = read_records(file)
    try:
        first = [read for read in [next(reading, None)] if read is not None]  # an unsafe file is refused before Kafka is asked
    except BrokenFile as error:
        first, broken = [], error
    async with contextlib.AsyncExitStack() as stack:
        publisher = await stack.enter_async_context(Publisher(options.services.settings)) if options.publish and first else None
        try:
            for read in itertools.chain(first, reading if broken is None else ()):
                tally.records += 1
                on_record()
                batch.append(read)
                if len(batch) >= BATCH_RECORDS:
                    await _settle(options, batch, tally, remembered, publisher)
        except BrokenFile as error:
            broken = error
        await _settle(options, batch, tally, remembered, publisher)
    return broken


async def _settle(options: _Run, batch: list[ReadRecord], tally: _Tally, remembered: dict[str, CustomerState], publisher: Publisher | None) -> None:
    """Find the batch's customers, compare each record with them, say what could not be done in the file's order,
    publish what changed, and empty the batch."""
    found = _customers_of(options, [read.record for read in batch if read.record is not None])
    with Session(options.services.engine) as session:
        wanted = sorted({c for ids in found.values() for c in ids} - remembered.keys())
        states = {**load_states(session, wanted), **remembered} if wanted else dict(remembered)
    events: list[Event] = []
    for read in batch:
        for problem in read.problems:
            tally.say(str(problem))
        record = read.record
        if record is None:
            tally.records_left_out += 1
            continue
        tally.problems += len(read.problems)
        ids = found.get(record.identity_number, ())
        if not ids:
            tally.unknown += 1
            tally.say(f"{record.where}: {record.masked_reference} is not in the register; nothing created [UNKNOWN_PERSON]")
        for customer_id in ids:
            events.extend(_compare(options, record, customer_id, states, tally, remembered))
    batch.clear()
    if publisher is not None and events:
        await publisher.publish(events)


def _compare(
    options: _Run, record: SparRecord, customer_id: str, states: dict[str, CustomerState], tally: _Tally, remembered: dict[str, CustomerState]
) -> tuple[Event, ...]:
    """The events one record gives for one of its customers, counted and said."""
    state = states.get(customer_id)
    if state is None or not state.registered:
        tally.unknown += 1
        tally.say(f"{record.where}: the mapping names customer {customer_id}, which the register does not have; nothing published [UNKNOWN_CUSTOMER]")
        return ()
    tally.customers += 1
    if state.kind is not CustomerKind.PERSON or state.status is Status.ERASED:
        tally.left_alone += 1
        return ()
    result = changes(record, state, as_of=options.as_of, fallback_day=options.as_of, now=options.now)
    states[customer_id] = result.state  # a later record of theirs in this batch compares with it
    for where, refusal in result.refused:
        tally.refused_events += 1
        tally.say(f"{where}: {refusal} [{refusal.code}]")
    for where, note in result.notes:  # told, not refused: the exit status stays
        tally.say(f"{where}: customer {customer_id}: {note} [{note.code}]")
    if result.events:
        tally.changed += 1
        tally.events.update(type(event).__name__ for event in result.events)
        _remember(remembered, customer_id, result.state)
    elif not result.refused:
        tally.unchanged += 1
    return result.events


def _remember(remembered: dict[str, CustomerState], customer_id: str, state: CustomerState) -> None:
    remembered.pop(customer_id, None)
    remembered[customer_id] = state
    if len(remembered) > REMEMBERED_STATES:
        remembered.pop(next(iter(remembered)))


def _customers_of(options: _Run, records: Iterable[SparRecord]) -> dict[str, tuple[str, ...]]:
    """Each record's identity number → the customers it is, by the mapping file or by the register's identity lookup
    (a keyed hash of the number, never the number itself; a person registered twice is both customers)."""
    numbers = {record.identity_number for record in records}
    if options.mapping is not None:
        return {number: options.mapping.customers[number] for number in numbers if number in options.mapping.customers}
    key = options.services.settings.lookup_key
    by_hash = {stored_number_hash(number, key): number for number in numbers}
    found: dict[str, list[str]] = {}
    hashes = sorted(by_hash)
    with Session(options.services.engine) as session:
        for start in range(0, len(hashes), 500):
            query = select(IdentityLookupRow.lookup_hash, IdentityLookupRow.customer_id).where(IdentityLookupRow.lookup_hash.in_(hashes[start : start + 500]))
            for digest, customer_id in session.execute(query):
                found.setdefault(by_hash[digest], []).append(customer_id)
    return {number: tuple(sorted(ids)) for number, ids in found.items()}


@app.command("request")
@advise_on_failure
def request_numbers(
    output: Annotated[Path, typer.Option(dir_okay=False, help="The file to write: one 12-digit identity number per line.")],
) -> None:
    """Write the infile for SPAR: the identity numbers of the register's active people, one 12-digit number per line.

    Active customers that are people with a personnummer or samordningsnummer; not companies, and not the deceased,
    emigrated, deregistered or erased. A protected identity's number is written like any other (SPAR must keep
    sending their record), and nothing else of anyone: the file holds numbers only, sorted, each once. It is
    written readable by its owner only (mode 600)."""
    services = bootstrap()
    numbers: set[str] = set()
    with Session(services.engine) as session:
        wanted = (CustomerRow.kind == CustomerKind.PERSON.value) & (CustomerRow.status == Status.ACTIVE.value) & CustomerRow.identity_number.is_not(None)
        for written in session.scalars(select(CustomerRow.identity_number).where(wanted)):
            try:
                number = parse_identity_number(written or "")
            except IdentityNumberError:
                continue  # a number the rules refuse today (accepted when it was logged): SPAR would refuse it too
            if number.is_person:
                numbers.add(number.number)
        total = session.scalar(select(func.count()).select_from(CustomerRow)) or 0
    temporary = output.with_name(output.name + ".part")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii", newline="\n") as stream:
            stream.writelines(f"{number}\n" for number in sorted(numbers))
        os.replace(temporary, output)
    except OSError as error:
        fail(escape(f"cannot write {output}: {error.strerror or error}. Choose a file in a folder you may write to."))
    console.print(
        f"{len(numbers)} identity number(s) written to {output}, one per line; {total - len(numbers)} of the register's {total} "
        "customer(s) left out (companies; deceased, emigrated, deregistered or erased; without an identity number; or a second "
        "customer id of the same person).",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
