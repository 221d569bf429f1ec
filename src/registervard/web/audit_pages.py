"""The audit trail in the console: verify the hash chain from the page, and see when it last ran and what it found.

Role: those the roles table gives `audit_verify` (admin, auditor), as for `GET /audit/verify`. The check is
`projections.audit.verify_chain`, the same as `registervard audit verify`; each run is kept
(`registervard.audit_runs`) with its time, the key's name and what it found.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from events.settings import STATE_DIR
from projections.audit import verify_chain
from registervard.audit_runs import FILE_NAME, AuditRun, AuditRuns
from registervard.web.session import PREFIX, ConsoleUser, console_user, render, require_csrf

log = structlog.get_logger("registervard.console")

router = APIRouter()


def audit_runs(request: Request) -> AuditRuns:
    """Where this app keeps its verifications: `app.state.audit_runs`, by default in the state directory."""
    state = request.app.state
    if not hasattr(state, "audit_runs"):
        state.audit_runs = AuditRuns(STATE_DIR / FILE_NAME, state.settings.database_url)
    runs: AuditRuns = state.audit_runs
    return runs


@router.get("/audit")
def audit_page(request: Request, user: ConsoleUser = console_user("audit_verify")) -> HTMLResponse:
    """The last verification (and the ones before it), and the button that runs one."""
    runs = audit_runs(request).recent()
    return render(request, user, "audit.html", last=runs[0] if runs else None, runs=runs)


@router.post("/audit/verify")
async def verify(request: Request, user: ConsoleUser = console_user("audit_verify")) -> RedirectResponse:
    """Recompute every entry's hash and link, keep what was found, and show it."""
    await require_csrf(request, user)
    engine = request.app.state.database.engine()

    def check() -> AuditRun:
        started = time.perf_counter()
        ran_at = datetime.now(UTC)
        with Session(engine) as session:
            result = verify_chain(session)
        return AuditRun.of(result, ran_at=ran_at, by=user.name, seconds=time.perf_counter() - started)

    run = await run_in_threadpool(check)
    await run_in_threadpool(audit_runs(request).record, run)
    log.info("console_audit_verified", intact=run.intact, entries=run.entries, broken_seq=run.broken_seq, key_id=user.key_id)
    return RedirectResponse(f"{PREFIX}/audit", status_code=303)
