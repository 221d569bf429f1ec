"""The register health report in the console: `/console/health`, a company chooser, and the report as a file.

Roles: those the roles table gives `health_report` (admin, auditor). The figures are `projections.health_report`'s,
read from the whole audit trail, which takes a while on a large register (seconds for 100,000 customers, minutes for
millions): so a request never computes it. The report is computed in a background thread, one at a time for each
company and period (`Reports`); until it is done the page says since when and how far it has come, refreshes itself
every few seconds (a `Refresh` header: no script) and shows the last finished report meanwhile, if there is one. A
finished report is shown for `KEEP_SECONDS`, then computed anew; "compute again" (a POST with the CSRF token) starts
that at once. The download link is the same: the file of the last finished report, or a page that waits for the first.
The report holds counts only, so no disclosure is recorded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from events.contactability import load_rules
from events.settings import Settings
from projections.data_keys import key_store
from projections.health_report import HealthReport, companies, customers_in_trail, health_report
from registervard.deadletter_actions import Letters, read_letters
from registervard.web.formatting import SWEDISH_TIME
from registervard.web.health_document import health_document, number, report_sections, source_note
from registervard.web.session import PREFIX, ConsoleUser, console_user, render, require_csrf
from registervard.web.texts import texts
from registervard.web.wording import say

log = structlog.get_logger("registervard.console")

router = APIRouter()

KEEP_SECONDS = 600.0
"""How long a computed report is shown before it is computed again."""
REFRESH_SECONDS = 3
"""How often a page waiting for a report asks again."""
LETTERS_TIMEOUT = 5.0
"""Seconds the computation waits for the dead-letter topic; then the report says the letters could not be read."""
MAX_COMPANY = 300
NO_COMPANY = "-"
"""The chooser's value for "no company" (contactability not reckoned)."""
PERIODS = (12, 24, 36)
"""How many months back the page may show (each month's end a point)."""

Key = tuple[str, int]
"""A report's company ("" for none) and period."""


@dataclass(frozen=True)
class Computed:
    """A finished report and when it was computed."""

    report: HealthReport
    at: datetime
    monotonic: float


@dataclass
class Job:
    """A report being computed: since when, and how many of how many customers it has read."""

    started: datetime
    total: int | None = None
    done: int = 0


@dataclass(frozen=True)
class Failure:
    """The last computation of a report failed: when, and the kind of error (never its message: it may hold data)."""

    at: datetime
    error: str


class Reports:
    """The reports of one register (one per app, in `app.state.health_reports`): the last finished one of each company
    and period, the one being computed, and the last failure. At most one computation per company and period runs."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._finished: dict[Key, Computed] = {}
        self._running: dict[Key, Job] = {}
        self._failed: dict[Key, Failure] = {}
        self._companies: tuple[float, list[str]] | None = None

    def fresh(self, key: Key) -> Computed | None:
        """The finished report, if it was computed less than `KEEP_SECONDS` ago (and not asked to be computed again)."""
        with self._changed:
            found = self._finished.get(key)
        return found if found is not None and time.monotonic() - found.monotonic < KEEP_SECONDS else None

    def last(self, key: Key) -> Computed | None:
        """The last finished report, however old."""
        with self._changed:
            return self._finished.get(key)

    def running(self, key: Key) -> Job | None:
        with self._changed:
            return self._running.get(key)

    def failed(self, key: Key) -> Failure | None:
        with self._changed:
            return self._failed.get(key)

    def start(self, key: Key, work: Callable[[Job], HealthReport]) -> Job:
        """Compute the report in a thread of its own with `work` (told the job, to say how far it has come), unless it is
        being computed already; the job either way."""
        with self._changed:
            job = self._running.get(key)
            if job is not None:
                return job
            job = self._running[key] = Job(datetime.now(UTC))
            self._failed.pop(key, None)
        threading.Thread(target=self._compute, args=(key, job, work), name=f"health-report-{key[1]}", daemon=True).start()
        return job

    def _compute(self, key: Key, job: Job, work: Callable[[Job], HealthReport]) -> None:
        try:
            report = work(job)
        except Exception as error:  # the page says so and offers to try again; the log has the kind of error, no data
            log.warning("health_report_failed", error_type=type(error).__name__, months=key[1])
            with self._changed:
                self._failed[key] = Failure(datetime.now(UTC), type(error).__name__)
                del self._running[key]
                self._changed.notify_all()
            return
        with self._changed:
            self._finished[key] = Computed(report, datetime.now(UTC), time.monotonic())
            del self._running[key]
            self._changed.notify_all()

    def forget(self, key: Key) -> None:
        """Have the report computed again at the next request; the last one is still shown meanwhile."""
        with self._changed:
            found = self._finished.get(key)
            if found is not None:
                self._finished[key] = replace(found, monotonic=float("-inf"))
            self._failed.pop(key, None)
            self._companies = None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no report is being computed (at most `timeout` s); whether none is."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._running, timeout)

    def companies(self, engine: Engine) -> list[str]:
        """The companies the consents name (`projections.health_report.companies`), read again after `KEEP_SECONDS`."""
        with self._changed:
            kept = self._companies
        if kept is not None and time.monotonic() - kept[0] < KEEP_SECONDS:
            return kept[1]
        with Session(engine) as session:
            named = companies(session)
        with self._changed:
            self._companies = (time.monotonic(), named)
        return named


def _reports(request: Request) -> Reports:
    state = request.app.state
    if not hasattr(state, "health_reports"):
        state.health_reports = Reports()
    reports: Reports = state.health_reports
    return reports


def _chosen(company: str | None) -> str | None:
    """The company asked for: None (not asked: the default), "" (no company) or its name."""
    if company is None:
        return None
    company = company.strip()
    return "" if company in ("", NO_COMPANY) else company


def _period(months: int | None) -> int:
    return months if months in PERIODS else PERIODS[0]


def _compute(settings: Settings, engine: Engine, company: str, months: int) -> Callable[[Job], HealthReport]:
    """The work of computing one report, in its own thread: the dead letters from Kafka, then the trail."""

    def work(job: Job) -> HealthReport:
        letters: Letters | None = None
        problem = None
        try:
            letters = asyncio.run(read_letters(settings, engine, timeout=LETTERS_TIMEOUT))
        except Exception as error:  # the report is made without them and says why
            log.warning("health_report_dead_letters_unread", error_type=type(error).__name__)
            problem = f"Kafka ({settings.kafka}) did not answer ({type(error).__name__})"

        def read(done: int) -> None:
            job.done = done

        with Session(engine) as session:
            job.total = customers_in_trail(session)
            return health_report(
                session,
                key_store(settings),
                months=months,
                company=company or None,
                rules=load_rules(settings.contact_rules),
                dead_letters=letters.letters if letters is not None else None,
                resolved_letters=letters.resolved if letters is not None else (),
                dead_letters_problem=problem,
                progress=read,
            )

    return work


@dataclass(frozen=True)
class Asked:
    """What a request asks for, and what there is to show of it."""

    key: Key
    companies: list[str]
    shown: Computed | None
    """The report to show: fresh, or the last finished one while another is computed."""
    job: Job | None
    """The computation under way (None: the report shown is fresh, or the last one failed)."""
    failure: Failure | None


async def _asked(request: Request, company: str | None, months: int | None) -> Asked:
    """The report asked for (company None: the one most consents name), starting its computation when there is no fresh
    one; answers at once."""
    reports = _reports(request)
    engine = request.app.state.database.engine()
    named = await run_in_threadpool(reports.companies, engine)
    asked = _chosen(company)
    key = ((named[0] if named else "") if asked is None else asked, _period(months))
    fresh = reports.fresh(key)
    if fresh is not None:
        return Asked(key, named, fresh, None, None)
    failure = reports.failed(key)
    job = reports.running(key)
    if job is None and failure is None:
        job = reports.start(key, _compute(request.app.state.settings, engine, *key))
    return Asked(key, named, reports.last(key), job, failure)


def _progress(asked: Asked, lang: str) -> str | None:
    """What the page says of a report being computed, or of the last computation that failed."""
    words = texts(lang)
    if asked.job is not None:
        job = asked.job
        started = job.started.astimezone(SWEDISH_TIME).strftime("%H:%M")
        if job.total is None:
            text = say(words, "health.pending.starting", at=started)
        else:
            text = say(words, "health.pending.progress", at=started, done=number(job.done), total=number(job.total))
        if asked.shown is not None:
            text += " " + say(words, "health.pending.meanwhile", at=asked.shown.at.astimezone(SWEDISH_TIME).strftime("%Y-%m-%d %H:%M"))
        return text
    if asked.failure is not None:
        return say(words, "health.pending.failed", at=asked.failure.at.astimezone(SWEDISH_TIME).strftime("%H:%M"), error=asked.failure.error)
    return None


def _waiting(response: Response, asked: Asked) -> Response:
    if asked.job is not None:
        response.headers["Refresh"] = str(REFRESH_SECONDS)  # the page asks again by itself (HTML's Refresh header): no script
    return response


@router.get("/health")
async def health_page(
    request: Request,
    user: ConsoleUser = console_user("health_report"),
    company: Annotated[str | None, Query(max_length=MAX_COMPANY)] = None,
    months: Annotated[int | None, Query()] = None,
) -> Response:
    """The report in the page: today's figures, the months before, charts with their tables, and the definitions; while
    it is computed, how far that has come (and the last finished report, if there is one)."""
    asked = await _asked(request, company, months)
    (company_shown, period), shown = asked.key, asked.shown
    query = urlencode({"company": company_shown or NO_COMPANY, "months": period})
    page = render(
        request,
        user,
        "health.html",
        sections=report_sections(shown.report, user.lang) if shown is not None else [],
        companies=asked.companies,
        company=company_shown or None,
        no_company=NO_COMPANY,
        periods=PERIODS,
        months=period,
        computed_at=shown.at if shown is not None else None,
        note=source_note(shown.report, user.lang, shown.at) if shown is not None else None,
        progress=_progress(asked, user.lang),
        computing=asked.job is not None,
        here_again=f"{PREFIX}/health?{query}",
        download=f"{PREFIX}/health/report.html?{query}",
    )
    return _waiting(page, asked)


@router.get("/health/report.html")
async def health_file(
    request: Request,
    user: ConsoleUser = console_user("health_report"),
    company: Annotated[str | None, Query(max_length=MAX_COMPANY)] = None,
    months: Annotated[int | None, Query()] = None,
) -> Response:
    """The report as one self-contained HTML file (CSS and SVG inline), to save, open offline and print: the last
    finished one; before the first is, a page (202) that says how far it has come and asks again by itself."""
    asked = await _asked(request, company, months)
    if asked.shown is None:
        query = urlencode({"company": asked.key[0] or NO_COMPANY, "months": asked.key[1]})
        page = render(
            request,
            user,
            "health_pending.html",
            status_code=202,
            progress=_progress(asked, user.lang),
            computing=asked.job is not None,
            here_again=f"{PREFIX}/health/report.html?{query}",
            page=f"{PREFIX}/health?{query}",
        )
        return _waiting(page, asked)
    computed = asked.shown
    day = computed.report.today.day.isoformat()
    name = f"registervard-halsa-{day}.html" if user.lang == "sv" else f"registervard-health-{day}.html"
    document = health_document(computed.report, user.lang, generated_at=computed.at)
    return HTMLResponse(
        document,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            # Opened from the console rather than saved, it runs nothing and fetches nothing.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
        },
    )


@router.post("/health")
async def recompute(
    request: Request,
    user: ConsoleUser = console_user("health_report"),
    company: Annotated[str, Form(max_length=MAX_COMPANY)] = NO_COMPANY,
    months: Annotated[int, Form()] = PERIODS[0],
) -> RedirectResponse:
    """Have the company's report computed afresh, and show the page (the last report meanwhile)."""
    await require_csrf(request, user)
    asked, period = _chosen(company) or "", _period(months)
    _reports(request).forget((asked, period))
    query = urlencode({"company": asked or NO_COMPANY, "months": period})
    return RedirectResponse(f"{PREFIX}/health?{query}", status_code=303)
