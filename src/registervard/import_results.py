"""The result file of `registervard import`: each row's number, customer id, status and messages, written row by row.

Beside the input by default (`kunder.csv` → `kunder.result.csv`, `kunder.xlsx` → `kunder.result.xlsx`). A CSV
result is `;`-separated UTF-8 with a byte order mark, which Swedish Excel opens in columns with å, ä and ö intact;
a workbook has a bold header, a frozen header row and a filter. Neither holds personal data: customer ids are opaque
and messages name fields and columns, never values.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from registervard.spreadsheet_files import WORKBOOK_SUFFIXES

HEADER = ("row", "customer_id", "status", "messages")
MESSAGE_SEPARATOR = " | "
"""Between a row's messages in their one cell (a message may hold `;`)."""


class RowStatus(StrEnum):
    IMPORTED = "imported"
    """Registered (published), or with --dry-run what would be."""
    WARNING = "warning"
    """Registered with a value left out (the messages say which)."""
    UNCHANGED = "unchanged"
    """The register has the customer already: nothing published."""
    REJECTED = "rejected"
    """Not imported: the messages say every reason."""


@dataclass(frozen=True)
class RowResult:
    line_number: int
    customer_id: str
    status: RowStatus
    messages: tuple[str, ...] = ()


def result_path(source: Path, chosen: Path | None = None) -> Path:
    """Where the result of importing `source` goes: `chosen`, else beside it as `<name>.result.csv` or `.xlsx`."""
    if chosen is not None:
        return chosen
    suffix = ".xlsx" if source.suffix.lower() in WORKBOOK_SUFFIXES else ".csv"
    return source.with_name(f"{source.stem}.result{suffix}")


class ResultFile:
    """A result file being written, a row at a time (a workbook is streamed by openpyxl's write-only mode)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._workbook = path.suffix.lower() in WORKBOOK_SUFFIXES
        self._book: Any = None
        self._sheet: Any = None
        self._file: Any = None
        self._csv: Any = None

    def __enter__(self) -> ResultFile:
        if self._workbook:
            self._open_workbook()
        else:
            self._file = self.path.open("w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._file, delimiter=";", lineterminator="\r\n")
            self._csv.writerow(HEADER)
        return self

    def _open_workbook(self) -> None:
        import openpyxl
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self._book = openpyxl.Workbook(write_only=True)
        self._sheet = self._book.create_sheet("Result")
        self._sheet.freeze_panes = "A2"
        for letter, width in zip("ABCD", (8, 22, 12, 120), strict=True):
            self._sheet.column_dimensions[letter].width = width
        header = []
        for title in HEADER:
            cell = WriteOnlyCell(self._sheet, value=title)
            cell.font = Font(bold=True)
            header.append(cell)
        self._sheet.append(header)

    def write(self, result: RowResult) -> None:
        """One row's result."""
        cells = [result.line_number, result.customer_id, result.status.value, MESSAGE_SEPARATOR.join(result.messages)]
        if self._workbook:
            self._sheet.append(cells)
        else:
            self._csv.writerow(cells)
        self.rows += 1

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if self._workbook:
            self._sheet.auto_filter.ref = f"A1:D{self.rows + 1}"
            self._book.save(self.path)
        else:
            self._file.close()
