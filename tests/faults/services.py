"""The fault suite's own Kafka broker and PostgreSQL server, which its tests stop and start at will.

They run from the project's `infra/` scripts on ports no other test or engineer
uses, with state in a directory of their own, so stopping them never touches the
shared services (19092/29092, 15433/55434).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Below Linux's ephemeral range (32768-60999): while the broker is stopped its clients reconnect every 50 ms, and a
# port inside that range can be picked as a client's own source port, connect to itself (TCP simultaneous open) and
# hold the port, so that the broker cannot start again on it.
KAFKA_PORT = 28092
KAFKA_CONTROLLER_PORT = 28093
PG_PORT = 15436
SHARED_PORTS = frozenset({9092, 9093, 19092, 19093, 29092, 29093, 55432, 15433, 55433, 55434})
"""Ports of the services others use: this suite must never start or stop anything there."""

PORT_BUSY_PATIENCE = 75.0
"""Seconds to keep trying to start a service whose port is taken (TIME_WAIT lasts 60 s)."""

assert not {KAFKA_PORT, KAFKA_CONTROLLER_PORT, PG_PORT} & SHARED_PORTS, "the fault suite needs ports of its own"


@dataclass
class PrivateServices:
    """Start and stop the private broker and database; each call waits until the script has finished."""

    state: Path
    """REGISTERVARD_STATE of the private services (their data and logs)."""
    kafka: str = f"127.0.0.1:{KAFKA_PORT}"
    postgres_url: str = ""

    def script_env(self) -> dict[str, str]:
        """The infra scripts' environment: our ports and state, whatever the caller's shell exported (bin/test exports its own)."""
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_DATA_DIR", "PG_DATA_DIR")}
        env.update(
            KAFKA_PORT=str(KAFKA_PORT),
            KAFKA_CONTROLLER_PORT=str(KAFKA_CONTROLLER_PORT),
            PG_PORT=str(PG_PORT),
            REGISTERVARD_STATE=str(self.state),
        )
        return env

    def _script(self, script: str, action: str, timeout: float = 120) -> str:
        try:
            result = subprocess.run(
                ["bash", str(ROOT / "infra" / script), action],
                env=self.script_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"`infra/{script} {action}` (private instance) did not finish within {timeout:.0f}s") from None
        if result.returncode != 0:
            raise AssertionError(f"`infra/{script} {action}` (private instance) failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def _start(self, script: str) -> str:
        """`infra/<script> start`, tried again while its port is taken.

        Our ports lie in Linux's ephemeral range (32768-60999): a client socket of any process on the machine may
        hold one for a while, or leave it in TIME_WAIT for 60 s after closing, and then the server cannot bind it.
        """
        deadline = time.monotonic() + PORT_BUSY_PATIENCE
        while True:
            try:
                return self._script(script, "start")
            except AssertionError as error:
                if "already in use" not in str(error) and "Address already in use" not in str(error):
                    raise
                if time.monotonic() > deadline:
                    raise AssertionError(f"{error}\n(the port stayed taken for {PORT_BUSY_PATIENCE:.0f}s; see `ss -tanp`)") from None
                time.sleep(2)

    def start_kafka(self) -> float:
        """Start the private broker (a no-op when it runs); return how long it took."""
        began = time.monotonic()
        output = self._start("kafka.sh")
        if f"127.0.0.1:{KAFKA_PORT}" not in output:
            raise AssertionError(f"infra/kafka.sh start did not announce the private broker:\n{output}")
        return time.monotonic() - began

    def stop_kafka(self) -> None:
        """Stop the private broker (SIGTERM, a clean shutdown)."""
        self._script("kafka.sh", "stop")

    def start_postgres(self) -> float:
        """Start the private PostgreSQL (a no-op when it runs); return how long it took."""
        began = time.monotonic()
        output = self._start("postgres.sh")
        found = re.search(r"(postgresql\S+)", output)
        if not found or f":{PG_PORT}/" not in found.group(1):
            raise AssertionError(f"infra/postgres.sh start did not announce the private server:\n{output}")
        self.postgres_url = found.group(1)
        return time.monotonic() - began

    def stop_postgres(self) -> None:
        """Stop the private PostgreSQL (pg_ctl stop -m fast: sessions are cut off)."""
        self._script("postgres.sh", "stop")

    def stop_all(self) -> list[str]:
        """Stop both, whatever happens to either; return what went wrong."""
        problems = []
        for stop in (self.stop_kafka, self.stop_postgres):
            try:
                stop()
            except AssertionError as error:
                problems.append(str(error))
        return problems
