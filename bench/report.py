"""One row per measured figure, written by each benchmark with `--json-out FILE` and gathered by `bench/run`.

A figure is always next to a baseline measured in the same run on the same machine, and says how many times slower
than the baseline it is (1.0: as fast; the goal is written the same way, e.g. "within 4x").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured figure and its baseline."""

    path: str
    """What was measured, e.g. "publish 10k events -> register current"."""
    database: str
    """"sqlite", "postgresql", or "" where no database is involved."""
    value: float
    unit: str
    """"s", "events/s", "rows/s", "numbers/s", "ms", "MB"."""
    baseline: float
    baseline_name: str
    """What the baseline is, e.g. "raw produce+consume+decode"."""
    slower: float
    """How many times slower than the baseline (time / baseline time, or baseline rate / rate)."""
    goal: str
    """The goal, e.g. "within 4x", "100,000 numbers/s", "under 5 ms"."""


def slower_by_time(seconds: float, baseline_seconds: float) -> float:
    """Times slower, for durations."""
    return seconds / baseline_seconds


def slower_by_rate(rate: float, baseline_rate: float) -> float:
    """Times slower, for rates."""
    return baseline_rate / rate


def write(path: str | Path | None, figures: list[Figure]) -> None:
    """Append `figures` to the JSON lines file `path` (nothing if None)."""
    if path is None:
        return
    with Path(path).open("a", encoding="utf-8") as out:
        for figure in figures:
            out.write(json.dumps(asdict(figure), ensure_ascii=False) + "\n")


def read(path: str | Path) -> list[Figure]:
    """The figures a run wrote to `path`."""
    return [Figure(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
