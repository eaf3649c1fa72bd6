"""Stream the rows of a CSV or XLSX file as text, in constant memory."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from blotter.errors import IngestError
from blotter.ingest.spec import ReaderOptions

Cells = list[str | None]
_SNIFF_BYTES = 1 << 20


@dataclass
class Table:
    """The header row, where it is, and an iterator of (row number, cells)."""

    headers: list[str]
    header_row: int
    rows: Iterator[tuple[int, Cells]]


def open_table(path: Path, options: ReaderOptions | None = None) -> Table:
    options = options or ReaderOptions()
    if not path.exists():
        raise IngestError(f"File {path} does not exist.", file=str(path))
    kind = options.format or path.suffix.lower().lstrip(".")
    if kind == "csv" or kind == "txt":
        return _csv(path, options)
    if kind in ("xlsx", "xlsm"):
        return _xlsx(path, options)
    raise IngestError(
        f"Cannot read {path.name}: Blotter reads .csv and .xlsx files.", file=str(path)
    )


def _encoding(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not just a character cut at the sniff boundary
            return "cp1252"
    return "utf-8-sig"


def _csv(path: Path, options: ReaderOptions) -> Table:
    encoding = options.encoding or _encoding(path)
    handle = path.open(encoding=encoding, newline="")
    reader = csv.reader(handle, delimiter=options.delimiter)
    row_number = 0
    try:
        for _ in range(options.header_row):
            headers = next(reader)
            row_number += 1
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
                if any(c.strip() for c in cells):
                    yield number, [c if c != "" else None for c in cells]
        except UnicodeDecodeError as err:
            raise IngestError(
                f"{path.name} near row {number + 1} is not {encoding} text ({err.reason}); set "
                "the reader's 'encoding' in the dataset file.",
                file=str(path),
                row=number + 1,
            ) from None
        except csv.Error as err:
            raise IngestError(
                f"{path.name} row {number + 1}: {err}", file=str(path), row=number + 1
            ) from None
        finally:
            handle.close()

    return Table(headers=[h.strip() for h in headers], header_row=options.header_row, rows=rows())


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
