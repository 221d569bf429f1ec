"""Settings, chosen by environment variables with embedded defaults for a local run."""

from __future__ import annotations

import os
from dataclasses import dataclass
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
        )
