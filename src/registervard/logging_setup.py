"""Structured logging: JSON when not on a terminal, and never personal data.

Log calls pass ids, counts and reason codes as fields. As a second line of
defence a processor drops any field whose name suggests personal data, and
masks anything in a message that looks like an identity number, phone number
or e-mail address.

Exceptions are rendered by `safe_exception`, never by the default formatters:
the traceback's frames (file, line, function, source line) without local
variables, and the message only of exceptions raised by Registervård's own
packages (which name fields, never values) and of Kafka's client; any other
message (fastavro, SQLAlchemy, psycopg, a bare ValueError...) may quote a
payload, so it is replaced by a note. The same applies to the standard
library's log records (Faust, aiokafka, asyncio) and to an uncaught exception
that ends a command (`sys.excepthook`).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
from types import TracebackType

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

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


def redact_personal_data(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: drop fields named like personal data, mask what looks like it in strings."""
    for key in list(event_dict):
        if key in _PERSONAL_FIELDS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str):
            event_dict[key] = redact_text(event_dict[key])
    return event_dict


_TRUSTED_MODULES = ("events", "processors", "projections", "registervard", "aiokafka", "kafka")
"""Exceptions defined in these packages keep their message: they never quote personal data."""

WITHHELD = "[message withheld: it may quote personal data]"


def _trusted(exc_type: type[BaseException] | None) -> bool:
    module = getattr(exc_type, "__module__", "") or ""
    return module.split(".")[0] in _TRUSTED_MODULES


def safe_exception(exc_type: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> str:
    """A traceback without local variables, and without the message of exceptions that could quote data."""
    rendered = traceback.TracebackException(exc_type, value, tb, capture_locals=False) if exc_type else None  # type: ignore[arg-type]
    seen: set[int] = set()
    pending = [rendered]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if not _trusted(current.exc_type):
            current._str = WITHHELD  # type: ignore[attr-defined]
            current.__notes__ = None
        else:
            current._str = redact_text(current._str or "")  # type: ignore[attr-defined]
        pending += [current.__cause__, current.__context__, *(getattr(current, "exceptions", None) or [])]
    return "".join(rendered.format()) if rendered else ""


def safe_exc_info(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: turn `exc_info` into a safe `exception` string (replaces format_exc_info)."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is not None:
        event_dict["exception"] = safe_exception(*exc_info)
        message, value = event_dict.get("event"), exc_info[1]
        if isinstance(message, str) and value is not None and not _trusted(exc_info[0]):  # e.g. "Agent crashed: %r"
            for shown in (repr(value), str(value)):  # as formatted, and as redact_personal_data left it
                for form in (shown, redact_text(shown)):
                    if form:
                        message = message.replace(form, WITHHELD)
            event_dict["event"] = message
    return event_dict


def _excepthook(exc_type: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(safe_exception(exc_type, value, tb))


class RepeatLimiter(logging.Filter):
    """Lets a repeated standard-library log message through at most once per `window` seconds.

    While a broker or database is down, aiokafka logs a line for every reconnect
    attempt (about 2,000 a second); one line per window, with how many were held
    back, says the same thing without filling the disk.
    """

    def __init__(self, window: float = 10.0) -> None:
        super().__init__()
        self.window = window
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, held_back = self._last.get(key, (float("-inf"), 0))
        if now - last < self.window:
            self._last[key] = (last, held_back + 1)
            return False
        if len(self._last) > 1000:  # a bounded memory, whatever the message templates
            self._last.clear()
        self._last[key] = (now, 0)
        if held_back:
            record.msg = f"{record.msg} [{held_back} similar message(s) held back in the last {self.window:g} s]"
        return True


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    """A logger writing to the stderr of the moment (a test runner may have swapped and closed the one of an earlier call)."""
    return structlog.PrintLogger(sys.stderr)


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Set up structlog (and the standard library's logging, which faust and aiokafka use)."""
    as_json = not sys.stderr.isatty() if json is None else json
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        redact_personal_data,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, safe_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, safe_exc_info, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    handler.addFilter(RepeatLimiter())
    sys.excepthook = _excepthook  # an uncaught exception (rich's traceback would show local variables)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
