"""Writing a table people open in Excel: an .xlsx workbook or CSV text, a row at a time.

Every command that writes a spreadsheet writes it through here (`export`, `wash`), so that they all read the same in
Swedish Excel:

- A workbook has a bold header row, frozen (the pane at A2), a filter over the data, dates and times as real date
  cells (they sort and filter as dates), and columns as wide as the header and the first rows need. It is written
  in openpyxl's write-only mode: rows go to disk as they come, so any number of them takes the same memory.
- CSV is UTF-8 with a byte order mark (without it Excel reads å, ä and ö as cp1252), `;`-separated by default
  (Swedish Excel splits on `;`, not `,`), with dates as YYYY-MM-DD and times as YYYY-MM-DD HH:MM:SS, which Excel
  reads as dates.
- Yes and no are written "ja" and "nej", which `registervard import` reads back.
- Nothing in a cell is ever run as a formula (CSV or formula injection: a cell "=HYPERLINK(...)" or
  "+cmd|' /C calc'!A0" in a customer's name). In CSV, text starting with = + - @, a tab or a carriage return gets
  an apostrophe in front, unless it is a plain number ("+46701234567", "-5"), which cannot run anything and which
  an apostrophe would corrupt. In a workbook, text is always a text cell, which Excel never evaluates.

Times with a time zone are written in UTC: Excel's cells have no time zone.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

WORKBOOK_SUFFIX = ".xlsx"
DEFAULT_DELIMITER = ";"
"""Swedish Excel's list separator: what it splits a CSV file on when it is opened with a double click."""
YES, NO = "ja", "nej"

_NOT_WRITABLE = {".xls": "an old Excel workbook", ".xlsm": "a workbook with macros", ".ods": "an OpenDocument spreadsheet"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_SAMPLE_ROWS = 200
"""Rows held back to fit the column widths: a write-only sheet's widths must be set before its first row is written."""
_MAX_WIDTH = 60
_FILTER_BUTTON = 4
"""Extra width of a header cell, for the filter's drop-down button beside the text."""


def is_workbook(path: Path) -> bool:
    """Whether `path` names an Excel workbook to write (.xlsx); anything else is written as CSV."""
    return path.suffix.lower() == WORKBOOK_SUFFIX


def check_writable(path: Path) -> None:
    """ValueError with advice when `path` names a kind of spreadsheet this module cannot write (.xls, .xlsm, .ods)."""
    kind = _NOT_WRITABLE.get(path.suffix.lower())
    if kind is not None:
        raise ValueError(f"{path.name} would be {kind}; name the file .xlsx (Excel workbook) or .csv")


def neutralise(text: str) -> str:
    """`text` as a CSV cell that Excel shows as text and never runs: an apostrophe before a would-be formula."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def csv_text(value: Any) -> str:
    """A value as its CSV cell: empty for None, ja/nej, ISO dates, UTC times to the second, whole numbers without ".0",
    text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, datetime):
        return _utc(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():  # a workbook's whole number, read as 46701234567.0
        return str(int(value))
    if isinstance(value, Enum):
        value = value.value
    return neutralise(str(value))


class CsvWriter:
    """CSV text for Excel, a row at a time: to a file (with a byte order mark) or to a stream (without: standard output
    is read by programs, not by Excel)."""

    def __init__(
        self, target: Path | TextIO, header: Sequence[str], *, delimiter: str = DEFAULT_DELIMITER, lineterminator: str = "\r\n"
    ) -> None:
        self.path = target if isinstance(target, Path) else None
        self._file: TextIO = target.open("w", encoding="utf-8-sig", newline="") if isinstance(target, Path) else target
        self._writer = csv.writer(self._file, delimiter=delimiter, lineterminator=lineterminator)
        self._writer.writerow([csv_text(h) for h in header])
        self.rows = 0

    def write(self, cells: Sequence[Any]) -> None:
        """One data row."""
        self._writer.writerow([csv_text(c) for c in cells])
        self.rows += 1

    def close(self) -> None:
        """Close the file (a stream is only flushed: it is the caller's)."""
        if self.path is not None:
            self._file.close()
        else:
            self._file.flush()

    def discard(self) -> None:
        """Close and remove the file: the writing failed half-way."""
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if error is None:
            self.close()
        else:
            self.discard()


def _width(value: Any) -> int:
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    return len(csv_text(value))


class WorkbookWriter:
    """An .xlsx workbook of one sheet, a row at a time (see the module's doc); saved by `close`."""

    def __init__(self, path: Path, header: Sequence[str], *, title: str = "Blad1") -> None:
        import openpyxl
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        self._text_cell, self._illegal = WriteOnlyCell, ILLEGAL_CHARACTERS_RE  # looked up once, not per cell
        self.path = path
        self.header = [str(h) for h in header]
        self.rows = 0
        self._book = openpyxl.Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title[:31])  # Excel's limit on a sheet's name
        self._held: list[list[Any]] | None = []

    def write(self, cells: Sequence[Any]) -> None:
        """One data row."""
        row = [self._cell(c) for c in cells]
        self.rows += 1
        if self._held is None:
            self._sheet.append(row)
            return
        self._held.append(row)
        if len(self._held) >= _SAMPLE_ROWS:
            self._start()

    def _cell(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:  # the common cells first: this runs for every cell of a large export
            if not value:
                return None  # an empty cell, not a cell holding empty text
            if self._illegal.search(value):
                value = self._illegal.sub("", value)  # control characters a workbook cannot hold
            if value.startswith("="):  # openpyxl would write it as a formula; a text cell is shown, never run
                cell = self._text_cell(self._sheet, value=value)
                cell.data_type = "s"
                return cell
            return value
        if value is None or kind is int or kind is float or kind is date:
            return value
        if kind is bool:
            return YES if value else NO
        if isinstance(value, datetime):
            return _utc(value)
        if isinstance(value, Enum):
            return self._cell(value.value)
        if isinstance(value, str):
            return self._cell(str.__str__(value))
        if isinstance(value, (int, float, date)):
            return value
        return self._cell(str(value))

    def _start(self) -> None:
        """Fit the widths to the header and the rows held, freeze the header, and write them."""
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import Cell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        held, self._held = self._held or [], None
        columns = max([len(self.header), *(len(r) for r in held)])
        for index in range(columns):
            widths = [len(self.header[index]) + _FILTER_BUTTON if index < len(self.header) else 0]
            widths += [_width(getattr(r[index], "value", r[index])) for r in held if index < len(r)]
            self._sheet.column_dimensions[get_column_letter(index + 1)].width = min(max(8, *widths) + 2, _MAX_WIDTH)
        self._sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for title in self.header:
            cell = self._cell(title)
            if not isinstance(cell, Cell):
                cell = WriteOnlyCell(self._sheet, value=cell)
            cell.font = bold
            header.append(cell)
        self._sheet.append(header)
        for row in held:
            self._sheet.append(row)

    def close(self) -> None:
        """Write what is held, set the filter over header and data, and save the workbook."""
        from openpyxl.utils import get_column_letter

        if self._held is not None:
            self._start()
        last = get_column_letter(max(1, len(self.header)))
        self._sheet.auto_filter.ref = f"A1:{last}{self.rows + 1}"
        self._book.save(self.path)

    def __enter__(self) -> WorkbookWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if error is None:  # a failed write leaves no half a workbook behind
            self.close()


def spreadsheet_writer(path: Path, header: Sequence[str], *, delimiter: str = DEFAULT_DELIMITER, title: str = "Blad1") -> CsvWriter | WorkbookWriter:
    """A writer for `path`: a workbook for .xlsx, else CSV with `delimiter`; ValueError with advice for .xls, .xlsm, .ods."""
    check_writable(path)
    if is_workbook(path):
        return WorkbookWriter(path, header, title=title)
    return CsvWriter(path, header, delimiter=delimiter)
