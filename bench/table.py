"""Print the figures of a `bench/run` as one Markdown table, with the machine they were measured on.

    .venv/bin/python bench/table.py .state/bench/figures.jsonl
"""

from __future__ import annotations

import os
import platform
import sys

from report import Figure, read


def machine() -> str:
    """Cores, memory and Python of this machine."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return f"{os.cpu_count()} cores, {total_kb / 1024 / 1024:.0f} GB memory, Python {platform.python_version()}"


def number(value: float, unit: str) -> str:
    """A figure as people read it: thousands separated, one decimal below 100."""
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 1 else f"{value:.2f}"
    return f"{text} {unit}"


def table(figures: list[Figure]) -> str:
    """The Markdown table."""
    lines = [
        "| path | database | figure | baseline in the same run | times slower | goal |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| {f.path} | {f.database or '-'} | {number(f.value, f.unit)} | {f.baseline_name}: {number(f.baseline, f.unit)} "
            f"| {f.slower:.2f}x | {f.goal} |"
        )
    return "\n".join(lines)


def main() -> None:
    figures = read(sys.argv[1])
    print(f"Measured on {machine()}.\n")
    print(table(figures))


if __name__ == "__main__":
    main()
