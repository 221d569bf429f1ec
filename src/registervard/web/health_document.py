"""The register health report as sections of charts and tables: in the console's page, and as a file of its own.

`report_sections(report, lang)` turns the figures (`projections.health_report`) into sections, each a chart (SVG from
`health_charts`) and the tables of the same figures, in the chosen language (`web/texts/operations.*.toml`).
`health_document(report, lang)` is the downloadable report: one HTML file with its CSS and SVG inline and nothing
to fetch, that a board or an auditor opens offline and prints. No customer's data is in it: counts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from projections.health_report import STATUSES, HealthReport, share
from registervard.web.formatting import swedish_date, swedish_moment
from registervard.web.health_charts import Series, bar_chart, line_chart
from registervard.web.texts import texts
from registervard.web.wording import say

_TEMPLATES = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def number(value: int | None) -> str:
    """A count with a thin space between thousands, as both languages may write it."""
    return "–" if value is None else f"{value:,}".replace(",", "\u00a0")


def percent(value: float | None, lang: str) -> str:
    """A share as a percentage with one decimal: 12,5 % (Swedish), 12.5% (English); a dash for none."""
    if value is None:
        return "–"
    text = f"{value * 100:.1f}"
    return f"{text.replace('.', ',')}\u00a0%" if lang == "sv" else f"{text}%"


@dataclass(frozen=True)
class Table:
    """A table of figures: a caption, its headers, and rows of cells (the first cell heads its row)."""

    caption: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    alerts: frozenset[int] = frozenset()
    """Indexes of rows that call for attention (shown with a warning)."""
    caption_hidden: bool = False
    """The caption says what the section's heading says: read to screen readers, not shown."""


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, what it shows, a chart (or none) and the tables of the same figures."""

    id: str
    title: str
    intro: str = ""
    chart: Markup | None = None
    tables: Sequence[Table] = ()
    notes: Sequence[str] = field(default_factory=tuple)


def report_sections(report: HealthReport, lang: str) -> list[Section]:
    """Every section of the report, in the order it is read."""
    words = texts(lang)
    return [
        _today(report, words, lang),
        _statuses(report, words),
        _details(report, words, lang),
        _nix(report, words, lang),
        _consents(report, words),
        _contactability(report, words, lang),
        _letters(report, words),
        _definitions(words),
    ]


def _labels(report: HealthReport) -> list[str]:
    return [figures.point.label for figures in report.points]


def _of(words: Mapping[str, str], part: int | None, whole: int | None) -> str:
    return say(words, "health.of", part=number(part), whole=number(whole))


def _today(report: HealthReport, words: Mapping[str, str], lang: str) -> Section:
    now = report.today
    months = report.nix_valid_months
    rows: list[list[str]] = [
        [words["health.today.registered"], number(now.registered), ""],
        [words["health.today.active"], number(now.active), ""],
    ]
    for key, part in (
        ("missing_address", now.missing_address),
        ("undeliverable", now.undeliverable_address),
        ("missing_phone", now.missing_phone),
        ("missing_email", now.missing_email),
    ):
        rows.append([words[f"health.today.{key}"], percent(share(part, now.active), lang), _of(words, part, now.active)])
    alerts = set()
    if now.nix_version is None:
        nix_detail = words["health.today.nix_never"]
    else:
        nix_detail = say(words, "health.today.nix_red" if report.nix_red else "health.today.nix_ok", months=months)
    if report.nix_red:
        alerts.add(len(rows))
    age = now.nix_age_days()
    rows.append(
        [
            words["health.today.nix"],
            words["health.never"] if now.nix_version is None else f"{swedish_date(now.nix_version)} ({say(words, 'health.days', days=age)})",
            nix_detail,
        ]
    )
    rows.append([say(words, "health.today.washed", months=months), percent(share(now.washed, now.with_phone), lang), _of(words, now.washed, now.with_phone)])
    rows.append([words["health.today.lapsing"], number(now.consents_lapsing), _of(words, now.consents_lapsing, now.consents_in_force)])
    rows.append([words["health.today.lapsed_unrecorded"], number(now.consents_lapsed_unrecorded), ""])
    if report.company is not None:
        for key, reached in (("telemarketing", now.telemarketing), ("email_marketing", now.email_marketing)):
            rows.append([say(words, f"health.today.{key}", company=report.company), percent(share(reached, now.active), lang), _of(words, reached, now.active)])
    if report.dead_letters is not None:
        rows.append([words["health.today.dead_letters_open"], number(sum(report.dead_letters.open_by_code.values())), ""])
    table = Table(
        say(words, "health.today.title", day=swedish_date(now.day)),
        (words["health.today.figure"], words["health.today.value"], words["health.today.detail"]),
        rows,
        frozenset(alerts),
        caption_hidden=True,
    )
    return Section("today", say(words, "health.today.title", day=swedish_date(now.day)), tables=(table,))


def _statuses(report: HealthReport, words: Mapping[str, str]) -> Section:
    shown = [status for status in STATUSES if status == "ACTIVE" or any(f.by_status.get(status) for f in report.points)]
    names = [words.get(f"status.{status.lower()}", status.lower()) for status in shown]
    title = words["health.status.title"]
    series = [Series(name, [f.by_status.get(status, 0) for f in report.points]) for status, name in zip(shown, names, strict=True)]
    chart = line_chart("chart-status", title, words["health.status.desc"], _labels(report), series)
    rows = [[f.point.label, *(number(f.by_status.get(s, 0)) for s in shown), number(f.registered), number(f.protected)] for f in report.points]
    headers = (words["health.point"], *names, words["health.status.total"], words["health.status.protected"])
    table = Table(say(words, "health.table_of", title=title), headers, rows)
    return Section("status", title, words["health.status.intro"], chart, (table,))


def _details(report: HealthReport, words: Mapping[str, str], lang: str) -> Section:
    title = words["health.details.title"]
    measures = (
        ("missing_address", lambda f: f.missing_address),
        ("undeliverable", lambda f: f.undeliverable_address),
        ("missing_phone", lambda f: f.missing_phone),
        ("missing_email", lambda f: f.missing_email),
    )
    series = [Series(words[f"health.details.{key}"], [share(get(f), f.active) for f in report.points]) for key, get in measures]
    chart = line_chart("chart-details", title, words["health.details.desc"], _labels(report), series, percent=True, lang=lang)
    rows = [[f.point.label, number(f.active), *(f"{percent(share(get(f), f.active), lang)} ({number(get(f))})" for _, get in measures)] for f in report.points]
    headers = (words["health.point"], words["health.details.active"], *(words[f"health.details.{key}"] for key, _ in measures))
    return Section("details", title, words["health.details.intro"], chart, (Table(say(words, "health.table_of", title=title), headers, rows),))


def _nix(report: HealthReport, words: Mapping[str, str], lang: str) -> Section:
    months = report.nix_valid_months
    title = words["health.nix.title"]
    rows = []
    alerts = set()
    for index, f in enumerate(report.points):
        stale = f.nix_stale(months)
        if stale:
            alerts.add(index)
        rows.append(
            [
                f.point.label,
                swedish_date(f.nix_version) if f.nix_version else words["health.never"],
                say(words, "health.days", days=f.nix_age_days()) if f.nix_version else words["health.none"],
                words["health.nix.stale" if stale else "health.nix.fresh"],
                f"{percent(share(f.washed, f.with_phone), lang)} ({_of(words, f.washed, f.with_phone)})",
            ]
        )
    headers = (
        words["health.point"],
        words["health.nix.version"],
        words["health.nix.age"],
        words["health.nix.state"],
        say(words, "health.nix.washed", months=months),
    )
    table = Table(say(words, "health.table_of", title=title), headers, rows, frozenset(alerts))
    return Section("nix", title, say(words, "health.nix.intro", months=months), None, (table,))


def _consents(report: HealthReport, words: Mapping[str, str]) -> Section:
    title = words["health.consents.title"]
    groups = [
        [
            group.company,
            words.get(f"purpose.{group.purpose}", group.purpose),
            words.get(f"channel.{group.channel}", group.channel),
            number(group.count),
            swedish_date(group.first),
        ]
        for group in report.lapsing
    ]
    tables = []
    notes = []
    if groups:
        keys = ("health.consents.company", "health.consents.purpose", "health.consents.channel", "health.count", "health.consents.first")
        headers = tuple(words[key] for key in keys)
        tables.append(Table(say(words, "health.table_of", title=title), headers, groups))
    else:
        notes.append(words["health.consents.none"])
    over_time = [[f.point.label, number(f.consents_in_force), number(f.consents_lapsing), number(f.consents_lapsed_unrecorded)] for f in report.points]
    tables.append(
        Table(
            words["health.consents.over_time"],
            (words["health.point"], words["health.consents.in_force"], words["health.consents.lapsing"], words["health.consents.lapsed_unrecorded"]),
            over_time,
        )
    )
    return Section("consents", title, words["health.consents.intro"], None, tables, notes)


def _contactability(report: HealthReport, words: Mapping[str, str], lang: str) -> Section:
    if report.company is None:
        return Section("contact", say(words, "health.contact.title", company="–"), notes=(words["health.contact.none"],))
    title = say(words, "health.contact.title", company=report.company)
    series = [
        Series(words["health.contact.telemarketing"], [share(f.telemarketing, f.active) for f in report.points]),
        Series(words["health.contact.email"], [share(f.email_marketing, f.active) for f in report.points]),
    ]
    chart = line_chart("chart-contact", title, words["health.contact.desc"], _labels(report), series, percent=True, lang=lang)
    rows = [
        [
            f.point.label,
            number(f.active),
            f"{percent(share(f.telemarketing, f.active), lang)} ({number(f.telemarketing)})",
            f"{percent(share(f.email_marketing, f.active), lang)} ({number(f.email_marketing)})",
        ]
        for f in report.points
    ]
    headers = (words["health.point"], words["health.details.active"], words["health.contact.telemarketing"], words["health.contact.email"])
    intro = say(words, "health.contact.intro", company=report.company)
    return Section("contact", title, intro, chart, (Table(say(words, "health.table_of", title=title), headers, rows),))


def _letters(report: HealthReport, words: Mapping[str, str]) -> Section:
    title = words["health.letters.title"]
    letters = report.dead_letters
    if letters is None:
        return Section("letters", title, notes=(say(words, "health.letters.unread", reason=report.dead_letters_problem or "–"),))
    days = [swedish_date(day)[5:] for day in letters.days]  # MM-DD: the year is the report's
    stacks = [Series(code, [letters.on(day, code) for day in letters.days]) for code in letters.codes]
    chart = bar_chart("chart-letters", title, words["health.letters.desc"], days, stacks)
    tables = []
    notes = []
    busy = [day for day in letters.days if any(letters.on(day, code) for code in letters.codes)]
    if busy:
        rows = [
            [swedish_date(day), *(number(letters.on(day, code)) for code in letters.codes), number(sum(letters.on(day, code) for code in letters.codes))]
            for day in busy
        ]
        tables.append(Table(say(words, "health.table_of", title=title), (words["health.letters.day"], *letters.codes, words["health.letters.total"]), rows))
    else:
        notes.append(words["health.letters.none"])
    if letters.open_by_code:
        rows = [[code, number(count)] for code, count in letters.open_by_code.items()]
        tables.append(Table(words["health.letters.open_title"], (words["health.letters.code"], words["health.letters.open"]), rows))
    else:
        notes.append(words["health.letters.none_open"])
    return Section("letters", title, words["health.letters.intro"], chart, tables, notes)


def _definitions(words: Mapping[str, str]) -> Section:
    keys = ("points", "status", "active", "missing_address", "undeliverable", "missing_contact", "nix", "consents", "contact", "letters")
    return Section("definitions", words["health.definitions.title"], notes=tuple(words[f"health.definitions.{key}"] for key in keys))


def source_note(report: HealthReport, lang: str, generated_at: datetime) -> str:
    """When and from what the report was made (and how many trail entries could not be read)."""
    words = texts(lang)
    note = say(words, "health.generated", at=swedish_moment(generated_at), customers=number(report.customers_read))
    if report.entries_skipped:
        note += " " + say(words, "health.skipped", count=number(report.entries_skipped))
    return note


def health_document(report: HealthReport, lang: str, *, generated_at: datetime | None = None) -> str:
    """The report as one self-contained HTML file (CSS and SVG inline, nothing fetched), to open offline and print."""
    words = texts(lang)
    moment = generated_at or datetime.now(UTC)
    return _TEMPLATES.get_template("health_document.html").render(
        lang=lang,
        t=words,
        title=say(words, "health.doc_title", day=swedish_date(report.today.day)),
        sections=report_sections(report, lang),
        note=source_note(report, lang, moment),
        company=report.company,
    )

