"""The worker's customer states in Faust tables (REGISTERVARD_WORKER_STATE=table).

Two tables, both keyed by customer id and co-partitioned with the intake topic
(same key, same partition count), so that a worker owns a customer's state in
the partition that brings the customer's messages:

* `states`: the customer's `CustomerState`, as `events.state_codec` bytes;
* `lapses`: the consents of that state that will lapse by themselves
  (JSON `{"partition": p, "lapses": [[lapses_on, consent event id], ...]}`),
  the index from which each assigned partition's expiry heap is rebuilt after
  a rebalance, so that the expiry timer never scans every customer.

`TableStates` is the mapping a `Lifecycle` reads and writes for one batch: it
reads through to the table and keeps what the lifecycle writes until `flush`,
which the worker calls only once the log has acknowledged every record the
batch produced (a crash before then leaves the table as it was: the messages
come again and are appended again, at worst twice, never lost).

Faust's stores pick a key's partition from the event being processed
(`faust.streams.current_event`); a batch spans partitions and the expiry timer
has no event at all, so every table access here names its partition itself.
"""

from __future__ import annotations

import heapq
import json
import weakref
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TableT

from events.customer import CustomerState
from events.state_codec import decode_state, encode_state

Lapse = tuple[date, str, str]
"""(lapses_on, customer id, ConsentGiven event id): an entry of a Lifecycle's expiry heap."""


@dataclass(frozen=True)
class _Message:
    topic: str
    partition: int


class _PartitionEvent:
    """Stands in for Faust's current event: all its stores and tables ask of it is the message's topic and partition."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Message(topic, partition)


@dataclass
class StateTables:
    """The two tables, and the intake topic they are co-partitioned with."""

    states: TableT[bytes, bytes]
    lapses: TableT[bytes, bytes]
    source_topic: str

    @classmethod
    def create(cls, app: faust.App, source_topic: str, partitions: int) -> StateTables:
        """Declare both tables on `app` (raw bytes keys and values, `partitions` partitions)."""
        schema: faust.Schema[bytes, bytes] = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        raw: dict[str, Any] = {"schema": schema, "key_type": bytes, "value_type": bytes, "partitions": partitions}
        return cls(
            states=app.Table("customer-states", help="each customer's fold state (events.state_codec)", **raw),
            lapses=app.Table("consent-lapses", help="each customer's consents that lapse by themselves", **raw),
            source_topic=source_topic,
        )

    @contextmanager
    def in_partition(self, partition: int) -> Iterator[None]:
        """Table reads and writes in this block go to `partition`."""
        event = _PartitionEvent(self.source_topic, partition)
        token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]  # a stand-in for the EventT it reads
        try:
            yield
        finally:
            _current_event.reset(token)

    def heaps(self, partitions: set[int]) -> dict[int, list[Lapse]]:
        """The expiry heap of each of `partitions`, from the lapse index."""
        heaps: dict[int, list[Lapse]] = {partition: [] for partition in partitions}
        for key, value in self.lapses.items():
            entry = json.loads(value)
            heap = heaps.get(entry["partition"])
            if heap is None:
                continue  # a partition this worker does not own now
            customer_id = key.decode("utf-8")
            heap += [(date.fromisoformat(day), customer_id, given) for day, given in entry["lapses"]]
        for heap in heaps.values():
            heapq.heapify(heap)
        return heaps


class TableStates(MutableMapping[str, CustomerState]):
    """Customer states read from the table and written back by `flush`; the Lifecycle's `states` for one batch.

    Set `partition` to the partition of the message being handled before the lifecycle touches its customer."""

    def __init__(self, tables: StateTables) -> None:
        self.tables = tables
        self.partition = 0
        self._pending: dict[str, tuple[int, CustomerState]] = {}

    def __getitem__(self, customer_id: str) -> CustomerState:
        if customer_id in self._pending:
            return self._pending[customer_id][1]
        with self.tables.in_partition(self.partition):
            data = self.tables.states.get(customer_id.encode("utf-8"))
        if data is None:
            raise KeyError(customer_id)
        return decode_state(data)

    def __setitem__(self, customer_id: str, state: CustomerState) -> None:
        self._pending[customer_id] = (self.partition, state)

    def __delitem__(self, customer_id: str) -> None:
        raise NotImplementedError("a customer's state is never removed; erasure is a state of its own")

    def __iter__(self) -> Iterator[str]:
        """Every customer of the partitions this worker owns (reads the whole table: the worker never needs it)."""
        yield from (key.decode("utf-8") for key in self.tables.states)
        yield from (c for c in self._pending if self.tables.states.get(c.encode("utf-8")) is None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def pending(self) -> int:
        """How many customers' states wait for `flush`."""
        return len(self._pending)

    def flush(self) -> None:
        """Write every state set since the last flush, and its lapse entries, to the tables (and so their changelogs)."""
        for customer_id, (partition, state) in self._pending.items():
            key = customer_id.encode("utf-8")
            lapses = [[c.lapses_on.isoformat(), c.event_id] for c in state.consents if c.lapses_on is not None]
            with self.tables.in_partition(partition):
                self.tables.states[key] = encode_state(state)
                if lapses:
                    self.tables.lapses[key] = json.dumps({"partition": partition, "lapses": lapses}).encode("utf-8")
                elif self.tables.lapses.get(key) is not None:
                    del self.tables.lapses[key]
        self._pending.clear()
