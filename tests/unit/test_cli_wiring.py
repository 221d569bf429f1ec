"""The command line's wiring: one kind of advice for every failure a user can fix, and what a command connects to."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
import typer
from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from events.retry import GaveUp
from events.settings import Settings
from projections.database import connect
from projections.tables import QuarantineRow
from registervard import bootstrap as bootstrapping
from registervard.bootstrap import bootstrap
from registervard.cli import app
from registervard.console import advise_on_failure
from tests.conftest import ROOT

UNREACHABLE_DATABASE = "postgresql+psycopg://nobody:secret@127.0.0.1:1/register"


@pytest.mark.parametrize(
    ("failure", "advice"),
    [
        (KafkaConnectionError(), "Cannot reach Kafka at 127.0.0.1:1. Start it with `bash infra/kafka.sh start`"),
        (UnknownTopicOrPartitionError(), "Kafka refused the request (UnknownTopicOrPartitionError). Check the broker at 127.0.0.1:1"),
        (OperationalError("SELECT 1", {}, ConnectionRefusedError()), "Cannot use the register database (ConnectionRefusedError)"),
        (GaveUp("connect to Kafka", 600, ConnectionError()), "giving up. Check that Kafka (127.0.0.1:1) and the register database are up"),
    ],
)
def test_a_failure_a_user_can_fix_is_advice_and_exit_1(failure, advice, monkeypatch, capsys):
    monkeypatch.setenv("REGISTERVARD_KAFKA", "127.0.0.1:1")

    @advise_on_failure
    def command() -> None:
        raise failure

    with pytest.raises(typer.Exit) as exited:
        command()
    assert exited.value.exit_code == 1
    assert advice in " ".join(capsys.readouterr().err.split())


def test_dead_letters_with_the_broker_down_get_advice_not_a_traceback():
    # Before issue 10 `deadletters` was the one Kafka command without advice: this printed a traceback.
    result = CliRunner().invoke(app, ["deadletters", "list"], env={"REGISTERVARD_KAFKA": "127.0.0.1:1"})
    assert result.exit_code == 1
    assert "Cannot reach Kafka at 127.0.0.1:1" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_a_database_that_cannot_be_reached_is_advice_for_a_command_that_reads_it():
    result = CliRunner().invoke(app, ["quarantine"], env={"REGISTERVARD_DATABASE_URL": UNREACHABLE_DATABASE})
    advice = " ".join(result.stderr.split())  # rich wraps long lines
    assert result.exit_code == 1
    assert "Cannot use the register database (OperationalError). Check REGISTERVARD_DATABASE_URL." in advice
    assert "secret" not in advice and "Traceback" not in advice


def test_each_command_reads_the_database_its_settings_name_though_they_run_in_one_process(tmp_path):
    quiet, quarantining = f"sqlite:///{tmp_path / 'quiet.db'}", f"sqlite:///{tmp_path / 'quarantining.db'}"
    engine = connect(quarantining)
    with engine.begin() as connection:
        connection.execute(
            insert(QuarantineRow),
            [{"projection": "register", "topic": "t", "partition": 0, "offset": 7, "code": "TAMPERED", "reason": "r", "quarantined_at": datetime.now(UTC)}],
        )
    engine.dispose()
    runner = CliRunner()
    first = runner.invoke(app, ["quarantine", "--json"], env={"REGISTERVARD_DATABASE_URL": quiet})
    second = runner.invoke(app, ["quarantine", "--json"], env={"REGISTERVARD_DATABASE_URL": quarantining})
    assert (first.exit_code, second.exit_code) == (0, 0), first.output + second.output
    assert first.stdout.strip() == "[]" and '"offset": 7' in second.stdout


def test_the_bootstrap_builds_once_per_settings_and_connects_only_when_asked(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}")
    services = bootstrap(settings)
    try:
        assert bootstrap(settings) is services and services.engine is services.engine
        unreachable = bootstrap(Settings(database_url=UNREACHABLE_DATABASE))  # building connects to nothing
        with pytest.raises(OperationalError):
            _ = unreachable.engine
    finally:
        bootstrapping.close()
    assert bootstrap(settings) is not services  # closed: the next command builds afresh
    bootstrapping.close()


def test_the_command_line_loads_neither_the_worker_nor_the_api_nor_metrics_it_would_serve():
    # The worker's and the runner's metrics join the default Prometheus registry, which `worker` and `project` serve:
    # imported by every command, each process would serve the other's metrics. FastAPI and uvicorn are slow to load.
    probe = (
        "import sys; import registervard.cli; from prometheus_client import REGISTRY, generate_latest; "
        "print(sorted(m for m in ('processors.worker_app', 'projections.runner', 'fastapi', 'uvicorn') if m in sys.modules)); "
        "print('registervard_' in generate_latest(REGISTRY).decode())"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src")}, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["[]", "False"]
