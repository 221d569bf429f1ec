"""The API's limits through a real running server (`registervard serve`), over real sockets: body size, request
rates, and the metrics that count what was refused. No broker needed: the register is an empty SQLite file."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from events.settings import Settings
from projections.database import connect
from registervard.api.api_keys import create_key
from tests.integration.api_server import running_api

RATE = 5
"""Per key and per address without a valid key, per hour: the tests make a few requests more than that."""


@dataclass
class Limited:
    base: str
    key: str


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[Limited]:
    folder = tmp_path_factory.mktemp("api-limits")
    settings = Settings(database_url=f"sqlite:///{folder / 'register.db'}", kafka="127.0.0.1:1", topic_prefix=f"test-{uuid.uuid4().hex[:8]}")
    engine = connect(settings.database_url)
    _facts, key = create_key(engine, "limits test", "reader")
    engine.dispose()
    env = {"REGISTERVARD_API_RATE_LIMIT": f"{RATE}/hour", "REGISTERVARD_API_AUTH_FAILURE_RATE_LIMIT": f"{RATE}/hour"}
    with running_api(settings, folder / "server.log", **env) as (base, _process):
        yield Limited(base, key)


def client_from(address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.x.y.z is this machine), so that each test has its own."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def raw_exchange(base: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send `head` and `body` as they are, then read the answer: (status, body). A server that waits for more body
    than was sent never answers, and the socket's timeout fails the test."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(head + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def test_a_declared_body_over_the_limit_is_413_without_waiting_for_it(limited):
    head = b"POST /customers/lookup HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    status, body = raw_exchange(limited.base, head)  # not a byte of the 50 MB follows
    assert status == 413 and b'"error":"BODY_TOO_LARGE"' in body


def test_a_chunked_body_is_413_as_soon_as_it_crosses_the_limit(limited):
    head = b"POST /wash HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b" " * 65536
    crossing = Settings().api_max_wash_body_bytes // len(chunk) + 1
    body = (b"10000\r\n" + chunk + b"\r\n") * crossing  # and no last chunk: the body would go on
    status, answer = raw_exchange(limited.base, head, body)
    assert status == 413 and b'"error":"BODY_TOO_LARGE"' in answer and str(Settings().api_max_wash_body_bytes).encode() in answer


def test_a_flood_of_wrong_keys_is_429_with_retry_after_once_the_address_used_its_budget(limited):
    with client_from("127.0.0.2") as client:
        answers = [client.get(f"{limited.base}/customers/C-1", headers={"Authorization": f"Bearer rv_guess{n}"}) for n in range(RATE + 20)]
    assert [a.status_code for a in answers] == [401] * RATE + [429] * 20
    refused = answers[-1]
    assert refused.json()["error"] == "RATE_LIMITED" and set(refused.json()) == {"error", "message"}
    assert 0 < int(refused.headers["retry-after"]) <= 3600


def test_a_key_over_its_rate_is_429_with_retry_after(limited):
    with client_from("127.0.0.3") as client:
        answers = [client.get(f"{limited.base}/customers/C-1", headers={"X-API-Key": limited.key}) for _ in range(RATE + 2)]
    assert [a.status_code for a in answers] == [404] * RATE + [429] * 2
    assert int(answers[-1].headers["retry-after"]) > 0 and answers[-1].json()["error"] == "RATE_LIMITED"


def test_metrics_count_what_was_answered_and_refused_by_route_template_without_a_key(limited):
    head = b"POST /customers/lookup HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    assert raw_exchange(limited.base, head)[0] == 413
    with client_from("127.0.0.4") as client:
        statuses = [client.get(f"{limited.base}/customers/198112189876").status_code for _ in range(RATE + 1)]
        exposed = client.get(f"{limited.base}/metrics")
    assert statuses[-1] == 429 and exposed.status_code == 200
    text = exposed.text
    assert 'registervard_api_requests_total{method="GET",route="/customers/{customer_id}",status="401"}' in text
    assert 'registervard_api_requests_total{method="GET",route="/customers/{customer_id}",status="429"}' in text
    assert 'registervard_api_requests_total{method="POST",route="/customers/lookup",status="413"}' in text
    assert "registervard_api_request_duration_seconds_bucket" in text and "process_cpu_seconds_total" in text
    assert "198112189876" not in text and "rv_guess" not in text and "C-1" not in text
