"""The worker's customer states in Faust tables (REGISTERVARD_WORKER_STATE=table).

The tables are a snapshot of the fold of the canonical log, and say up to
which log offset. All three are co-partitioned with the intake topic (and so
with the log: same key, same partition count), so that a worker owns a
customer's state in the partition that brings the customer's messages:

* `states`: the customer's `CustomerState`, as `events.state_codec` bytes;
* `lapses`: the consents of that state that will lapse by themselves
  (JSON `{"partition": p, "lapses": [[lapses_on, consent event id], ...]}`),
  the index from which each assigned partition's expiry heap is rebuilt after
  a rebalance, so that the expiry timer never scans every customer;
* `positions`: per partition, the log offset the states have folded up to.

`TableStates` is the mapping a `Lifecycle` reads and writes for one batch: it
reads through to the table and keeps what the lifecycle writes until `flush`,
which the worker calls only once the log has acknowledged every record the
batch produced, with the log offsets those records got. A crash before the
tables' changelogs have it all leaves a partition's position behind its log:
the worker that takes the partition next folds the log from that position
(`Worker.catch_up`) before it admits anything, so it knows what was appended
and drops the redelivered messages as duplicates instead of appending them twice.

Faust's stores pick a key's partition from the event being processed
(`faust.streams.current_event`); a batch spans partitions and the expiry timer
has no event at all, so every table access here names its partition itself.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import faust
from faust.stores.rocksdb import Store as RocksDBStore
from faust.streams import _current_event
from faust.types import FutureMessage

from events.customer import CustomerState
from events.state_codec import decode_state, encode_state

MB = 1024 * 1024
STATES_MB = 16
"""Per partition of the states table: the size of each of RocksDB's two write buffers, and of its block cache."""

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


class AcknowledgedTable(faust.Table):
    """A Faust table whose changelog writes can be waited for until the broker has them.

    Faust queues a table's changelog records in its producer buffer, and `producer.flush()` gives up waiting on that
    buffer after 0.1 s without a send: a batch whose intake offsets were then committed could lose its states with
    the process. The worker waits for exactly the records it wrote instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unacknowledged: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        """Queue a changelog record, as Faust does, and remember it until `acknowledged`."""
        future = super().send_changelog(*args, **kwargs)
        self.unacknowledged.append(future)
        return future

    async def acknowledged(self) -> None:
        """Wait until the broker has every changelog record written since the last call (raises if one failed)."""
        futures, self.unacknowledged = self.unacknowledged, []
        await asyncio.gather(*futures)


@dataclass
class StateTables:
    """The two tables, and the intake topic they are co-partitioned with."""

    states: AcknowledgedTable
    lapses: AcknowledgedTable
    positions: AcknowledgedTable
    """Per partition: the offset of the canonical log up to which the states hold the fold of the log."""
    source_topic: str

    @classmethod
    def create(cls, app: faust.App, source_topic: str, partitions: int) -> StateTables:
        """Declare both tables on `app` (raw bytes keys and values, `partitions` partitions)."""
        schema: faust.Schema[bytes, bytes] = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        raw: dict[str, Any] = {"schema": schema, "key_type": bytes, "value_type": bytes, "partitions": partitions}

        def table(name: str, help: str, megabytes: int) -> AcknowledgedTable:
            # RocksDB's defaults (per partition: 3 write buffers of 64 MB and a 2 GB block cache) would let a worker
            # grow to gigabytes; these bound each partition's store, and reads of states not cached go to disk.
            memory = {"write_buffer_size": megabytes * MB, "max_write_buffer_number": 2, "block_cache_size": megabytes * MB}
            table = AcknowledgedTable(app, name=name, beacon=app.tables.beacon, help=help, options=memory, **raw)
            return app.tables.add(table)  # type: ignore[return-value]

        return cls(
            states=table("customer-states", "each customer's fold state (events.state_codec)", STATES_MB),
            lapses=table("consent-lapses", "each customer's consents that lapse by themselves", 4),
            positions=table("log-positions", "per partition, the log offset the states have folded up to", 1),
            source_topic=source_topic,
        )

    def position(self, partition: int) -> int:
        """The offset of the partition's next log record not yet folded into its states (0: none folded)."""
        with self.in_partition(partition):
            data = self.positions.get(position_key(partition))
        return int(data) if data is not None else 0

    def set_position(self, partition: int, offset: int) -> None:
        """Say that the partition's states hold the fold of its log up to `offset` (exclusive)."""
        with self.in_partition(partition):
            self.positions[position_key(partition)] = position_value(offset)

    async def acknowledged(self) -> None:
        """Wait until the broker has every changelog record both tables wrote since the last call."""
        await self.states.acknowledged()
        await self.lapses.acknowledged()
        await self.positions.acknowledged()

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
        self._read: dict[str, CustomerState | None] = {}
        """The states read from the table in this batch (None: not there), each decoded once."""

    def get(self, customer_id: str, default: Any = None) -> Any:
        """The customer's state, or `default` if the customer has none (a lifecycle asks several times per event)."""
        if customer_id in self._pending:
            return self._pending[customer_id][1]
        if customer_id not in self._read:
            with self.tables.in_partition(self.partition):
                data = _stored(self.tables.states, customer_id.encode("utf-8"))
            self._read[customer_id] = None if data is None else decode_state(data)
        state = self._read[customer_id]
        return default if state is None else state

    def __getitem__(self, customer_id: str) -> CustomerState:
        state = self.get(customer_id)
        if state is None:
            raise KeyError(customer_id)
        return cast(CustomerState, state)

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

    def _may_have_lapses(self, customer_id: str) -> bool:
        """Whether the table may hold lapse entries of the customer (unknown unless its state was read in this batch)."""
        if customer_id not in self._read:
            return True
        before = self._read[customer_id]
        return before is not None and lapse_entry(before, 0) is not None

    @property
    def pending(self) -> int:
        """How many customers' states wait for `flush`."""
        return len(self._pending)

    def flush(self, positions: Mapping[int, int]) -> None:
        """Write every state set since the last flush, and its lapse entries, to the tables (and so their changelogs);
        then the partitions' new log `positions` (the offset after the last record the states hold)."""
        for customer_id, (partition, state) in self._pending.items():
            key = customer_id.encode("utf-8")
            lapses = lapse_entry(state, partition)
            with self.tables.in_partition(partition):
                self.tables.states[key] = encode_state(state)
                if lapses is not None:
                    self.tables.lapses[key] = lapses
                elif self._may_have_lapses(customer_id) and self.tables.lapses.get(key) is not None:
                    del self.tables.lapses[key]
        self._pending.clear()
        self._read.clear()
        for partition, offset in positions.items():
            self.tables.set_position(partition, offset)


def _stored(table: faust.Table, key: bytes) -> bytes | None:
    """The table's stored value of `key` in the current partition, or None, read from its store: the table's own get
    raises and catches a KeyError for every new customer, which cost more than the read."""
    store = table.data
    if isinstance(store, RocksDBStore):
        return store._get(key)
    return cast(bytes | None, store.get(key))  # "memory://": a dict underneath


def position_key(partition: int) -> bytes:
    """The positions table's key for a partition's log position."""
    return f"partition-{partition}".encode("ascii")


def position_value(offset: int) -> bytes:
    """The positions table's value for a log position."""
    return str(offset).encode("ascii")


def lapse_entry(state: CustomerState, partition: int) -> bytes | None:
    """The lapse table's value for a customer's state in `partition`: None if none of its consents lapses by itself (or
    the customer was merged into another, who took the consents: they lapse there)."""
    if state.merged_into is not None:
        return None
    lapses = [[c.lapses_on.isoformat(), c.event_id] for c in state.consents if c.lapses_on is not None]
    return json.dumps({"partition": partition, "lapses": lapses}).encode("utf-8") if lapses else None
