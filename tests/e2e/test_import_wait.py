"""`registervard import --wait` when nothing applies what it published: it gives up after --wait-timeout with advice
(what has come how far, what to start), after reporting the import itself; the events stay published."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from dataclasses import replace

import pytest

from events.topics import ensure_topics
from tests.conftest import service_env

pytestmark = pytest.mark.kafka


def test_waiting_without_a_worker_gives_up_with_advice_after_the_timeout(settings, tmp_path):
    mine = replace(settings, topic_prefix=f"{settings.topic_prefix}-{uuid.uuid4().hex[:6]}", database_url=f"sqlite:///{tmp_path / 'register.db'}")
    asyncio.run(ensure_topics(mine))
    crm = tmp_path / "crm.csv"
    crm.write_text("Kundnummer;Förnamn;Efternamn\nW-1;Anna;Svensson\nW-2;Bo;Ek\n", encoding="utf-8")

    done = subprocess.run(
        [sys.executable, "-m", "registervard", "import", str(crm), "--as-of", "2025-06-01", "--wait", "--wait-timeout", "2"],
        env=service_env(mine),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    assert "2 row(s) read: 2 customer(s) published" in " ".join(done.stdout.split())
    advice = " ".join(done.stderr.split())
    assert "Traceback" not in advice
    assert "the register had not caught up within 2 s: the worker has admitted 0 of the 2 message(s) published" in advice
    assert "registervard worker" in advice and "registervard status" in advice
    assert "Anna" not in advice and "Svensson" not in advice
