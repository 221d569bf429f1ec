"""The register health report in the console: `/console/health`, a company chooser, and the report as a file.

Roles: those the roles table gives `health_report` (admin, auditor). The figures are `projections.health_report`'s,
read from the whole audit trail, which takes a while on a large register (37 s for 100,000 customers on a shared
two-core machine): a computed report is kept for `KEEP_SECONDS` per company, the page says when it was
computed, and "compute again" (a POST with the CSRF token) computes it afresh. The report holds counts only, so no
disclosure is recorded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from events.contactability import load_rules
from projections.data_keys import key_store
from projections.health_report import HealthReport, companies, health_report
from registervard.deadletter_actions import Letters, in_worker_thread, read_letters
from registervard.web.health_document import health_document, report_sections, source_note
from registervard.web.session import PREFIX, ConsoleUser, console_user, render, require_csrf

log = structlog.get_logger("registervard.console")

router = APIRouter()

KEEP_SECONDS = 600.0
"""How long a computed report is shown before it is computed again."""
LETTERS_TIMEOUT = 5.0
"""Seconds the page waits for the dead-letter topic; then the report says the letters could not be read."""
MAX_COMPANY = 300
NO_COMPANY = "-"
"""The chooser's value for "no company" (contactability not reckoned)."""
PERIODS = (12, 24, 36)
"""How many months back the page may show (each month's end a point)."""


@dataclass(frozen=True)
class Computed:
    """A report, the companies one may choose among, and when it was computed."""

    report: HealthReport
    companies: list[str]
    at: datetime
    monotonic: float


class Reports:
    """Computed reports by company, each kept `KEEP_SECONDS` (one per app, in `app.state.health_reports`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str | None, int], Computed] = {}

    def get(self, company: str | None, months: int) -> Computed | None:
        with self._lock:
            found = self._kept.get((company, months))
        return found if found is not None and time.monotonic() - found.monotonic < KEEP_SECONDS else None

    def put(self, company: str | None, months: int, computed: Computed) -> None:
        with self._lock:
            self._kept[(company, months)] = computed

    def forget(self, company: str | None) -> None:
        """Forget the company's reports, for every period."""
        with self._lock:
            for key in [key for key in self._kept if key[0] == company]:
                del self._kept[key]


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


async def _computed(request: Request, asked: str | None, months: int) -> Computed:
    """The report for the company asked about (None: the one most consents name) over `months`, computed or kept."""
    reports = _reports(request)
    found = reports.get(asked, months)
    if found is not None:
        return found
    settings = request.app.state.settings
    engine = request.app.state.database.engine()
    letters: Letters | None = None
    problem = None
    try:
        letters = await in_worker_thread(read_letters(settings, engine, timeout=LETTERS_TIMEOUT))
    except Exception as error:  # the report is made without them and says why
        log.warning("health_report_dead_letters_unread", error_type=type(error).__name__)
        problem = f"Kafka ({settings.kafka}) did not answer ({type(error).__name__})"

    def compute() -> Computed:
        with Session(engine) as session:
            named = companies(session)
            company = (named[0] if named else None) if asked is None else (asked or None)
            report = health_report(
                session,
                key_store(settings),
                months=months,
                company=company,
                rules=load_rules(settings.contact_rules),
                dead_letters=letters.letters if letters is not None else None,
                resolved_letters=letters.resolved if letters is not None else (),
                dead_letters_problem=problem,
            )
        return Computed(report, named, datetime.now(UTC), time.monotonic())

    computed = await run_in_threadpool(compute)
    reports.put(asked, months, computed)
    return computed


@router.get("/health")
async def health_page(
    request: Request,
    user: ConsoleUser = console_user("health_report"),
    company: Annotated[str | None, Query(max_length=MAX_COMPANY)] = None,
    months: Annotated[int | None, Query()] = None,
) -> HTMLResponse:
    """The report in the page: today's figures, the months before, charts with their tables, and the definitions."""
    asked, period = _chosen(company), _period(months)
    computed = await _computed(request, asked, period)
    report = computed.report
    query = urlencode({"company": report.company or NO_COMPANY, "months": period})
    return render(
        request,
        user,
        "health.html",
        sections=report_sections(report, user.lang),
        companies=computed.companies,
        company=report.company,
        no_company=NO_COMPANY,
        periods=PERIODS,
        months=period,
        computed_at=computed.at,
        note=source_note(report, user.lang, computed.at),
        download=f"{PREFIX}/health/report.html?{query}",
    )


@router.get("/health/report.html")
async def health_file(
    request: Request,
    user: ConsoleUser = console_user("health_report"),
    company: Annotated[str | None, Query(max_length=MAX_COMPANY)] = None,
    months: Annotated[int | None, Query()] = None,
) -> Response:
    """The report as one self-contained HTML file (CSS and SVG inline), to save, open offline and print."""
    computed = await _computed(request, _chosen(company), _period(months))
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
    """Forget the kept report for the company, and show the page, computed afresh."""
    await require_csrf(request, user)
    asked = _chosen(company)
    reports = _reports(request)
    reports.forget(asked)
    reports.forget(None)  # the default company's report too: the page may have shown it as the default
    query = urlencode({"company": asked or NO_COMPANY, "months": _period(months)})
    return RedirectResponse(f"{PREFIX}/health?{query}", status_code=303)

