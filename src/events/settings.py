"""Settings, chosen by environment variables with embedded defaults for a local run.

This is the one module that reads `REGISTERVARD_*`: every other one is handed
a `Settings` (or the value it needs) by the entry point that built it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = Path(os.environ.get("REGISTERVARD_STATE", Path(__file__).resolve().parents[2] / ".state"))


@dataclass(frozen=True)
class Settings:
    """Where Registervård finds Kafka and its database, and what its topics are called."""

    kafka: str = "127.0.0.1:9092"
    """Kafka bootstrap servers (REGISTERVARD_KAFKA)."""
    database_url: str = f"sqlite:///{STATE_DIR / 'registervard.db'}"
    """SQLAlchemy URL of the register (REGISTERVARD_DATABASE_URL); SQLite by default, PostgreSQL in production."""
    topic_prefix: str = "registervard"
    """Prefix of every topic name (REGISTERVARD_TOPIC_PREFIX); tests give each run its own."""
    partitions: int = 3
    """Partitions of the topics Registervård creates (REGISTERVARD_PARTITIONS)."""
    expiry_check_seconds: float = 60.0
    """How often the worker looks for lapsed consents (REGISTERVARD_EXPIRY_CHECK_SECONDS)."""
    keystore_url: str | None = None
    """Where the customers' data keys are (REGISTERVARD_KEYSTORE_URL); None: the register database."""
    retry_seconds: float = 600.0
    """How long the worker and the projections retry a database or broker that is down, with backoff, before they
    exit non-zero for their supervisor to restart them (REGISTERVARD_RETRY_SECONDS)."""
    worker_metrics_port: int = 9464
    """Port of the worker's Prometheus metrics on 127.0.0.1; 0 turns them off (REGISTERVARD_WORKER_METRICS_PORT)."""
    projection_metrics_port: int = 9465
    """Port of the projections' Prometheus metrics on 127.0.0.1; 0 turns them off (REGISTERVARD_PROJECTION_METRICS_PORT)."""
    ready_max_lag: int = 10_000
    """`/ready` answers 503 when a projection is more events behind the log than this (REGISTERVARD_READY_MAX_LAG)."""
    ready_heartbeat_seconds: float = 30.0
    """`/ready` answers 503 when a projection has not reported for this long (REGISTERVARD_READY_HEARTBEAT_SECONDS)."""
    api_max_body_bytes: int = 1_048_576
    """Largest request body the HTTP API reads, in bytes; larger is 413 (REGISTERVARD_API_MAX_BODY_BYTES)."""
    api_max_wash_body_bytes: int = 4_194_304
    """The same for `POST /wash`, whose call list of up to 10,000 rows needs up to ~2 MB (REGISTERVARD_API_MAX_WASH_BODY_BYTES)."""
    api_rate_limit: str = "50/second"
    """Requests per API key, as a `limits` string such as "50/second" or "1000/minute"; more is 429 (REGISTERVARD_API_RATE_LIMIT)."""
    api_auth_failure_rate_limit: str = "10/second"
    """Requests without a valid key per client address; more is 429, even with a valid key (REGISTERVARD_API_AUTH_FAILURE_RATE_LIMIT)."""
    encryption: bool = True
    """Whether the worker seals personal data before the log (REGISTERVARD_ENCRYPTION=off: unsealed, for benchmarks only)."""
    contact_rules: str | None = None
    """A contactability rules file in place of the packaged one (REGISTERVARD_CONTACT_RULES)."""
    retention_years: int = 3
    """How long deregistered customers are kept before erasure is due (REGISTERVARD_RETENTION_YEARS)."""
    master_key: str | None = field(default=None, repr=False)
    """Base64 of 32 bytes that wraps every customer's data key (REGISTERVARD_MASTER_KEY); None: a development key."""
    lookup_key: str | None = field(default=None, repr=False)
    """Secret of the keyed hash of identity numbers (REGISTERVARD_LOOKUP_KEY); None: a development key."""
    worker_state: str = "table"
    """Where the worker keeps its customers' states (REGISTERVARD_WORKER_STATE): "table" keeps them in Faust tables
    (a local store per partition plus changelog topics) with the log offset they reach, and reads only the log beyond
    it at start; "log" keeps them in memory and folds the whole canonical log at every start (a small register, tests)."""
    worker_store: str = "rocksdb://"
    """Faust's store for the tables when worker_state is "table" (REGISTERVARD_WORKER_STORE): "rocksdb://" or "memory://"."""
    worker_standby_replicas: int = 1
    """With tables: how many other workers keep a standby copy of each partition's tables, read from the changelog as it
    is written (REGISTERVARD_WORKER_STANDBY_REPLICAS). 1: a worker that takes over a dead one's partitions has their
    state already and recovers only the last moments, so takeover does not grow with the register; it costs every
    worker disk for the partitions it stands by for and a second read of each changelog. 0: takeover reads the
    partition's whole changelog first, which grows with the register. The same value as faust's own default."""
    controller_name: str | None = None
    """The controller's name, as the register extract (GDPR Art. 15) gives it (REGISTERVARD_CONTROLLER_NAME)."""
    controller_address: str | None = None
    """The controller's postal address, on one line (REGISTERVARD_CONTROLLER_ADDRESS)."""
    controller_email: str | None = None
    """Where people write to use their rights (REGISTERVARD_CONTROLLER_EMAIL)."""
    dpo_email: str | None = None
    """The data protection officer's e-mail address (REGISTERVARD_DPO_EMAIL)."""
    console_secret: str | None = field(default=None, repr=False)
    """Signs the web console's session cookies (REGISTERVARD_CONSOLE_SECRET); None: a random secret per API process,
    so sessions end when it restarts and are not shared between processes (set it when several serve one console)."""

    @property
    def key_store_url(self) -> str:
        """The database of the key store (`data_keys`): the register's unless set apart."""
        return self.keystore_url or self.database_url

    @property
    def intake_topic(self) -> str:
        """Where upstream systems publish change events."""
        return f"{self.topic_prefix}.intake"

    @property
    def events_topic(self) -> str:
        """The canonical event log: the source of truth, kept forever."""
        return f"{self.topic_prefix}.events"

    @property
    def dead_letter_topic(self) -> str:
        """Messages that were not accepted, with the reason."""
        return f"{self.topic_prefix}.deadletter"

    @property
    def customers_topic(self) -> str:
        """Each customer's current record for downstream systems (CustomerSnapshot), compacted; a tombstone once erased."""
        return f"{self.topic_prefix}.customers"

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from REGISTERVARD_* environment variables."""
        env = os.environ
        defaults = cls()
        return cls(
            kafka=env.get("REGISTERVARD_KAFKA", defaults.kafka),
            database_url=env.get("REGISTERVARD_DATABASE_URL", defaults.database_url),
            topic_prefix=env.get("REGISTERVARD_TOPIC_PREFIX", defaults.topic_prefix),
            partitions=int(env.get("REGISTERVARD_PARTITIONS", defaults.partitions)),
            expiry_check_seconds=float(env.get("REGISTERVARD_EXPIRY_CHECK_SECONDS", defaults.expiry_check_seconds)),
            keystore_url=env.get("REGISTERVARD_KEYSTORE_URL") or None,
            retry_seconds=float(env.get("REGISTERVARD_RETRY_SECONDS", defaults.retry_seconds)),
            worker_metrics_port=int(env.get("REGISTERVARD_WORKER_METRICS_PORT", defaults.worker_metrics_port)),
            projection_metrics_port=int(env.get("REGISTERVARD_PROJECTION_METRICS_PORT", defaults.projection_metrics_port)),
            ready_max_lag=int(env.get("REGISTERVARD_READY_MAX_LAG", defaults.ready_max_lag)),
            ready_heartbeat_seconds=float(env.get("REGISTERVARD_READY_HEARTBEAT_SECONDS", defaults.ready_heartbeat_seconds)),
            api_max_body_bytes=int(env.get("REGISTERVARD_API_MAX_BODY_BYTES", defaults.api_max_body_bytes)),
            api_max_wash_body_bytes=int(env.get("REGISTERVARD_API_MAX_WASH_BODY_BYTES", defaults.api_max_wash_body_bytes)),
            api_rate_limit=env.get("REGISTERVARD_API_RATE_LIMIT", defaults.api_rate_limit),
            api_auth_failure_rate_limit=env.get("REGISTERVARD_API_AUTH_FAILURE_RATE_LIMIT", defaults.api_auth_failure_rate_limit),
            encryption=env.get("REGISTERVARD_ENCRYPTION", "on").strip().lower() not in {"off", "0", "false", "no"},
            contact_rules=env.get("REGISTERVARD_CONTACT_RULES") or None,
            retention_years=int(env.get("REGISTERVARD_RETENTION_YEARS", defaults.retention_years)),
            master_key=env.get("REGISTERVARD_MASTER_KEY") or None,
            lookup_key=env.get("REGISTERVARD_LOOKUP_KEY") or None,
            worker_state=_choice("REGISTERVARD_WORKER_STATE", env.get("REGISTERVARD_WORKER_STATE") or defaults.worker_state, WORKER_STATES),
            worker_standby_replicas=int(env.get("REGISTERVARD_WORKER_STANDBY_REPLICAS", defaults.worker_standby_replicas)),
            worker_store=_choice("REGISTERVARD_WORKER_STORE", env.get("REGISTERVARD_WORKER_STORE") or defaults.worker_store, WORKER_STORES),
            controller_name=_text(env.get("REGISTERVARD_CONTROLLER_NAME")),
            controller_address=_text(env.get("REGISTERVARD_CONTROLLER_ADDRESS")),
            controller_email=_text(env.get("REGISTERVARD_CONTROLLER_EMAIL")),
            dpo_email=_text(env.get("REGISTERVARD_DPO_EMAIL")),
            console_secret=env.get("REGISTERVARD_CONSOLE_SECRET") or None,
        )


WORKER_STATES = ("log", "table")
WORKER_STORES = ("rocksdb://", "memory://")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`; otherwise a ValueError that names the variable and the choices."""
    value = value.strip().lower()
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _text(value: str | None) -> str | None:
    """A free-text setting: surrounding blanks removed; unset or blank is None."""
    return (value or "").strip() or None
