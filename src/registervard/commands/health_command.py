"""`registervard health`: the register's health report, printed, and as a file for a board or an auditor.

The figures are `projections.health_report`'s (defined there, one by one); the file is the console's report page as
one self-contained HTML file (`registervard.web.health_document`). Dead letters come from Kafka: when it does not
answer, the rest of the report is still made and says so.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from events.contactability import load_rules
from projections.health_report import STATUSES, HealthReport, companies, customers_in_trail, health_report, share
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, progress, run
from registervard.deadletter_actions import read_letters
from registervard.listings import folded, whole


@advise_on_failure
def health_command(
    company: Annotated[
        str | None, typer.Option(help="The company whose contactability is reckoned; default: the one most customers' consents name.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the report as one HTML file (opens and prints offline).")] = None,
    day: Annotated[str | None, typer.Option(help="The report's day, YYYY-MM-DD (default: today, UTC).")] = None,
    months: Annotated[int, typer.Option(min=1, max=60, help="Months before the day to show, each at its end.")] = 12,
    lang: Annotated[str, typer.Option(help="Language of the file: sv or en.", case_sensitive=False)] = "sv",
) -> None:
    """The register's health: customers by status, missing details, NIX, lapsing consents, contactability and dead
    letters, for a day and at the end of each month before it; `--output` writes the downloadable report."""
    lang = lang.lower()
    if lang not in ("sv", "en"):
        raise typer.BadParameter("must be sv or en", param_hint="--lang")
    try:
        asked = date.fromisoformat(day) if day else None
    except ValueError:
        raise typer.BadParameter(f"{day!r} is not a date (YYYY-MM-DD)", param_hint="--day") from None
    services = bootstrap()
    settings = services.settings
    problem = None
    try:
        letters = run(read_letters(settings, services.engine))
    except (Exception, asyncio.CancelledError) as error:  # the report is still worth having without Kafka: it says the letters are missing
        letters, problem = None, f"Kafka at {settings.kafka} did not answer ({type(error).__name__})"
        errors.print(f"[yellow]Note:[/yellow] {problem}; the report is made without dead letters.")
    with Session(services.engine) as session:
        named = companies(session)
        if company is None and named:
            company = named[0]
            errors.print(f"Contactability is reckoned for {company}, the company most customers' consents name; --company chooses another.")
        elif company is not None and company not in named:
            errors.print(f"[yellow]Note:[/yellow] no consent in the register names {company!r}; check the spelling (named: {', '.join(named) or 'none'}).")
        total = customers_in_trail(session)
        with progress() as bar:  # on standard error, so that the report on standard output can be piped
            task = bar.add_task("Customers read from the audit trail", total=total)
            report = health_report(
                session,
                services.keys,
                day=asked,
                months=months,
                company=company,
                rules=load_rules(settings.contact_rules),
                dead_letters=letters.letters if letters else None,
                resolved_letters=letters.resolved if letters else (),
                dead_letters_problem=problem,
                progress=lambda done: bar.update(task, completed=done),
            )
    _print(report)
    if output is not None:
        from registervard.web.health_document import health_document  # the console's modules: only when a file is asked for

        output.write_text(health_document(report, lang, generated_at=datetime.now(UTC)), encoding="utf-8")
        console.print(f"Wrote the report to {output}: one HTML file, to open in any browser without a network and print.")


class _Rows:
    """Rows gathered before their table is made: a column that is never cut must know its widest value."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add_row(self, figure: str, value: str, basis: str) -> None:
        self.rows.append((figure, value, basis))


def _percent(part: int | None, whole: int) -> str:
    value = share(part, whole)
    return "-" if value is None else f"{value * 100:.1f}%"


def _print(report: HealthReport) -> None:
    now = report.today
    summary = _Rows()
    summary.add_row("registered customers", str(now.registered), ", ".join(f"{count} {status.lower()}" for status, count in now.by_status.items() if count))
    summary.add_row("active customers (the shares' denominator)", str(now.active), f"{now.protected} of them protected")
    for label, part in (
        ("active without an address", now.missing_address),
        ("active with an undeliverable address", now.undeliverable_address),
        ("active without a phone number", now.missing_phone),
        ("active without an e-mail address", now.missing_email),
    ):
        summary.add_row(label, _percent(part, now.active), f"{part} of {now.active}")
    months = report.nix_valid_months
    if now.nix_version is None:
        summary.add_row("latest NIX register version", "[red]never read[/red]", "nobody may be called for telemarketing")
    else:
        age = f"{now.nix_version.isoformat()} ({now.nix_age_days()} days)"
        verdict = f"{months} months old or older: wash against NIX again" if report.nix_red else f"under {months} months old"
        summary.add_row("latest NIX register version", f"[red]{age}[/red]" if report.nix_red else age, verdict)
    washed = f"{now.washed} of {now.with_phone} active with a phone"
    summary.add_row(f"numbers washed against NIX within {months} months", _percent(now.washed, now.with_phone), washed)
    summary.add_row("consents lapsing within 30 days", str(now.consents_lapsing), f"of {now.consents_in_force} in force")
    summary.add_row("consents past their lapse date, expiry not recorded", str(now.consents_lapsed_unrecorded), "")
    if report.company is not None:
        summary.add_row(f"may be called (telemarketing) by {report.company}", _percent(now.telemarketing, now.active), f"{now.telemarketing} of {now.active}")
        summary.add_row(f"may be e-mailed marketing by {report.company}", _percent(now.email_marketing, now.active), f"{now.email_marketing} of {now.active}")
    letters = report.dead_letters
    if letters is not None:
        by_code = ", ".join(f"{count} {code}" for code, count in letters.open_by_code.items())
        summary.add_row("open dead letters", str(sum(letters.open_by_code.values())), by_code)
    table = Table(
        folded("figure", ratio=3),
        whole("value", [row[1] for row in summary.rows]),
        folded("basis", ratio=2),
        title=f"Register health on {now.day.isoformat()}",
        title_justify="left",
    )
    for row in summary.rows:
        table.add_row(*row)
    console.print(table)

    shown = [status for status in STATUSES if status == "ACTIVE" or any(f.by_status.get(status) for f in report.points)]
    moments = whole("moment", [f.point.label for f in report.points])
    statuses = Table(moments, *(status.lower() for status in shown), "total", title="Customers by status", title_justify="left")
    for f in report.points:
        statuses.add_row(f.point.label, *(str(f.by_status.get(status, 0)) for status in shown), str(f.registered))
    console.print(statuses)

    details = Table(
        whole("moment", [f.point.label for f in report.points]),
        "active",
        "no address",
        "undeliver-\nable",
        "no phone",
        "no e-mail",
        title="Active customers without the detail",
        title_justify="left",
    )
    for f in report.points:
        details.add_row(
            f.point.label, str(f.active), *(_percent(part, f.active) for part in (f.missing_address, f.undeliverable_address, f.missing_phone, f.missing_email))
        )
    console.print(details)
    title = f"Contactability for {report.company} and NIX" if report.company is not None else "NIX"
    reach = Table(whole("moment", [f.point.label for f in report.points]), title=title, title_justify="left")
    if report.company is not None:
        reach.add_column("tele-\nmarketing")
        reach.add_column("e-mail")
    reach.add_column("NIX version", no_wrap=True)
    reach.add_column("washed")
    for f in report.points:
        contact = [_percent(f.telemarketing, f.active), _percent(f.email_marketing, f.active)] if report.company is not None else []
        version = f.nix_version.isoformat() if f.nix_version else "never"
        reach.add_row(f.point.label, *contact, f"[red]{version}[/red]" if f.nix_stale(report.nix_valid_months) else version, _percent(f.washed, f.with_phone))
    console.print(reach)

    if letters is None:
        console.print(f"Dead letters: not read ({report.dead_letters_problem}).")
    elif letters.in_window:
        per_day = Table("day", *letters.codes, title=f"Dead letters per day, the last {len(letters.days)} days", title_justify="left")
        for day in letters.days:
            counts = [letters.on(day, code) for code in letters.codes]
            if any(counts):
                per_day.add_row(day.isoformat(), *(str(count) for count in counts))
        console.print(per_day)
    else:
        console.print(f"Dead letters: none refused in the last {len(letters.days)} days.")
    if report.lapsing:
        lapsing = Table("company", "purpose", "channel", "consents", "first lapses", title="Consents lapsing within 30 days", title_justify="left")
        for group in report.lapsing:
            lapsing.add_row(group.company, group.purpose, group.channel, str(group.count), group.first.isoformat())
        console.print(lapsing)
    if report.entries_skipped:
        console.print(f"{report.entries_skipped} audit trail entries could not be read and are left out (`registervard quarantine`).")
