"""Exit statuses are the same for the same outcome in every command (registervard.exit_codes, the README's table), and
every choice (channel, purpose, reason, role, format, ...) is taken in any case, by the command line and the API alike.
On SQLite files, no broker."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from events.settings import Settings
from processors import worker_app
from projections.database import connect
from registervard import exit_codes
from registervard.api.api_keys import create_key, list_keys
from registervard.api.http_app import create_app
from registervard.cli import app as cli
from tests import small_register
from tests.small_register import AT

ROOT = Path(__file__).resolve().parents[2]
CODES = {name: value for name, value in vars(exit_codes).items() if name.isupper() and isinstance(value, int)}


@pytest.fixture
def env(tmp_path):
    return {"REGISTERVARD_DATABASE_URL": small_register.build(tmp_path / "register.db"), "REGISTERVARD_KAFKA": "127.0.0.1:1", "COLUMNS": "200"}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env)


def test_the_codes_are_distinct_and_the_readme_lists_each_of_them():
    assert len(set(CODES.values())) == len(CODES), CODES
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("**Exit status.**", 1)[1].split("**Case.**", 1)[0]
    listed = {int(code) for code in re.findall(r"^\| `(\d+)` \|", table, re.MULTILINE)}
    assert listed == set(CODES.values())


def test_the_workers_own_codes_are_the_ones_listed():
    """processors may not import from registervard, so the worker keeps its numbers; they must not drift apart."""
    assert (worker_app.EXIT_FAILED, worker_app.EXIT_STOPPED) == (exit_codes.WORKER_GAVE_UP, exit_codes.STOPPED_MID_BATCH)


def test_import_exits_4_when_a_row_is_rejected_not_2_the_usage_error(env, tmp_path):
    register = tmp_path / "kunder.csv"
    register.write_text(
        "Kundnummer;Personnummer;Förnamn;Efternamn;Gatuadress;Postnummer;Ort\n"
        "K-1;19811218-9876;Anna;Svensson;Storgatan 1;111 22;Stockholm\n"
        "K-2;19811218-9877;Bertil;Berg;Storgatan 2;111 22;Stockholm\n",
        encoding="utf-8",
    )
    result = run(env, "import", str(register), "--dry-run", "--as-of", "2025-06-01")
    assert result.exit_code == exit_codes.SOME_REFUSED == 4, result.output
    assert "line 3: identity_number" in result.stderr


def test_nix_import_exits_4_when_a_line_is_unreadable(env, tmp_path):
    extract = tmp_path / "nix.txt"
    extract.write_text("Telefonnummer\n070-123 45 63\n12\n", encoding="utf-8")
    result = run(env, "nix", "import", str(extract), "--version-date", "2025-06-01", "--dry-run")
    assert result.exit_code == exit_codes.SOME_REFUSED, result.output
    assert "line 3: phone: " in result.stderr


def test_a_choice_is_taken_in_any_case_and_a_value_no_choice_holds_is_a_usage_error(env):
    check = ["contact", "check", small_register.CHECKED, "--purpose", "telemarketing", "--company", "Acme AB", "--at", AT]
    assert run(env, *check, "--channel", "Phone").exit_code in (exit_codes.OK, exit_codes.ANSWER_NO)
    unknown = run(env, *check, "--channel", "TELEFON")
    assert unknown.exit_code == exit_codes.USAGE and "TELEFON" in unknown.output
    # erase --reason in any case: the command gets as far as the customer (unknown here), not refused as a usage error
    erase = run(env, "erase", "C-nobody", "--reason", "customer_request", "--yes")
    assert erase.exit_code == exit_codes.ERROR and "C-nobody" in erase.stderr, erase.output
    assert run(env, "erase", "C-nobody", "--reason", "because", "--yes").exit_code == exit_codes.USAGE


def test_an_api_keys_role_is_taken_in_any_case_and_an_unknown_role_is_a_usage_error(env):
    created = run(env, "apikeys", "create", "Billing", "--role", "Customer_Service", "--json")
    assert created.exit_code == exit_codes.OK, created.output
    unknown = run(env, "apikeys", "create", "Billing", "--role", "boss")
    assert unknown.exit_code == exit_codes.USAGE and "is not a role; choose from reader" in " ".join(unknown.output.split())
    engine = connect(env["REGISTERVARD_DATABASE_URL"])
    assert [key.role for key in list_keys(engine)] == ["customer_service"]
    engine.dispose()


async def test_the_api_takes_an_erasure_reason_and_a_search_kind_in_any_case(tmp_path):
    app = create_app(Settings(database_url=small_register.build(tmp_path / "register.db"), kafka="127.0.0.1:1", api_rate_limit="1000/second"))
    _facts, key = create_key(app.state.database.engine(), "Admin", "admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}) as client:
        erase = await client.post("/customers/C-nobody/erase", json={"reason": "customer_request"})
        wrong = await client.post("/customers/C-nobody/erase", json={"reason": "because"})
        found = await client.post("/customers/find", json={"query": "anna", "by": "NAME"})
        schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert erase.status_code == 404 and erase.json()["error"] == "CUSTOMER_NOT_FOUND", "the reason was read: the customer is what is missing"
    assert wrong.status_code == 422 and wrong.json()["message"].startswith("body.reason:")
    assert found.status_code == 200, found.text
    reason = schema["ErasureRequest"]["properties"]["reason"]
    assert re.fullmatch(reason["pattern"], "Customer_Request") and not re.fullmatch(reason["pattern"], "because")
