"""Stream the rows of a CSV or XLSX file as text, in constant memory."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from blotter.errors import IngestError
from blotter.ingest.bounds import ReadLimits, check_zip
from blotter.ingest.spec import ReaderOptions

Cells = list[str | None]
_SNIFF_BYTES = 1 << 20
_ENCODING_NAMES = {"cp1252": "Windows-1252", "latin-1": "Latin-1 (ISO-8859-1)"}
# A byte order mark names its encoding for sure (UTF-32's marks start like UTF-16's, so
# they are tried first); Python's utf-16 and utf-32 codecs read the mark and drop it.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Fed to the csv reader after the file's last line: it comes back as a record of its own
# unless a quote left open swallowed it, which Python's csv otherwise accepts silently.
_END = "\ue000blotter: end of file\ue000"


@dataclass
class Table:
    """The header row, where it is, and an iterator of (row number, cells)."""

    headers: list[str]
    header_row: int
    rows: Iterator[tuple[int, Cells]]
    encoding: str | None = None  # CSV only: the text encoding used
    notes: list[str] = field(default_factory=list)  # things the publisher should know


def open_table(
    path: Path, options: ReaderOptions | None = None, limits: ReadLimits | None = None
) -> Table:
    """Open a CSV or XLSX file; rows stream lazily, so memory stays flat. An XLSX is
    refused before it is opened if it would unpack past ``limits``."""
    options = options or ReaderOptions()
    if not path.exists():
        raise IngestError(f"File {path} does not exist.", file=str(path))
    kind = options.format or path.suffix.lower().lstrip(".")
    if kind == "csv" or kind == "txt":
        return _csv(path, options)
    if kind in ("xlsx", "xlsm"):
        check_zip(path, limits or ReadLimits())
        return _xlsx(path, options)
    raise IngestError(
        f"Cannot read {path.name}: Blotter reads .csv and .xlsx files.", file=str(path)
    )


def _encoding(path: Path) -> str:
    """UTF-8 (a BOM is dropped) when the start of the file decodes, else a Windows encoding."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # At the end of a full sniff, the "error" may just be a character cut in two.
        if len(head) < _SNIFF_BYTES or err.start < len(head) - 4:
            # Files that are not UTF-8 almost always come from Excel on Windows (cp1252,
            # a superset of Latin-1 with curly quotes); Latin-1 decodes any byte at all.
            try:
                head.decode("cp1252")
            except UnicodeDecodeError:
                return "latin-1"
            return "cp1252"
    return "utf-8-sig"


def _first_bad_line(path: Path, encoding: str) -> int:
    """The line (counting from 1) where ``path`` stops being ``encoding``: read only on error."""
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError:
                return number
    return number


def _csv(path: Path, options: ReaderOptions) -> Table:
    encoding = options.encoding or _encoding(path)
    handle = path.open(encoding=encoding, newline="")
    reader = csv.reader(_with_end_marker(handle), delimiter=options.delimiter)
    row_number = 0
    try:
        for _ in range(options.header_row):
            headers = next(reader)
            row_number += 1
            if headers == [_END]:
                raise StopIteration
            if headers and _END in headers[-1]:
                handle.close()
                raise _unclosed_quote(path, row_number)
    except StopIteration:
        handle.close()
        raise IngestError(
            f"{path.name} has no header row {options.header_row}.", file=str(path)
        ) from None
    except UnicodeDecodeError as err:
        handle.close()
        raise IngestError(
            f"{path.name} is not {encoding} text: {err}; set the reader's "
            "'encoding' in the dataset file.",
            file=str(path),
        ) from None

    def rows() -> Iterator[tuple[int, Cells]]:
        # Rows are numbered as a spreadsheet shows records (a quoted cell may span lines).
        number = options.header_row
        try:
            for cells in reader:
                number += 1
                if cells == [_END]:
                    return
                if cells and _END in cells[-1]:
                    raise _unclosed_quote(path, number)
                if any(c.strip() for c in cells):
                    yield number, [c if c != "" else None for c in cells]
        except UnicodeDecodeError as err:
            line = _first_bad_line(path, encoding)
            raise IngestError(
                f"{path.name} line {line} is not {encoding} text ({err.reason}), although "
                "the start of the file is; set the reader's 'encoding' in the dataset file "
                "(e.g. cp1252 for files saved by Excel on Windows).",
                file=str(path),
                line=line,
            ) from None
        except csv.Error as err:
            raise IngestError(
                f"{path.name} row {number + 1}: {err}", file=str(path), row=number + 1
            ) from None
        finally:
            handle.close()

    notes = []
    if options.encoding is None and encoding in _ENCODING_NAMES:
        notes.append(
            f"{path.name} is not UTF-8; it was read as {_ENCODING_NAMES[encoding]}. If letters "
            "with accents look wrong, set the reader's 'encoding' in the dataset file."
        )
    return Table(
        headers=[h.strip() for h in headers],
        header_row=options.header_row,
        rows=rows(),
        encoding=encoding,
        notes=notes,
    )


def _with_end_marker(lines: Iterator[str]) -> Iterator[str]:
    """The file's lines, then a line break (for a last line without one) and the marker."""
    last = "\n"
    for last in lines:
        yield last
    if not last.endswith(("\n", "\r")):
        yield "\n"
    yield _END


def _unclosed_quote(path: Path, number: int) -> IngestError:
    return IngestError(
        f"{path.name} row {number}: a quoted value opens in this row and is never closed, so "
        "every line after it would be read as one cell; close the quote (a quote inside a "
        'quoted value is written twice: "") and upload the file again.',
        file=str(path),
        row=number,
    )


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _xlsx(path: Path, options: ReaderOptions) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many kinds for a damaged file
        raise IngestError(
            f"Cannot open {path.name} as an Excel workbook: {err}", file=str(path)
        ) from None
    if options.sheet is not None and options.sheet not in book.sheetnames:
        book.close()
        raise IngestError(
            f"{path.name} has no sheet '{options.sheet}'; it has {', '.join(book.sheetnames)}.",
            file=str(path),
        )
    sheet = book[options.sheet] if options.sheet else book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    headers: list[str] = []
    for _ in range(options.header_row):
        row = next(values, None)
        if row is None:
            book.close()
            raise IngestError(
                f"{path.name} has no header row {options.header_row}.", file=str(path)
            )
        headers = [(_cell_text(v) or "").strip() for v in row]
    while headers and not headers[-1]:
        headers.pop()

    def rows() -> Iterator[tuple[int, Cells]]:
        number = options.header_row
        try:
            for row in values:
                number += 1
                cells = [_cell_text(v) for v in row[: len(headers)]]
                if any(c is not None for c in cells):
                    yield number, cells
        finally:
            book.close()

    return Table(headers=headers, header_row=options.header_row, rows=rows())
