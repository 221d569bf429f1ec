"""A JSON Lines file is read line by line from bytes: bad bytes or an over-long line is one rejected line."""

from __future__ import annotations

import io
import json

from events.jsonlines import parse_lines, read_lines
from events.limits import LIMITS
from tests.builders import person


def good(customer_id: str) -> bytes:
    return json.dumps(person(customer_id)).encode() + b"\n"


def test_invalid_utf8_is_a_rejected_line_and_the_next_line_is_read():
    data = good("C-1") + b'{"type": "CustomerDeceased", "source": "\xff\xfe"}\n' + good("C-2")
    parsed = list(parse_lines(read_lines(io.BytesIO(data))))
    assert [(p.line_number, p.error.code if p.error else None) for p in parsed] == [(1, None), (2, "INVALID_ENCODING"), (3, None)]
    assert "UTF-8" in parsed[1].error.reason


def test_an_over_long_line_is_cut_unread_and_reported_and_the_file_goes_on():
    huge = b'{"type": "CustomerDeceased", "source": "' + b"x" * 10_000_000 + b'"}\n'
    raw = list(read_lines(io.BytesIO(good("C-1") + huge + good("C-2"))))
    assert len(raw) == 3 and all(len(line) <= LIMITS.max_line_bytes + 2 for line in raw)
    parsed = list(parse_lines(raw))
    assert [(p.line_number, p.error.code if p.error else None) for p in parsed] == [(1, None), (2, "FIELD_TOO_LONG"), (3, None)]
    assert parsed[1].error.field == "source"  # named from the part that was read


def test_a_line_exactly_at_the_limit_is_read_whole():
    body = good("C-1").rstrip(b"\n")
    padded = body[:-1] + b" " * (LIMITS.max_line_bytes - len(body)) + b"}"
    assert len(padded) == LIMITS.max_line_bytes
    [parsed] = parse_lines(read_lines(io.BytesIO(padded + b"\r\n")))
    assert parsed.error is None


def test_the_last_line_needs_no_newline_and_blank_lines_keep_their_numbers():
    parsed = list(parse_lines(read_lines(io.BytesIO(b"\n" + good("C-1") + b"   \n" + good("C-2").rstrip()))))
    assert [(p.line_number, p.error) for p in parsed] == [(2, None), (4, None)]
