"""The register's health: is it getting better or worse? Figures for a day and for the months before it.

Every figure is read from the audit trail (`projections.audit`, one row per message of the canonical log, sealed
bytes and all) with the one fold: each customer's events, in log order, are folded as they stood at each point in
time, as the register knew them then (`events.timeline`, valid at = known at = the point; `replay --as-of`). So a
point shows what the register said that day, and a death reported in June does not make April look worse after the
fact: the report a board was given in April can be given again, the same. The figures of "the day" are those of the
last point, the report's moment (now, for today).

One pass over the trail in customer order, streamed (500 customers' events opened together, their keys looked up in
one batch), computes every point at once. A customer's events are folded once per distinct set of events that hold
at the points (for most customers one set: all their events happened before the first point), each state is looked
at once with the points it holds at, and what it adds to the figures is counted under a small key (`_Tally`), so
customers alike are added up together; a contactability decision is made once per state and span of time in which
no date of the state falls (`decision_moments`). The cost grows with the register's events, not events times points.

Measured (bench/health_report_speed.py, 2 cores shared with other work): 100,000 customers (236,839 events, sealed)
on SQLite in 22-27 s, 3.5-3.9 times as long as reading and decoding the trail alone (before the streamed pass and
the counting by key, in the same runs: 25-32 s, 4.7-5.8 times). What is left is the one fold's own work, per event:
decoding (a quarter), unsealing and the key look-ups (a quarter), folding (an eighth), deciding contactability (a
fifth).

What each figure means, at a point P (its day D = P's date in UTC):

* **customers by status**: customers registered by P, by the status the fold gives them at P (ACTIVE, DECEASED,
  EMIGRATED, DEREGISTERED, ERASED; an erasure counts from when it was recorded, at every later point).
* **the shares' denominator**, "active customers": customers whose status at P is ACTIVE (persons and companies
  alike), leaving out those erased since: their data can no longer be read for any moment, so whether they had an
  address then cannot be told. Every share below is a count of these customers over their number.
* **missing address**: active customers for whom the register holds no postal address at all.
* **undeliverable address**: active customers who have an address that post cannot be sent to as it stands: a
  protected identity (the address must not be disclosed to anyone, so post goes only through the Tax Agency), or, for
  a person, an address abroad (country other than SE) although the population register has them living in Sweden.
  The register records no returned mail; when it does, that belongs here too.
* **missing phone**, **missing e-mail**: active customers with no phone number, with no e-mail address.
* **latest NIX register version**: the newest NIX-Telefon register version any customer's NIX status was read from
  (NixRegistered / NixDeregistered, `register_version_date`, or the day the event happened when it gave none: what
  `registervard nix import` records for every customer with a phone). Its age is D minus that date; it is **red**
  when it is 2 months old or older (`nix.wash_valid_months` of the contactability rules in force): a call list
  washed against it may no longer be called from. Beside it, **numbers washed**: active customers with a phone
  whose current number has a NIX status from a version under 2 months old, of active customers with a phone.
* **consents lapsing**: consents in force at P (given, not withdrawn, not expired, not past their lapse date) whose
  lapse date (`lapses_on`, the first day they no longer apply) falls within the next 30 days: D < lapses_on <= D + 30.
  Counted as consents, of all consents in force. **Lapsed, expiry not recorded**: consents the register still
  holds although their lapse date has come (the worker's expiry timer has yet to record them).
* **contactable by telemarketing**, **by e-mail**, for a chosen company: active customers whom that company may call
  for TELEMARKETING on PHONE, may send MARKETING on EMAIL, at P, by `events.contactability.may_contact` and the rules
  in force at P.
* **dead letters per day by code**: dead letters on the dead-letter topic refused on each of the last 30 days up to
  D (UTC), by reason code, open and resolved alike; and the ones still open, by code. The topic is in Kafka, not
  here: the entry point reads it (`events.deadletters.read_dead_letters`) and hands the letters in.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.catalog import Channel, ConsentPurpose, CustomerErased, CustomerKind, Event
from events.contactability import Rules, load_rules, may_contact
from events.customer import CustomerState, Status, add_months, evolve
from events.event_log import LogRecord, open_records
from events.sealing import KeyStore
from events.timeline import FoldAt, start_of, valid_from
from projections.audit import AuditRow
from projections.tables import ConsentRow

STATUSES: tuple[str, ...] = tuple(status.value for status in Status)
"""Every status, in the order the report lists them."""

LAPSING_DAYS = 30
"""Consents lapsing within this many days after the day are "lapsing"."""

DEAD_LETTER_DAYS = 30
"""Dead letters are counted per day over this many days, up to and including the day."""

CHUNK = 500
"""Customers whose events are opened together (their keys looked up in one batch); progress is told after each."""

STREAM_ROWS = 2000
"""Trail entries fetched from the database at a time, in the one pass over the trail."""

TELEMARKETING = (Channel.PHONE, ConsentPurpose.TELEMARKETING)
EMAIL_MARKETING = (Channel.EMAIL, ConsentPurpose.MARKETING)


# --- Points in time ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """A moment the figures are taken at: `at` is both the moment in the world and of the register's knowledge."""

    label: str
    """How a table or a chart names it: YYYY-MM for a month's end, YYYY-MM-DD for the report's day."""
    at: datetime


def end_of(day: date) -> datetime:
    """The last moment of `day`, UTC (as `--valid-at 2025-06-01` means it on the command line)."""
    return datetime.combine(day, time.max, tzinfo=UTC)


def month_points(day: date, *, months: int = 12, now: datetime | None = None) -> list[Point]:
    """The ends of the `months` months before `day`'s month, then `day` itself: at `now` when `day` is today (UTC), else at
    the end of `day`."""
    now = now or datetime.now(UTC)
    points = []
    for back in range(months, 0, -1):
        index = day.year * 12 + day.month - 1 - back
        year, month = divmod(index, 12)
        last = date(year, month + 1, calendar.monthrange(year, month + 1)[1])
        points.append(Point(f"{last:%Y-%m}", end_of(last)))
    points.append(Point(day.isoformat(), now if day == now.astimezone(UTC).date() else end_of(day)))
    return points


# --- Figures ----------------------------------------------------------------------------------


def share(part: int | None, whole: int | None) -> float | None:
    """part / whole, or None when there is nothing to divide by (or no part)."""
    if part is None or not whole:
        return None
    return part / whole


@dataclass
class PointFigures:
    """The figures at one point; the module's documentation defines each. Counts of customers unless said otherwise."""

    point: Point
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    """Customers registered by the point, by status."""
    protected: int = 0
    """Active customers with a protected identity (a part of the active ones)."""
    active: int = 0
    """The shares' denominator: active customers whose data can be read."""
    missing_address: int = 0
    undeliverable_address: int = 0
    missing_phone: int = 0
    missing_email: int = 0
    with_phone: int = 0
    """Active customers with a phone number: the denominator of `washed`."""
    washed: int = 0
    """Of those, the ones whose current number has a NIX status from a version under 2 months old."""
    nix_version: date | None = None
    """The latest NIX register version the register had read by the point."""
    consents_in_force: int = 0
    """Consents (not customers) in force at the point."""
    consents_lapsing: int = 0
    """Of those, the ones whose lapse date is within the next 30 days."""
    consents_lapsed_unrecorded: int = 0
    """Consents past their lapse date still held (expiry not yet recorded); not among those in force."""
    telemarketing: int | None = None
    """Active customers the chosen company may call for telemarketing; None without a company."""
    email_marketing: int | None = None
    """Active customers the chosen company may send marketing by e-mail; None without a company."""

    @property
    def registered(self) -> int:
        """Customers registered by the point, whatever their status."""
        return sum(self.by_status.values())

    @property
    def day(self) -> date:
        return self.point.at.astimezone(UTC).date()

    def nix_stale(self, valid_months: int) -> bool:
        """Whether the latest NIX version read by the point is `valid_months` months old or older (or there is none): a
        call list washed against it may not be called from."""
        return self.nix_version is None or add_months(self.nix_version, valid_months) <= self.day

    def nix_age_days(self) -> int | None:
        """Days from the latest NIX register version to the point's day; None if NIX was never read."""
        return None if self.nix_version is None else (self.day - self.nix_version).days


@dataclass(frozen=True)
class LapsingConsents:
    """Consents in force at the day that lapse within 30 days, for one company, purpose and channel."""

    company: str
    purpose: str
    channel: str
    count: int
    first: date
    """The earliest lapse date among them."""


class Letter(Protocol):
    """What the report reads of a dead letter (`events.deadletters.DeadLetter` is one)."""

    @property
    def ref(self) -> str: ...

    @property
    def rejected_at(self) -> datetime: ...

    @property
    def reason_code(self) -> str: ...


@dataclass(frozen=True)
class DeadLetterFigures:
    """Dead letters per day by code over the last days up to the report's day, and those open by code."""

    days: tuple[date, ...]
    codes: tuple[str, ...]
    """The codes of the letters refused in those days, most frequent first."""
    per_day: Mapping[tuple[date, str], int]
    """(day, code) -> letters refused that day with that code."""
    open_by_code: Mapping[str, int]
    """Every open (not resolved) letter on the topic, whenever refused, by code."""
    total: int
    """Every letter on the topic."""

    def on(self, day: date, code: str) -> int:
        return self.per_day.get((day, code), 0)

    @property
    def in_window(self) -> int:
        """Letters refused in the days counted."""
        return sum(self.per_day.values())


def dead_letter_figures(letters: Iterable[Letter], day: date, *, resolved: Iterable[str] = (), days: int = DEAD_LETTER_DAYS) -> DeadLetterFigures:
    """Count `letters` per day (UTC) and code over the `days` days up to `day`; `resolved` are the refs of those resolved."""
    window = tuple(day - timedelta(days=back) for back in range(days - 1, -1, -1))
    first = window[0]
    done = set(resolved)
    per_day: Counter[tuple[date, str]] = Counter()
    open_by_code: Counter[str] = Counter()
    total = 0
    for letter in letters:
        total += 1
        refused_on = letter.rejected_at.astimezone(UTC).date() if letter.rejected_at.tzinfo else letter.rejected_at.date()
        if first <= refused_on <= day:
            per_day[(refused_on, letter.reason_code)] += 1
        if letter.ref not in done:
            open_by_code[letter.reason_code] += 1
    by_code: Counter[str] = Counter()
    for (_, code), count in per_day.items():
        by_code[code] += count
    codes = tuple(code for code, _ in sorted(by_code.items(), key=lambda item: (-item[1], item[0])))
    return DeadLetterFigures(window, codes, dict(per_day), dict(sorted(open_by_code.items())), total)


@dataclass(frozen=True)
class HealthReport:
    """Every figure of the register's health report."""

    points: tuple[PointFigures, ...]
    """One per point, oldest first; the last is the report's day."""
    company: str | None
    """The company contactability is reckoned for; None: not reckoned."""
    lapsing: tuple[LapsingConsents, ...]
    """Consents lapsing within 30 days of the day, by company, purpose and channel."""
    nix_valid_months: int
    """How long a NIX wash counts (the rules in force at the day)."""
    customers_read: int
    """Customers whose events were read from the trail."""
    entries_skipped: int
    """Trail entries that could not be opened (as every reader skips them)."""
    dead_letters: DeadLetterFigures | None = None
    """None: not read (`dead_letters_problem` says why)."""
    dead_letters_problem: str | None = None

    @property
    def today(self) -> PointFigures:
        """The figures of the report's day (the last point)."""
        return self.points[-1]

    @property
    def nix_red(self) -> bool:
        """Whether the latest NIX register version is too old to wash a call list against (or NIX was never read)."""
        return self.today.nix_stale(self.nix_valid_months)


# --- Reading the trail ------------------------------------------------------------------------


def trail_customers(
    session: Session, keys: KeyStore | None, *, chunk: int = CHUNK, skipped: Callable[[int], None] | None = None
) -> Iterator[tuple[str, list[Event]]]:
    """Each customer in the audit trail with their events in log order, opened (decoded, unsealed with `keys`), a
    duplicate delivery left out. Entries that cannot be opened are skipped, counted through `skipped`.

    One pass over the trail in the order of the customer id index, streamed (never the whole trail in memory): the
    events of `chunk` customers are opened together, so their keys are looked up in one batch."""
    query = (
        select(AuditRow.customer_id, AuditRow.topic, AuditRow.partition, AuditRow.offset, AuditRow.payload)
        .where(AuditRow.duplicate_of_seq.is_(None))
        .order_by(AuditRow.customer_id, AuditRow.seq)
        .execution_options(yield_per=STREAM_ROWS)
    )
    batch: list[LogRecord] = []
    ids: list[str] = []
    for customer_id, topic, partition, offset, payload in session.execute(query):
        if not ids or customer_id != ids[-1]:
            if len(ids) == chunk:
                yield from _opened(ids, batch, keys, skipped)
                batch, ids = [], []
            ids.append(customer_id)
        batch.append(LogRecord(topic, partition, offset, payload))
    if ids:
        yield from _opened(ids, batch, keys, skipped)


def _opened(
    ids: Sequence[str], records: Sequence[LogRecord], keys: KeyStore | None, skipped: Callable[[int], None] | None
) -> Iterator[tuple[str, list[Event]]]:
    """The customers `ids` with their events opened from `records` (theirs, in log order); each customer with an event
    that could be opened."""
    opened, unreadable = open_records(records, keys)  # keys looked up once for the whole batch (`unseal_each`)
    if unreadable and skipped is not None:
        skipped(len(unreadable))
    by_customer: dict[str, list[Event]] = {}
    for logged in opened:
        by_customer.setdefault(logged.event.customer_id, []).append(logged.event)
    for customer_id in ids:
        if customer_id in by_customer:
            yield customer_id, by_customer[customer_id]


def customers_in_trail(session: Session) -> int:
    """How many customers the audit trail holds events of: what a progress bar counts up to."""
    return session.scalar(select(func.count(func.distinct(AuditRow.customer_id)))) or 0


def states_at(events: Sequence[Event], points: Sequence[Point]) -> list[CustomerState | None]:
    """One customer's state at each point, as known then (`events.timeline`): the one fold of the events that hold at
    it, folded once per distinct set of such events."""
    latest = max(max(event.envelope.recorded_at, valid_from(event)) for event in events)
    folded: dict[tuple[bool, ...], CustomerState | None] = {}
    everything = (True,) * len(events)
    found = []
    for point in points:
        if point.at >= latest:
            chosen = everything  # every event happened and was known by then
        else:
            fold = FoldAt(valid_at=point.at, known_at=point.at)
            chosen = tuple(fold.holds(event) for event in events)
        if chosen not in folded:
            state = None
            for event, holds in zip(events, chosen, strict=True):
                if holds:
                    state = evolve(state, event)
            folded[chosen] = state
        found.append(folded[chosen])
    return found


# --- The report -------------------------------------------------------------------------------


def companies(session: Session) -> list[str]:
    """The companies named by the consents in the register, the one with the most customers first: what a report may
    reckon contactability for."""
    rows = session.execute(
        select(ConsentRow.company, func.count(func.distinct(ConsentRow.customer_id)).label("customers"))
        .group_by(ConsentRow.company)
        .order_by(func.count(func.distinct(ConsentRow.customer_id)).desc(), ConsentRow.company)
    )
    return [company for company, _ in rows]


def health_report(
    session: Session,
    keys: KeyStore | None,
    *,
    day: date | None = None,
    months: int = 12,
    company: str | None = None,
    rules: Rules | None = None,
    now: datetime | None = None,
    dead_letters: Iterable[Letter] | None = None,
    resolved_letters: Iterable[str] = (),
    dead_letters_problem: str | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> HealthReport:
    """The register's health at `day` (default today, UTC) and at the end of each of the `months` months before it.

    `keys` unseal the events (None leaves personal data sealed: every customer then looks as if erased); `company`
    chooses whose contactability is reckoned (None: not reckoned); `rules` are the contactability rules (default: the
    packaged file). `dead_letters` are the letters on the dead-letter topic, read by the caller, with the refs of
    those `resolved_letters`; None when they could not be read (`dead_letters_problem` says why). `progress` is told
    how many customers were read, after each `chunk` of them (`customers_in_trail` says how many there are).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    day = day or now.date()
    rules = rules or load_rules()
    points = month_points(day, months=months, now=now)
    tally = _Tally(points, company, rules)
    read = skipped = 0

    def count_skipped(entries: int) -> None:
        nonlocal skipped
        skipped += entries

    for _, events in trail_customers(session, keys, chunk=chunk, skipped=count_skipped):
        tally.add(events)
        read += 1
        if progress is not None and read % chunk == 0:
            progress(read)
    if progress is not None:
        progress(read)
    letters = None
    if dead_letters is not None:
        letters = dead_letter_figures(dead_letters, day, resolved=resolved_letters)
    return HealthReport(
        points=tuple(tally.figures()),
        company=company,
        lapsing=tuple(tally.lapsing_groups()),
        nix_valid_months=rules.in_force(points[-1].at).nix_wash_valid_months,
        customers_read=read,
        entries_skipped=skipped,
        dead_letters=letters,
        dead_letters_problem=dead_letters_problem if letters is None else None,
    )


@dataclass(frozen=True)
class _Facts:
    """What the report reads of one state that does not depend on the point's day, worked out once however many points
    share it. Hashable: customers with the same facts at the same points are counted together."""

    status: str
    active: bool
    protected: bool
    missing_address: bool
    undeliverable: bool
    has_phone: bool
    has_email: bool
    nix_version: date | None


Indices = tuple[int, ...]
"""The points (their indices) a state holds at."""


class _Tally:
    """Adds each customer's states at the points into the points' figures.

    A customer's state is usually the same at many points (most customers' events all happened before the first), so
    each state is looked at once with the points it holds at, and what it contributes is counted under a small key
    (its facts, its consents' lapse dates, its phone's NIX version, its decisions) with those points: customers alike
    share a key. `figures` spreads the keys' counts over the points once at the end, doing per point only the few
    comparisons with the point's day."""

    def __init__(self, points: Sequence[Point], company: str | None, rules: Rules) -> None:
        self.points = points
        self.company = company
        self.rules = rules
        self.ats = [point.at for point in points]
        self.days = [point.at.date() for point in points]
        self.valid_months = [rules.in_force(point.at).nix_wash_valid_months for point in points]
        self.last = len(points) - 1
        self._facts: Counter[tuple[Indices, _Facts]] = Counter()
        self._consents: Counter[tuple[Indices, tuple[date | None, ...]]] = Counter()
        self._washes: Counter[tuple[Indices, date | None]] = Counter()
        """Active customers with a phone, by the version of the NIX status of their current number (None: none)."""
        self._reach: Counter[tuple[Indices, bool, bool]] = Counter()
        """Active customers by whether they may be called for telemarketing and be e-mailed marketing."""
        self._lapsing: dict[tuple[str, str, str], list[date]] = {}

    def add(self, events: Sequence[Event]) -> None:
        """Count one customer (their events in log order) in at every point."""
        erased_since = any(isinstance(event, CustomerErased) for event in events)
        held: dict[int, tuple[CustomerState, list[int]]] = {}
        for index, state in enumerate(states_at(events, self.points)):
            if state is not None and state.registered:
                held.setdefault(id(state), (state, []))[1].append(index)
        for state, indices in held.values():
            at = tuple(indices)
            facts = _facts_of(state, readable=not erased_since)
            self._facts[(at, facts)] += 1
            if state.consents:
                self._consents[(at, tuple(consent.lapses_on for consent in state.consents))] += 1
            if facts.active:
                if facts.has_phone:
                    phone = state.contact.phone if state.contact else None
                    status = next((entry for entry in state.nix if entry.phone == phone), None)
                    self._washes[(at, status.as_of if status is not None else None)] += 1
                if self.company is not None:
                    self._decide(state, at)
            if at[-1] == self.last:
                self._note_lapsing(state)

    def _decide(self, state: CustomerState, at: Indices) -> None:
        """Decide contactability once per span of the points `at` in which no moment of `decision_moments` falls."""
        spans: dict[int, list[int]] = {}
        if len(at) == 1:
            spans[0] = [at[0]]
        else:
            # The decision changes only at a moment one of the state's dates (or the rules) names: between two such
            # moments every comparison `may_contact` makes of the moment asked about comes out the same.
            moments = decision_moments(state, self.rules)
            for index in at:
                spans.setdefault(bisect_right(moments, self.ats[index]), []).append(index)
        for indices in spans.values():
            first = indices[0]
            self._reach[(tuple(indices), self._may(state, first, *TELEMARKETING), self._may(state, first, *EMAIL_MARKETING))] += 1

    def figures(self) -> list[PointFigures]:
        """Every point's figures, from the counts of all the customers added."""
        figures = [PointFigures(point) for point in self.points]
        for (at, facts), customers in self._facts.items():
            for index in at:
                figure = figures[index]
                figure.by_status[facts.status] += customers
                if facts.nix_version is not None and (figure.nix_version is None or facts.nix_version > figure.nix_version):
                    figure.nix_version = facts.nix_version
                if facts.active:
                    figure.active += customers
                    figure.protected += customers * facts.protected
                    figure.missing_address += customers * facts.missing_address
                    figure.undeliverable_address += customers * facts.undeliverable
                    figure.missing_phone += customers * (not facts.has_phone)
                    figure.missing_email += customers * (not facts.has_email)
        for (at, lapse_dates), customers in self._consents.items():
            for index in at:
                figure, day = figures[index], self.days[index]
                soon = day + timedelta(days=LAPSING_DAYS)
                for lapses_on in lapse_dates:
                    if lapses_on is not None and lapses_on <= day:
                        figure.consents_lapsed_unrecorded += customers
                        continue
                    figure.consents_in_force += customers
                    if lapses_on is not None and lapses_on <= soon:
                        figure.consents_lapsing += customers
        for (at, version), customers in self._washes.items():
            for index in at:
                figure, day = figures[index], self.days[index]
                figure.with_phone += customers
                if version is not None and version <= day < add_months(version, self.valid_months[index]):
                    figure.washed += customers
        for (at, telemarketing, email), customers in self._reach.items():
            for index in at:
                figure = figures[index]
                figure.telemarketing = (figure.telemarketing or 0) + customers * telemarketing
                figure.email_marketing = (figure.email_marketing or 0) + customers * email
        return figures

    def _may(self, state: CustomerState, index: int, channel: Channel, purpose: ConsentPurpose) -> bool:
        assert self.company is not None
        return may_contact(state, channel=channel, purpose=purpose, company=self.company, at=self.ats[index], rules=self.rules).allowed

    def _note_lapsing(self, state: CustomerState) -> None:
        day = self.days[-1]
        for consent in state.consents:
            if consent.lapses_on is not None and day < consent.lapses_on <= day + timedelta(days=LAPSING_DAYS):
                self._lapsing.setdefault((consent.company, consent.purpose.value, consent.channel.value), []).append(consent.lapses_on)

    def lapsing_groups(self) -> list[LapsingConsents]:
        groups = [LapsingConsents(company, purpose, channel, len(dates), min(dates)) for (company, purpose, channel), dates in self._lapsing.items()]
        return sorted(groups, key=lambda group: (group.first, group.company, group.purpose, group.channel))


def decision_moments(state: CustomerState, rules: Rules) -> list[datetime]:
    """Every moment at which a contactability decision about `state` may change, sorted: each date the state carries
    (from its start, 00:00 UTC), each consent's giving, each NIX wash's end, each version of the rules. `may_contact`
    compares the moment asked about with these and nothing else, so two moments between the same two of them get the
    same decision (a test holds the report to deciding at every point)."""
    moments = {version.valid_from for version in rules.versions if version.valid_from is not None}
    months = {version.nix_wash_valid_months for version in rules.versions}
    for day in (state.deceased_on, state.emigrated_on, state.immigrated_on, state.deregistered_on):
        if day is not None:
            moments.add(start_of(day))
    for consent in state.consents:
        moments.add(consent.given_at)
        moments.update(start_of(day) for day in (consent.lapses_on, consent.valid_until) if day is not None)
    for entry in state.nix:
        moments.add(start_of(entry.as_of))
        moments.update(start_of(add_months(entry.as_of, n)) for n in months)
    return sorted(moments)


def _facts_of(state: CustomerState, *, readable: bool) -> _Facts:
    address = state.address
    versions = [entry.as_of for entry in state.nix]
    abroad = address is not None and address.country != "SE" and state.kind is CustomerKind.PERSON
    return _Facts(
        status=state.status.value,
        active=state.status is Status.ACTIVE and readable,
        protected=state.protected,
        missing_address=address is None,
        undeliverable=address is not None and (state.protected or abroad),
        has_phone=bool(state.contact and state.contact.phone),
        has_email=bool(state.contact and state.contact.email),
        nix_version=max(versions) if versions else None,
    )
