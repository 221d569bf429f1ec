"""`registervard serve` as a subprocess on a free loopback port, for the API's integration tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from events.settings import Settings
from tests.conftest import service_env, stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_api(settings: Settings, log: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The API server on `settings` (extra REGISTERVARD_* variables in `env`): its base URL and process, stopped afterwards."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "registervard", "--log-level", "INFO", "serve", "--port", str(port)],
            env=service_env(settings, **env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the API server did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    try:
        yield base, process
    finally:
        stop_process(process)
