"""Structured logging: JSON when not on a terminal, and never personal data.

Log calls pass ids, counts and reason codes as fields. As a second line of
defence a processor drops any field whose name suggests personal data, and
masks anything in a message that looks like an identity number, phone number
or e-mail address.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_PERSONAL_FIELDS = frozenset(
    {"name", "given_names", "surname", "company_name", "address", "street", "postal_code", "city", "care_of",
     "phone", "email", "identity_number", "personnummer", "registration", "contact", "value", "payload"}
)
_PERSONAL_PATTERNS = (
    re.compile(r"(?<![\w-])(?:\d{2})?\d{6}[-+]?\d{4}(?![\w-])"),  # identity numbers, not inside uuids
    re.compile(r"(?<![\w-])(?:\+|00)\d[\d ]{6,16}\d(?![\w-])"),  # international phone numbers
    re.compile(r"(?<![\w-])0\d{1,3}[- ]?\d{5,8}(?![\w-])"),  # Swedish phone numbers
    re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+"),  # e-mail addresses
)


def redact_text(text: str) -> str:
    """`text` with anything that looks like an identity number, phone or e-mail masked."""
    for pattern in _PERSONAL_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


def redact_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop fields named like personal data, mask what looks like it in strings."""
    for key in list(event_dict):
        if key in _PERSONAL_FIELDS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str):
            event_dict[key] = redact_text(event_dict[key])
    return event_dict


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Set up structlog (and the standard library's logging, which faust and aiokafka use)."""
    as_json = not sys.stderr.isatty() if json is None else json
    shared = [
        structlog.contextvars.merge_contextvars,
        redact_personal_data,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
