"""A tiny supervisor, like systemd's `Restart=always`, for `registervard worker` and `registervard project`.

By design the worker and the projection may exit (non-zero) when a dependency is
gone for long, and rely on a supervisor to start them again; this one does that
in a thread, counts the restarts and records every exit code. Output of every
run goes to one log file, each run headed by a marker line, so a failing test
can show its tail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

RESTART_DELAY = 1.0
"""Seconds between an exit and the restart (systemd's RestartSec)."""


def registervard(command: str, *args: str) -> list[str]:
    """argv of a `registervard` command in this interpreter, logging at INFO so readiness and progress are visible."""
    return [sys.executable, "-m", "registervard", "--log-level", "INFO", command, *args]


class Supervisor:
    """Keeps one command running until `stop()`: starts it again whenever it exits, however it exits."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, restart_delay: float = RESTART_DELAY) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.restart_delay = restart_delay
        self.starts = 0
        self.exit_codes: list[int] = []
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"supervisor-{name}", daemon=True)

    @property
    def restarts(self) -> int:
        """Starts after the first one."""
        return max(0, self.starts - 1)

    def start(self) -> Supervisor:
        """Start supervising (the first run begins at once)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self.starts += 1
                with self.log.open("a") as output:
                    output.write(f"=== supervisor: start #{self.starts} of {self.name} at {time.strftime('%H:%M:%S')} ===\n")
                    output.flush()
                    self._process = subprocess.Popen(self.argv, env=self.env, stdout=output, stderr=subprocess.STDOUT)
            code = self._process.wait()
            with self._lock:
                self.exit_codes.append(code)
                with self.log.open("a") as output:
                    output.write(f"=== supervisor: {self.name} exited with {code} at {time.strftime('%H:%M:%S')} ===\n")
            if self._stopping.wait(self.restart_delay):
                return

    @property
    def pid(self) -> int | None:
        """The running process's pid, if one runs."""
        with self._lock:
            process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def kill(self, timeout: float = 15) -> None:
        """SIGKILL the running process and wait until the supervisor has seen it exit and started the next run."""
        deadline = time.monotonic() + timeout
        while (pid := self.pid) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no process running to kill within {timeout:.0f}s\n{self.tail()}")
            time.sleep(0.05)
        exits, starts = len(self.exit_codes), self.starts
        os.kill(pid, signal.SIGKILL)
        while len(self.exit_codes) == exits:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: pid {pid} did not exit after SIGKILL within {timeout:.0f}s")
            time.sleep(0.02)
        while self.starts == starts and not self._stopping.is_set():  # readiness must be that of the next run
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: the supervisor did not restart it within {timeout:.0f}s")
            time.sleep(0.02)

    def stop(self, timeout: float = 30) -> None:
        """Stop supervising and end the process: SIGTERM, then SIGKILL after `timeout` seconds."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def current_run_output(self) -> str:
        """What the running (or last) run has written so far."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        marker = f"=== supervisor: start #{self.starts} of {self.name}"
        return text[text.rfind(marker) :] if marker in text else text

    def tail(self, characters: int = 4000) -> str:
        """The end of the log, for a failure message."""
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no output)"
        return f"--- {self.name} ({self.log}), last {characters} characters ---\n{text[-characters:]}"

    def wait_for_output(self, text: str, *, timeout: float, what: str, count: int = 1, exits: int | None = None) -> None:
        """Block until the current run has written `text` (`count` times).

        Fails with the log's tail after `timeout` seconds, or as soon as the process has exited `exits` times meanwhile.
        """
        deadline = time.monotonic() + timeout
        exited = len(self.exit_codes)
        while self.current_run_output().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out after {timeout:.0f}s waiting for {what}\n{self.tail()}")
            if exits is not None and len(self.exit_codes) - exited >= exits:
                raise AssertionError(f"{self.name}: exited {exits} times while waiting for {what}\n{self.tail()}")
            time.sleep(0.1)

    def summary(self) -> str:
        """Restarts and exit codes, for the report."""
        return f"{self.restarts} (exits: {', '.join(map(str, self.exit_codes)) or 'none'})"
