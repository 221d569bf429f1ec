"""The health report as people get it: `registervard health` (printed, and the file it writes) and the charts.

The register is the small known one of `test_health_report` (its docstring shows the figures worked out by hand).
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from typer.testing import CliRunner

from projections.data_keys import key_store_for_engine
from projections.database import connect
from registervard.cli import app
from registervard.web.health_charts import Series, bar_chart, line_chart, nice_top
from tests.unit.test_health_report import build

ADDRESS = re.compile(r"(?:https?:)?//[^\s\"'<>)]+|\b(?:src|href)\s*=", re.IGNORECASE)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def _addresses(text: str) -> set[str]:
    """Every web address or resource reference in `text`, but the SVG namespace (a name, never fetched)."""
    return {found for found in ADDRESS.findall(text) if found != SVG_NAMESPACE}


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The known register, its data keys in its own database as the commands find them."""
    url = f"sqlite:///{tmp_path_factory.mktemp('health-cli') / 'register.db'}"
    engine = connect(url)
    try:
        build(url, key_store_for_engine(engine))
    finally:
        engine.dispose()
    return url


def test_registervard_health_prints_the_figures_and_writes_a_report_that_needs_no_network(register: str, tmp_path: Path) -> None:
    """On 2025-06-15 (as computed by hand in test_health_report): 7 active; no phone 3/7 = 42.9%; no address 1/7 =
    14.3%; undeliverable 2/7 = 28.6%; Acme may call 2/7 = 28.6%; NIX version 2025-05-20, 26 days old. Kafka does not
    answer (port 1): the report is made without dead letters and says so."""
    output = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["health", "--day", "2025-06-15", "--months", "2", "--company", "Acme AB", "--output", str(output)],
        env={"REGISTERVARD_DATABASE_URL": register, "REGISTERVARD_KAFKA": "127.0.0.1:1"},
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    def row(label: str) -> str:
        return " ".join(next(line for line in lines if label in line).split())

    # The first line of each row (rich wraps the labels at 80 columns).
    assert "│ 7 │ 1 of them protected" in row("active customers (the")
    assert "│ 42.9% │ 3 of 7 │" in row("active without a phone")
    assert "│ 14.3% │ 1 of 7 │" in row("active without an address")
    assert "│ 28.6% │ 2 of 7 │" in row("active with an")
    assert "│ 2025-05-20 (26 days) │" in row("latest NIX register")
    assert "│ 28.6% │ 2 of 7 │" in row("may be called")
    printed = " ".join(result.stdout.split())
    assert re.search(r"Customers read from the audit trail .* 10/10", result.stderr), "progress on standard error, not among the figures"
    assert "Customers read" not in result.stdout
    assert "Dead letters: not read (Kafka at 127.0.0.1:1 did not answer" in printed

    document = output.read_text(encoding="utf-8")
    assert document.startswith("<!doctype html>") and '<html lang="sv">' in document
    assert "<script" not in document.lower() and "<link" not in document.lower() and "@import" not in document
    assert _addresses(document) == set(), "the report file must load nothing from anywhere"
    assert document.count("<svg ") == 3, "status, details and contactability charts (no dead letters: Kafka does not answer)"
    assert "42,9\u00a0%" in document and "Acme AB" in document
    for personal in ("Anna", "Svensson", "+46701000001", "anna@example.se", "198112189876", "Storgatan"):
        assert personal not in document, "the report holds counts, never a customer's data"


def test_a_chart_is_an_accessible_svg_that_needs_no_style_element_and_no_address() -> None:
    chart = line_chart("c1", "Kunder per status", "Antal kunder per status", ["2025-05", "2025-06"], [Series("aktiv", [3, 4]), Series("avliden", [0, None])])
    root = ElementTree.fromstring(str(chart))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{{{SVG_NAMESPACE}}}title").text == "Kunder per status"  # type: ignore[union-attr]
    assert root.find(f"{{{SVG_NAMESPACE}}}desc").text == "Antal kunder per status"  # type: ignore[union-attr]
    bars = str(bar_chart("c2", "Döda brev", "per dag", ["06-14", "06-15"], [Series("A&B <code>", [1, 2])]))
    for svg in (str(chart), bars):
        assert "<style" not in svg and "style=" not in svg and "<script" not in svg, "the console's CSP refuses inline styles and scripts"
        assert _addresses(svg) == set()
    assert "A&amp;B &lt;code&gt;" in bars  # a code is text, never markup


@pytest.mark.parametrize(
    ("largest", "percent", "expected"),
    [(0, False, (4.0, 1.0)), (7, False, (8.0, 2.0)), (2, False, (2.0, 1.0)), (0.4286, True, (0.6, 0.2)), (0.05, True, (0.06, 0.02))],
)
def test_the_axis_top_is_a_round_number_at_or_above_the_largest_value(largest: float, percent: bool, expected: tuple[float, float]) -> None:
    top, step = nice_top(largest, percent)
    assert (round(top, 6), round(step, 6)) == expected
