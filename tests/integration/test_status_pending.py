"""`registervard status` reports consents past their lapse date whose expiry is not yet recorded as work pending,
through the real broker (on topics not yet created: a register whose log is still empty is reported, not a traceback)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from registervard.cli import app as cli
from tests.conftest import service_env
from tests.unit.test_consent_lapses import register_with_a_lapse

pytestmark = pytest.mark.kafka


def test_status_counts_the_lapsed_consents_whose_expiry_is_not_recorded_as_pending(settings, tmp_path):
    url = register_with_a_lapse(tmp_path)
    env = service_env(replace(settings, topic_prefix=f"test-{uuid.uuid4().hex[:8]}", database_url=url))
    as_json = CliRunner().invoke(cli, ["status", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert (report["lag"], report["consent_expiries_pending"], report["oldest_lapse"]) == (0, 1, "2025-04-01")
    text = CliRunner().invoke(cli, ["status"], env=env)
    assert text.exit_code == 0, text.output
    said = " ".join(text.stdout.split())
    assert "Consents past their lapse date, expiry not yet recorded: 1" in said
    assert "the earliest lapsed on 2025-04-01" in said and "Contact checks count them as lapsed already" in said
