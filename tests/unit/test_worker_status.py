"""The worker's status snapshot (`processors.worker_status`) and how `registervard status` joins the snapshots with lag."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from structlog.testing import capture_logs

from events.settings import Settings
from processors.lifecycle import Lifecycle
from processors.worker_status import RecoveryProgress, StatusPublisher, snapshot
from registervard.worker_report import assemble, latest_snapshots

SETTINGS = Settings(topic_prefix="t", partitions=3, worker_state="table")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _worker(*, tables: bool, actives=(0, 1), in_recovery=False, remaining=None, ready=True, heaps=None, lapses=None) -> Any:
    recovery = SimpleNamespace(
        in_recovery=in_recovery,
        active_remaining=lambda: Counter(remaining or {}),
        standby_remaining=lambda: Counter(),
    )
    app = SimpleNamespace(
        assignor=SimpleNamespace(
            assigned_actives=lambda: {TP(SETTINGS.intake_topic, p) for p in actives} | {TP("t.processors-customer-states-changelog", 2)},
            assigned_standbys=lambda: {TP("t.processors-customer-states-changelog", 2)},
        ),
        tables=SimpleNamespace(recovery=recovery),
        rebalancing=False,
    )
    event = asyncio.Event()
    if ready:
        event.set()
    lifecycle = Lifecycle()
    lifecycle._lapses = lapses or []
    return SimpleNamespace(
        app=app,
        settings=SETTINGS,
        ready=event,
        tables=object() if tables else None,
        heaps=heaps or {},
        lifecycle=lifecycle,
    )


def test_a_ready_table_worker_names_its_intake_partitions_standbys_and_the_earliest_lapse_of_the_partitions_it_owns():
    heaps = {
        0: [(date(2026, 6, 1), "C-1", "e1")],
        1: [(date(2026, 5, 1), "C-2", "e2"), (date(2026, 9, 1), "C-3", "e3")],
        2: [(date(2026, 4, 1), "C-4", "e4")],  # a partition it no longer owns (before its heaps are rebuilt)
    }
    snap = snapshot(_worker(tables=True, heaps=heaps), RecoveryProgress(), wid="host:1", now=NOW)
    assert snap["worker"] == "host:1"
    assert snap["mode"] == "table"
    assert snap["state"] == "ready"
    assert snap["partitions"] == [0, 1]
    assert snap["standby_partitions"] == [2]
    assert snap["next_expiry_due"] == "2026-05-01"
    assert snap["recovery_remaining"] is None and snap["recovery_progress"] is None
    assert snap["updated_at"] == NOW.isoformat()


def test_a_table_worker_in_recovery_says_how_much_remains_and_how_far_it_has_come():
    progress = RecoveryProgress()
    first = snapshot(_worker(tables=True, in_recovery=True, remaining={TP("c", 0): 600, TP("c", 1): 400}), progress, wid="w", now=NOW)
    assert (first["state"], first["recovery_remaining"], first["recovery_progress"]) == ("recovering", 1000, 0.0)
    later = snapshot(_worker(tables=True, in_recovery=True, remaining={TP("c", 0): 100, TP("c", 1): 150}), progress, wid="w", now=NOW)
    assert (later["state"], later["recovery_remaining"], later["recovery_progress"]) == ("recovering", 250, 0.75)
    done = snapshot(_worker(tables=True, remaining={TP("c", 0): 7}), progress, wid="w", now=NOW)
    assert (done["state"], done["recovery_remaining"], done["recovery_progress"]) == ("ready", None, None)


def test_recovery_progress_starts_afresh_with_each_recovery_and_knows_nothing_when_nothing_is_known_to_remain():
    progress = RecoveryProgress()
    assert progress.estimate(True, 200) == 0.0
    assert progress.estimate(True, 50) == 0.75
    assert progress.estimate(False, 0) is None
    assert progress.estimate(True, 10) == 0.0  # a new recovery: its own whole
    assert RecoveryProgress().estimate(True, 0) is None


def test_a_log_worker_folding_the_log_is_recovering_and_its_one_heap_gives_the_next_expiry():
    lapses = [(date(2026, 7, 1), "C-1", "e1")]
    snap = snapshot(_worker(tables=False, ready=False, lapses=lapses), RecoveryProgress(), wid="w", now=NOW)
    assert snap["state"] == "recovering"
    assert snap["recovery_progress"] is None
    assert snap["next_expiry_due"] == "2026-07-01"
    assert snapshot(_worker(tables=False), RecoveryProgress(), wid="w", now=NOW)["next_expiry_due"] is None


def _snap(wid: str, partitions: list[int], *, age: float = 1.0, **fields: Any) -> dict[str, Any]:
    return {
        "worker": wid, "mode": "table", "state": "ready", "partitions": partitions, "standby_partitions": [],
        "next_expiry_due": None, "updated_at": (NOW - timedelta(seconds=age)).isoformat(), "interval_seconds": 5.0, **fields,
    }


def test_lag_is_the_end_offset_minus_the_committed_one_or_minus_the_earliest_when_nothing_was_committed():
    report = assemble({}, {0: 10, 1: 7, 2: 5}, {0: 0, 1: 2, 2: 0}, {0: 10, 2: 3}, now=NOW, intake_topic="t.intake", group="t.processors")
    assert [(p.partition, p.owner, p.lag, p.committed) for p in report.partitions] == [(0, None, 0, 10), (1, None, 5, None), (2, None, 2, 3)]
    assert report.workers == []


def test_a_worker_silent_for_three_intervals_is_gone_and_owns_nothing_and_a_rebalance_claim_goes_to_the_latest_report():
    snapshots = {
        "a:1": _snap("a:1", [0, 1], age=4),
        "b:2": _snap("b:2", [1, 2], age=1),
        "c:3": _snap("c:3", [0], age=16),
    }
    report = assemble(snapshots, {0: 1, 1: 1, 2: 1}, {}, {}, now=NOW, intake_topic="t.intake", group="t.processors")
    assert [p.owner for p in report.partitions] == ["a:1", "b:2", "b:2"]
    assert [(w.worker, w.state) for w in report.workers] == [("a:1", "ready"), ("b:2", "ready"), ("c:3", "gone")]
    assert report.workers[2].describe() == f"not seen since {(NOW - timedelta(seconds=16)).isoformat(timespec='seconds')}"


def _described(**fields: Any) -> str:
    (row,) = assemble({"a:1": _snap("a:1", [0], **fields)}, {0: 0}, {}, {}, now=NOW, intake_topic="t.intake", group="g").workers
    return row.describe()


def test_a_recovering_worker_is_described_with_its_progress_and_what_remains():
    assert _described(state="recovering", recovery_progress=0.4, recovery_remaining=6000) == "recovering 40% (6000 records left)"
    assert _described(state="recovering", recovery_progress=1.0, recovery_remaining=0) == "recovering (tables read, finishing)"
    assert _described(state="recovering", recovery_progress=None, recovery_remaining=0) == "recovering"
    assert _described(state="recovering", mode="log") == "recovering (folding the event log)"
    assert _described() == "ready"


def test_the_latest_snapshot_per_worker_wins_a_tombstone_forgets_and_junk_is_passed_over():
    first, second = _snap("a:1", [0], age=10), _snap("a:1", [1], age=2)
    records = [
        (b"a:1", _json(first)), (b"b:2", _json(_snap("b:2", [2]))), (b"a:1", _json(second)), (b"b:2", None), (b"c:3", b"not json"), (None, _json(first)),
    ]
    assert latest_snapshots(records) == {"a:1": second}


def _json(snap: dict[str, Any]) -> bytes:
    return json.dumps(snap).encode()


def test_a_status_that_cannot_be_sent_is_a_warning_once_per_interval_and_never_an_error_for_the_worker():
    class DownProducer:
        async def send_and_wait(self, *args: object) -> None:
            raise ConnectionError("broker down")

    worker = _worker(tables=True)
    worker.app.producer = DownProducer()
    publisher = StatusPublisher(worker.app, worker, SETTINGS)

    async def twice() -> None:
        await publisher.publish()
        await publisher.publish()

    with capture_logs() as logs:
        asyncio.run(twice())
    assert [(e["event"], e["reason"]) for e in logs] == [("worker_status_not_published", "ConnectionError")]
