"""`registervard serve` says where it listens once it does, and a port it cannot have is advice and exit 1."""

from __future__ import annotations

import os
import re
import selectors
import socket
import subprocess
import sys
import time

import httpx

from registervard import exit_codes
from tests.conftest import stop_process

ANNOUNCEMENT = re.compile(r"Registervård API listening on (http://127\.0\.0\.1:(\d+)); docs at (\S+); the console at (\S+)\. Ctrl\+C stops it\.")


def environment(tmp_path) -> dict[str, str]:
    return {**os.environ, "REGISTERVARD_DATABASE_URL": f"sqlite:///{tmp_path / 'register.db'}", "REGISTERVARD_KAFKA": "127.0.0.1:1"}


def first_line(process: subprocess.Popen, within: float = 60) -> str:
    """The first line the process prints on standard output ("" if it ends or says nothing within `within` seconds)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.5):
                return process.stdout.readline()
    return ""


def test_serve_prints_one_line_with_its_url_its_docs_url_and_its_console_url_once_it_listens(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "registervard", "serve", "--port", "0"],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said = first_line(process)
        found = ANNOUNCEMENT.fullmatch(said.strip())
        assert found, f"serve said {said!r}"
        url, port, docs, console = found[1], int(found[2]), found[3], found[4]
        assert port != 0 and docs == f"{url}/docs" and console == f"{url}/console", "--port 0: the line names the port it got"
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}, "it says so once it listens: the URL answers"
        assert httpx.get(docs).status_code == 200
        assert httpx.get(console, follow_redirects=True).url.path == "/console/sign-in", "the console asks who is there"
    finally:
        stop_process(process)


def test_a_port_another_process_holds_is_advice_and_exit_1_not_3(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "registervard", "serve", "--port", str(port)], env=environment(tmp_path), capture_output=True, text=True, timeout=120
        )
    assert result.returncode == exit_codes.ERROR, result.stderr
    assert f"could not start on http://127.0.0.1:{port}" in " ".join(result.stderr.split()) and "Choose another with --port" in result.stderr
    assert "Traceback" not in result.stderr and "listening on" not in result.stdout
