"""`registervard wash` shows on standard error how far a long list has come, a bar per step, and keeps standard
output the answer alone. On a SQLite register (tests/small_register.py), no broker."""

from __future__ import annotations

import csv
import io

from typer.testing import CliRunner

from registervard.cli import app as cli
from tests import small_register
from tests.small_register import AT

ROWS = 250


def test_wash_shows_a_bar_for_each_step_on_standard_error_and_standard_output_stays_the_answer(tmp_path):
    env = {"REGISTERVARD_DATABASE_URL": small_register.build(tmp_path / "register.db"), "COLUMNS": "120"}
    calls = tmp_path / "ringlista.csv"
    calls.write_text("Namn;Telefon\n" + "".join(f"Rad {n};070-123 45 6{n % 10}\n" for n in range(ROWS)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["wash", str(calls), "--company", "Acme AB", "--at", AT], env=env)
    assert result.exit_code == 0, result.output
    bars = {line.split("━")[0].strip(): line for line in result.stderr.splitlines() if "━" in line}
    assert list(bars) == ["Reading rows", "Looking up customers", "Washing rows", "Writing the answer"], result.stderr
    assert f"{ROWS}/{ROWS}" in bars["Reading rows"] and f"{ROWS}/{ROWS}" in bars["Washing rows"] and f"{ROWS}/{ROWS}" in bars["Writing the answer"]
    answer = list(csv.reader(io.StringIO(result.stdout), delimiter=";"))
    assert answer[0] == ["Namn", "Telefon", "Får ringas", "Skäl", "Förklaring"] and len(answer) == ROWS + 1
    assert "━" not in result.stdout
