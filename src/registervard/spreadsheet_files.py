"""Reading a register's file as Swedish offices write them: an .xlsx workbook, or CSV text in whatever encoding and
with whatever delimiter Excel or a CRM chose, with a title or blank rows above the header.

- Encoding: a byte order mark says UTF-8 or UTF-16 (Excel's "Unicode text"); otherwise the first letter beyond
  ASCII decides: valid UTF-8 is UTF-8, anything else is Windows-1252 (cp1252), which Excel's "CSV
  (semikolonavgränsad)" writes. A UTF-8 file with a line that is not UTF-8 is refused, naming the line
  (`UnreadableFile`), never with a traceback, and so is a byte that is not text in cp1252 either.
- Delimiter: `;`, `,` or tab, whichever splits the first lines into the same number of cells (more than one) most
  often. (The standard library's csv.Sniffer is not used: it picks letters and spaces as delimiters on short
  files and on Swedish text with commas inside cells.)
- Header: the first of the first rows that names two known columns (the caller's `score`), else the row that names
  the most; `header_row` overrides.

Rows are read as they are iterated, so a file of any size takes little memory. The only I/O of the import's
reading; knowing which headers are known is the caller's (`registervard.importing`).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

SAMPLE_BYTES = 64 * 1024
"""The start of a CSV file that the encoding and the delimiter are told from."""

SNIFF_LINES = 50
"""Lines of that start whose cells are counted to tell the delimiter."""

HEADER_SEARCH_ROWS = 30
"""Rows at the top of a file the header is looked for in (title rows, blank rows, notes above it)."""

DELIMITERS = (";", ",", "\t")
DEFAULT_DELIMITER = ";"
"""The delimiter of a file with a single column, and of the files written for Swedish Excel."""

ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "cp1252": "Windows-1252 (Excel's CSV)",
    "utf-16": "UTF-16 (Excel's Unicode text)",
}

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


class UnreadableFile(ValueError):
    """A file, or a line of it, that cannot be read as a table; the message is advice naming the line."""


@dataclass
class Table:
    """A file's header and its data rows (line or sheet row number, cells), read as they are iterated."""

    header: list[Any]
    rows: Iterator[tuple[int, list[Any]]]
    header_line: int
    """The header's line (CSV) or row (workbook) number, from 1."""
    encoding: str | None = None
    """For CSV: the encoding the file is read in (a key of ENCODING_NAMES)."""
    delimiter: str | None = None
    """For CSV: the delimiter."""
    skipped: list[int] = field(default_factory=list)
    """Non-blank lines above the header, left out (a title, notes)."""
    source: Iterator[Any] | None = field(default=None, repr=False)
    """The rows as read from the file, which holds it open until they are all read or it is closed."""

    def close(self) -> None:
        """Close the file before every row has been read."""
        _close(self.rows)
        if self.source is not None:
            _close(self.source)


HeaderScore = Callable[[Sequence[Any]], int]
"""How many known columns a row names, if it were the header."""


def read_table(path: Path, *, score: HeaderScore, header_row: int | None = None) -> Table:
    """The header and data rows of an .xlsx or CSV file (see the module's doc); UnreadableFile or ValueError with advice."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise UnreadableFile("is an old Excel workbook (.xls); save it as .xlsx (Excel workbook) or CSV and import that")
    if suffix in WORKBOOK_SUFFIXES:
        return _with_header(_workbook_rows(path), score, header_row)
    encoding, delimiter = sniff(path)
    stream = path.open("rb")
    try:
        reader = csv.reader(text_lines(stream, encoding), delimiter=delimiter)

        def records() -> Iterator[tuple[int, list[Any]]]:
            with stream:
                for cells in reader:
                    yield reader.line_num, cells

        table = _with_header(records(), score, header_row)
    except BaseException:
        stream.close()
        raise
    table.encoding, table.delimiter = encoding, delimiter
    return table


def _with_header(rows: Iterator[tuple[int, list[Any]]], score: HeaderScore, header_row: int | None) -> Table:
    """Find the header among the first rows; the rows after it stay unread."""
    seen: list[tuple[int, list[Any]]] = []
    chosen: int | None = None
    for number, cells in rows:
        seen.append((number, cells))
        if header_row is not None:
            if number >= header_row:
                chosen = len(seen) - 1
                break
            continue
        if score(cells) >= 2:
            chosen = len(seen) - 1
            break
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    if header_row is not None and chosen is None:
        _close(rows)
        raise UnreadableFile(f"--header-row {header_row}: the file has only {seen[-1][0] if seen else 0} line(s)")
    if chosen is None:
        scores = [score(cells) if _filled(cells) else -1 for _, cells in seen]
        chosen = max(range(len(seen)), key=lambda i: (scores[i], -i)) if seen else None
    if chosen is None:
        _close(rows)
        return Table(header=[], rows=iter(()), header_line=1)
    header_line, header = seen[chosen]
    skipped = [number for number, cells in seen[:chosen] if _filled(cells)]
    return Table(header=list(header), rows=_chain(seen[chosen + 1 :], rows), header_line=header_line, skipped=skipped, source=rows)


def _chain(first: list[tuple[int, list[Any]]], rest: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    try:
        yield from first
        yield from rest
    finally:
        _close(rest)


def _close(rows: Iterator[Any]) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def _filled(cells: Sequence[Any]) -> bool:
    return any(str(c).strip() for c in cells if c is not None)


def _workbook_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    """The active sheet's rows, numbered as Excel numbers them (blank rows included)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises zipfile, KeyError and XML errors alike for a file that is no workbook
        raise UnreadableFile(f"is not an Excel workbook that can be read ({type(error).__name__}); save it again as .xlsx") from None
    try:
        for number, cells in enumerate(book.active.iter_rows(min_row=1, values_only=True), start=1):
            yield number, list(cells)
    finally:
        book.close()


# --- CSV text ---------------------------------------------------------------------------


def sniff(path: Path) -> tuple[str, str]:
    """The encoding and the delimiter of a CSV file, told from its start."""
    with path.open("rb") as stream:
        sample = stream.read(SAMPLE_BYTES)
    encoding = sniff_encoding(sample)
    if len(sample) == SAMPLE_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]  # whole lines only
    text = sample.decode("utf-16" if encoding == "utf-16" else encoding, errors="replace")
    return encoding, sniff_delimiter(text.splitlines(keepends=True)[:SNIFF_LINES])


def sniff_encoding(sample: bytes) -> str:
    """"utf-8-sig", "utf-16", "utf-8" or "cp1252", told from a file's first bytes; UnreadableFile for binary data."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise UnreadableFile("is not a text file (it holds NUL bytes); import an .xlsx workbook or a CSV file")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)  # a character cut at the sample's end is fine
    except UnicodeDecodeError as error:
        # UTF-8 letters before the first byte that is not UTF-8: a UTF-8 file with a bad line, which the reading
        # refuses naming the line, rather than cp1252 that would turn the good lines into mojibake.
        return "cp1252" if sample[: error.start].isascii() else "utf-8"
    return "utf-8"


def sniff_delimiter(lines: Sequence[str]) -> str:
    """`;`, `,` or tab: the one that splits most of the non-blank lines into the same number of cells, more than one
    (on a tie, the one that makes more cells); DEFAULT_DELIMITER when none splits them."""
    best: tuple[int, int] = (0, 0)
    chosen = DEFAULT_DELIMITER
    for delimiter in DELIMITERS:
        counts = [len(cells) for cells in csv.reader(lines, delimiter=delimiter) if _filled(cells)]
        if not counts:
            continue
        cells, agreeing = Counter(counts).most_common(1)[0]
        if cells > 1 and (agreeing, cells) > best:
            best, chosen = (agreeing, cells), delimiter
    return chosen


def text_lines(stream: BinaryIO, encoding: str) -> Iterator[str]:
    """The lines of a CSV file (line breaks kept, for the csv module), decoded one at a time; UnreadableFile names a
    line that is not text in the file's encoding. A UTF-8 guess made on an ASCII start turns to cp1252 if the first
    line that is not ASCII is not UTF-8."""
    if encoding == "utf-16":
        yield from _utf16_lines(stream)
        return
    encoding = "utf-8" if encoding == "utf-8-sig" else encoding
    ascii_so_far = True
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError as error:
            if encoding != "utf-8" or not ascii_so_far:
                raise UnreadableFile(_not_text(number, error, encoding)) from None
            encoding = "cp1252"
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as again:
                raise UnreadableFile(_not_text(number, again, encoding)) from None
        ascii_so_far = ascii_so_far and raw.isascii()
        yield line


def _utf16_lines(stream: BinaryIO) -> Iterator[str]:
    text = io.TextIOWrapper(stream, encoding="utf-16", newline="")
    number = 0
    try:
        for number, line in enumerate(text, start=1):  # noqa: B007 (the number names the line that fails)
            yield line
    except UnicodeDecodeError:
        raise UnreadableFile(
            f"is not UTF-16 text from about line {number + 1} on, though it begins as UTF-16 (Excel's Unicode text): "
            "save it again from Excel as 'CSV UTF-8'"
        ) from None
    finally:
        text.detach()


def _not_text(number: int, error: UnicodeDecodeError, encoding: str) -> str:
    """Why line `number` cannot be read: the byte and where it is, never the text around it (it may be personal data)."""
    byte = error.object[error.start]
    where = f"byte 0x{byte:02X} at position {error.start + 1} of the line"
    if encoding == "utf-8":
        return (
            f"line {number} is not UTF-8 text like the lines before it ({where}): the file mixes two encodings; "
            "open it in Excel and save it again as 'CSV UTF-8' or 'CSV (semikolonavgränsad)'"
        )
    return (
        f"line {number} is neither UTF-8 nor Windows-1252 text, the encodings Excel writes ({where}); "
        "open it in Excel and save it again as 'CSV UTF-8'"
    )


def count_lines(path: Path) -> int:
    """How many lines a CSV file has, having decoded every one as `read_table` will: UnreadableFile names the first line
    that is not text, before anything is done with the lines above it."""
    encoding = sniff_encoding(_start_of(path))
    with path.open("rb") as stream:
        return sum(1 for _ in text_lines(stream, encoding))


def _start_of(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(SAMPLE_BYTES)


def workbook_rows(path: Path) -> int | None:
    """The number of rows a workbook's active sheet says it has (None if it does not say)."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = book.active.max_row
    finally:
        book.close()
    return rows if isinstance(rows, int) else None


def is_workbook(path: Path) -> bool:
    """Whether the file is read as an Excel workbook (by its suffix)."""
    return path.suffix.lower() in WORKBOOK_SUFFIXES
