"""The worker's per-event path in process, without Kafka: how far from raw decoding is it?

    .venv/bin/python bench/fold_speed.py [--customers 2000] [--repeat 5] [--sealed] [--profile a|b|c|d|e]

The demo generator's lives of N customers (JSON lines -> parse_event) are
encoded as intake messages (codec.encode), keyed by customer id. Then, each
over all of them, in one run:

(a) decode only: `codec.decode` of every message value, the baseline (what a
    plain consumer does; bench/worker_scale.py's "raw");
(b) log mode: `policy.decide` of every message over one `Lifecycle` whose
    states are a dict (REGISTERVARD_WORKER_STATE=log), encryption off;
(c) table mode, emulated: the same, but the states live as `state_codec` bytes
    in a dict, and every message reads its customer's state from bytes and
    writes it back as bytes, as `TableStates` does for a batch of one message
    (which decodes a state on every read of it: three per admitted message);
(e) (c) with each state decoded once per message (what TableStates would do if
    it remembered what it read until the flush);
(d) with --sealed: (b) with a `MemoryKeyStore`, so every personal field is sealed.

Each figure is the best of --repeat runs (events/s), the runs taken in turns,
printed with its ratio to (a) in the same run. --profile runs one of them once
under cProfile and prints the top entries by own time (py-spy is not needed).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import time
from collections.abc import Callable, Iterator, MutableMapping

import report

from events import codec
from events.catalog import Event
from events.customer import CustomerState
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore
from events.state_codec import decode_state, encode_state
from processors import policy
from processors.lifecycle import Lifecycle
from registervard.demo import demo_events


class BytesStates(MutableMapping[str, CustomerState]):
    """Customer states kept as `state_codec` bytes, like the worker's state table, with writes held until `flush`.

    As `processors.state_table.TableStates` does, a state not written since the last flush is decoded again on every
    read (`Lifecycle.admit` reads a customer three times); with `remember_reads`, once until the next flush."""

    def __init__(self, *, remember_reads: bool = False) -> None:
        self.stored: dict[str, bytes] = {}
        self.remember_reads = remember_reads
        self._pending: dict[str, CustomerState] = {}
        self._read: dict[str, CustomerState] = {}

    def __getitem__(self, customer_id: str) -> CustomerState:
        if customer_id in self._pending:
            return self._pending[customer_id]
        if customer_id in self._read:
            return self._read[customer_id]
        state = decode_state(self.stored[customer_id])
        if self.remember_reads:
            self._read[customer_id] = state
        return state

    def __setitem__(self, customer_id: str, state: CustomerState) -> None:
        self._pending[customer_id] = state

    def __delitem__(self, customer_id: str) -> None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[str]:
        return iter(self.stored)

    def __len__(self) -> int:
        return len(self.stored)

    def flush(self) -> None:
        """Encode every state written since the last flush."""
        for customer_id, state in self._pending.items():
            self.stored[customer_id] = encode_state(state)
        self._pending.clear()
        self._read.clear()


def messages(customers: int, seed: int) -> list[policy.IntakeMessage]:
    """The demo lives of `customers` customers as intake messages, in the order they happened."""
    events: list[Event] = [parse_event(json.loads(line)) for line in demo_events(customers=customers, seed=seed)]
    return [policy.IntakeMessage(e.customer_id.encode(), codec.encode(e), "intake", 0, offset) for offset, e in enumerate(events)]


def decode_only(batch: list[policy.IntakeMessage]) -> None:
    """(a) the baseline."""
    for message in batch:
        codec.decode(message.value)  # type: ignore[arg-type]  # every value is set here


def log_mode(batch: list[policy.IntakeMessage], sealer: policy.Sealer | None = None) -> None:
    """(b) decide over dict states."""
    lifecycle, sealer = Lifecycle(), sealer or policy.Sealer(None)
    for message in batch:
        decision = policy.decide(message, lifecycle, sealer)
        assert not isinstance(decision, policy.DeadLetter), decision.refusal  # the demo lives are all admissible


def table_mode(batch: list[policy.IntakeMessage], *, remember_reads: bool = False) -> None:
    """(c) decide with each message's state read from bytes and written back as bytes (a batch of one message)."""
    states = BytesStates(remember_reads=remember_reads)
    lifecycle, sealer = Lifecycle(states=states), policy.Sealer(None)
    for message in batch:
        decision = policy.decide(message, lifecycle, sealer)
        assert not isinstance(decision, policy.DeadLetter), decision.refusal
        states.flush()


def table_mode_read_once(batch: list[policy.IntakeMessage]) -> None:
    """(e) (c), with a state decoded once per message however often the lifecycle reads it."""
    table_mode(batch, remember_reads=True)


def sealed_mode(batch: list[policy.IntakeMessage]) -> None:
    """(d) decide over dict states, personal fields sealed with a key per customer."""
    log_mode(batch, policy.Sealer(MemoryKeyStore()))


def best_rates(runs: dict[str, Callable[[list[policy.IntakeMessage]], None]], batch: list[policy.IntakeMessage], repeat: int) -> dict[str, float]:
    """Events/s of the fastest of `repeat` runs of each, taken in turns so that a busy moment of the machine
    (shared with others) weighs on all of them alike."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for key, run in runs.items():
            gc.collect()
            start = time.perf_counter()
            run(batch)
            best[key] = min(best[key], time.perf_counter() - start)
    return {key: len(batch) / seconds for key, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sealed", action="store_true", help="also (d): log mode with sealing on")
    parser.add_argument("--profile", choices=["a", "b", "c", "d", "e"], help="profile one of them with cProfile")
    parser.add_argument("--top", type=int, default=25, help="profile entries to print")
    parser.add_argument("--json-out", help="append the figures to this JSON lines file (bench/report.py)")
    args = parser.parse_args()

    batch = messages(args.customers, args.seed)
    runs: dict[str, tuple[str, Callable[[list[policy.IntakeMessage]], None]]] = {
        "a": ("decode only", decode_only),
        "b": ("log mode (dict states)", log_mode),
        "c": ("table mode (state bytes per message)", table_mode),
        "d": ("log mode, sealed", sealed_mode),
        "e": ("table mode, one decode per message", table_mode_read_once),
    }
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(runs[args.profile][1], batch)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        return
    chosen = ["a", "b", "c", "e", *(["d"] if args.sealed else [])]
    rates = best_rates({key: runs[key][1] for key in chosen}, batch, args.repeat)
    print(f"{len(batch)} events of {args.customers} customers (seed {args.seed}), best of {args.repeat}, encryption off unless sealed")
    for key in chosen:
        print(f"({key}) {runs[key][0]:<38} {rates[key]:>9,.0f} events/s  {rates[key] / rates['a']:5.2f} x decode")
    report.write(
        args.json_out,
        [
            report.Figure(
                f"worker's per-event path in process, {runs[key][0]}", "", rates[key], "events/s", rates["a"], "decode only",
                report.slower_by_rate(rates[key], rates["a"]), "within 2x (for 0.5 of raw overall)",
            )
            for key in chosen
            if key != "a"
        ],
    )


if __name__ == "__main__":
    main()
