"""Clean and type a CSV file a column at a time with Arrow: the row-by-row path's values
and problems, many times faster.

Each column's cells are split in two. Cells whose result Arrow can vouch for (no stray
whitespace, a plain decimal number, a date in the column's own strict format) are cleaned
and typed by Arrow compute. Every other cell goes through the very ``Cleaner`` the
row-by-row path uses, called once per *distinct* value of the batch, so the values and
problem reasons are the same by construction. Anything the file reader cannot vouch for
(ragged rows, bad encoding, quoted newlines in the header rows, huge cells) stops this
path; ``pipeline`` then carries on row by row from the first record not yet published.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from blotter.ingest.clean import CellError, Cleaner, TypedValue
from blotter.ingest.spec import ReaderOptions
from blotter.model import ColumnType

if TYPE_CHECKING:
    from blotter.ingest.pipeline import _Plan

# Arrow reads up to 32 blocks ahead of us on its I/O threads: small blocks keep that memory
# small, and blocks are joined into batches of about BATCH_BYTES for cheap column operations.
BLOCK_BYTES = 1 << 20
BATCH_BYTES = 16 << 20
ARROW_TYPES = {
    ColumnType.TEXT: pa.string(),
    ColumnType.NUMBER: pa.float64(),
    ColumnType.CHECKBOX: pa.bool_(),
    ColumnType.FLOATING_TIMESTAMP: pa.timestamp("us"),
    ColumnType.POINT: pa.float64(),
}

# Every character Python's str.split()/strip() and re's \s treat as whitespace (str.isspace:
# Unicode's category Zs and bidirectional classes WS, B and S). Written out rather than found
# by testing all 1.1 million code points at every start; tests/ingest/test_columnar.py checks
# it against the running Python's own definition.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_WHITESPACE = list(WHITESPACE)
_WS_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in _WHITESPACE)
_WS_OTHER = "".join(f"\\x{{{ord(c):x}}}" for c in _WHITESPACE if c != " ")
# A cell trimming, collapsing and folding leave alone: no whitespace but single inner spaces,
# and no NUL (which the Cleaner refuses: no engine may store one).
_UNTIDY = f"[{_WS_OTHER}\\x{{0}}]|  |^ | $"
_BLANK = f"^[{_WS_CLASS}]*$"
# Numbers float() and Arrow read to the same double: plain decimals of modest length.
_PLAIN_NUMBER = r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$"
_PLAIN_COORDINATE = r"^-?[0-9]{1,3}(\.[0-9]{1,15})?$"
# strptime directives a strict fixed-width pattern reproduces exactly.
_DIRECTIVES = {
    "Y": "[1-9][0-9]{3}",
    "m": "(0[1-9]|1[0-2])",
    "d": "(0[1-9]|[12][0-9]|3[01])",
    "H": "([01][0-9]|2[0-3])",
    "M": "[0-5][0-9]",
    "S": "[0-5][0-9]",
}
_ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


class Irregular(Exception):
    """The file holds something only the row-by-row reader handles exactly."""


@dataclass
class Cells:
    """One column's result for a batch: typed values, cleaned text (for derived columns,
    null where the cell failed) and (row position, reason) of each failed cell."""

    values: pa.Array
    text: pa.Array
    failures: list[tuple[int, str]]


def utf8_file(encoding: str | None) -> bool:
    """Arrow reads UTF-8 itself; other encodings stay on the row-by-row reader."""
    return encoding is not None and codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def header_lines_are_records(path: Path, header_row: int) -> bool:
    """Arrow skips header rows by physical line: only right if none spans lines."""
    with path.open("rb") as handle:
        for _ in range(header_row):
            line = handle.readline()
            if line.count(b'"') % 2 or b"\r" in line.rstrip(b"\r\n"):
                return False
    return True


def raw_batches(path: Path, options: ReaderOptions, width: int) -> Iterator[pa.RecordBatch]:
    """The data records after the header rows as string columns "0".."width-1"; raises
    Irregular where Arrow's parse could differ from Python's csv module."""
    try:
        reader = pcsv.open_csv(
            pa.OSFile(str(path)),  # read, not memory-mapped: RSS stays the batches' size
            read_options=pcsv.ReadOptions(
                skip_rows=options.header_row,
                column_names=[str(i) for i in range(width)],
                block_size=BLOCK_BYTES,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=options.delimiter, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={str(i): pa.string() for i in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, StopIteration) as err:  # StopIteration: no data rows at all
        if isinstance(err, StopIteration):
            return
        raise Irregular(str(err)) from None
    pending: list[pa.RecordBatch] = []
    while True:
        try:
            block = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as err:  # a ragged row, bad UTF-8, an unclosed quote
            raise Irregular(str(err)) from None
        pending.append(block)
        if sum(b.nbytes for b in pending) >= BATCH_BYTES:
            yield _joined(pending)
            pending = []
    if pending and _last_record_spans_lines(pending[-1]):
        # Arrow, like Python's csv, runs a quote left open to the end of the file into one
        # cell; only the row path tells that from a closed multi-line cell (and reports it),
        # so the last record alone is handed over.
        last = pending[-1]
        pending[-1] = last.slice(0, last.num_rows - 1)
        if sum(b.num_rows for b in pending):
            yield _joined(pending)
        raise Irregular("the last record spans lines")
    if pending:
        yield _joined(pending)


def _last_record_spans_lines(block: pa.RecordBatch) -> bool:
    if block.num_rows == 0:
        return False
    last = block.slice(block.num_rows - 1)
    return any(pc.any(pc.match_substring_regex(c, "[\r\n]")).as_py() for c in last.columns)


def _joined(blocks: list[pa.RecordBatch]) -> pa.RecordBatch:
    batch = pa.concat_batches(blocks) if len(blocks) > 1 else blocks[0]
    # Python's csv refuses cells over its field limit; that error is the row path's.
    limit = csv.field_size_limit()
    if any((pc.max(pc.binary_length(c)).as_py() or 0) > limit for c in batch.columns):
        raise Irregular("a cell over the csv field size limit")
    return batch


def blank_rows(columns: list[pa.Array]) -> pa.Array:
    """Rows whose every cell is empty or whitespace: skipped (but numbered) as csv does."""
    blank = pa.array([True] * (len(columns[0]) if columns else 0))
    for column in columns:
        if not pc.any(blank).as_py():
            break
        blank = pc.and_(blank, pc.match_substring_regex(column, _BLANK))
    return blank


def nulled(raw: pa.Array) -> pa.Array:
    """Empty cells as null, as the csv reader hands them on."""
    return pc.if_else(pc.equal(raw, ""), pa.scalar(None, pa.string()), raw)


def clean_column(plan: _Plan, cells: pa.Array) -> Cells:
    """Clean and type one column's cells (raw, or the origin's cleaned text when derived)."""
    cleaner = plan.cleaner
    kind = cleaner.spec.type
    arrow_type = ARROW_TYPES[kind]
    text, values, slow = _vectorized(cleaner, cells)
    failures: list[tuple[int, str]] = []
    if pc.any(slow).as_py():
        text, values, failures = _through_cleaner(cleaner, cells, slow, text, values, arrow_type)
    return Cells(values.cast(arrow_type), text, failures)


def _vectorized(cleaner: Cleaner, cells: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(cleaned text, typed value, cells left to the Cleaner) for the cells Arrow vouches for."""
    spec = cleaner.spec
    kind = spec.type
    present = pc.is_valid(cells)
    none = pa.nulls(len(cells), pa.string())
    plain = kind is not ColumnType.CHECKBOX and not (
        cleaner.map or cleaner.patterns or cleaner.split or spec.case != "none"
    )
    if not plain:
        return none, pa.nulls(len(cells), ARROW_TYPES[kind]), present
    tidy = pc.and_(present, pc.invert(_untidy(cells)))
    slow = pc.and_(present, pc.invert(tidy))
    markers = sorted(cleaner.nulls - {""})
    if markers:
        # casefold is lower() for ASCII; other cells are folded by the Cleaner.
        ascii_ = pc.string_is_ascii(cells)
        slow = pc.or_(slow, pc.and_(tidy, pc.invert(ascii_)))
        tidy = pc.and_(tidy, ascii_)
        marker = pc.is_in(pc.ascii_lower(cells), pa.array(markers, pa.string()))
        tidy = pc.and_(tidy, pc.invert(pc.fill_null(marker, False)))
    tidy = pc.fill_null(tidy, False)
    slow = pc.fill_null(slow, False)
    text = pc.if_else(tidy, cells, none)
    if kind is ColumnType.TEXT:
        return text, text, slow
    if kind is ColumnType.NUMBER:
        return _numbers(spec.suppress_below, cells, tidy, slow, text)
    return _timestamps(spec.date_format, cells, tidy, slow, text)


def _untidy(cells: pa.Array) -> pa.Array:
    """Whether each cell matches ``_UNTIDY``. A cell of printable ASCII holds no whitespace but
    the space and no NUL, so for those (most cells) three plain searches for spaces answer;
    the regex runs on the others only."""
    spaced = pc.or_(
        pc.match_substring(cells, "  "),
        pc.or_(pc.starts_with(cells, " "), pc.ends_with(cells, " ")),
    )
    other = pc.invert(pc.fill_null(pc.ascii_is_printable(cells), True))
    if not pc.any(other).as_py():
        return spaced
    odd = pc.match_substring_regex(cells.filter(other), _UNTIDY)
    return pc.replace_with_mask(spaced, other, odd)


def _numbers(
    below: float | None, cells: pa.Array, tidy: pa.Array, slow: pa.Array, text: pa.Array
) -> tuple[pa.Array, pa.Array, pa.Array]:
    simple = pc.and_(tidy, pc.fill_null(pc.match_substring_regex(cells, _PLAIN_NUMBER), False))
    slow = pc.or_(slow, pc.and_(tidy, pc.invert(simple)))
    numbers = pc.cast(pc.if_else(simple, cells, pa.scalar(None, pa.string())), pa.float64())
    if below is not None:
        numbers = pc.if_else(pc.less(numbers, below), pa.scalar(None, pa.float64()), numbers)
    return text, numbers, slow


def _timestamps(
    formats: list[str], cells: pa.Array, tidy: pa.Array, slow: pa.Array, text: pa.Array
) -> tuple[pa.Array, pa.Array, pa.Array]:
    # Only the first format is tried here: a cell it parses is one strptime parses first.
    candidates = [formats[0]] if formats else list(_ISO_FORMATS)
    stamps = pa.nulls(len(cells), pa.timestamp("us"))
    done = pa.array([False] * len(cells))
    for fmt in candidates:
        pattern = _strict_pattern(fmt)
        if pattern is None:
            continue
        fits = pc.and_(tidy, pc.fill_null(pc.match_substring_regex(cells, pattern), False))
        if not pc.any(fits).as_py():
            continue
        parsed = pc.strptime(
            pc.if_else(fits, cells, pa.scalar(None, pa.string())),
            format=fmt,
            unit="us",
            error_is_null=True,
        )
        # Arrow rolls 30 February over into March where strptime refuses it: compare days.
        parsed = pc.if_else(_same_day(fmt, cells, parsed), parsed, stamps)
        stamps = pc.if_else(pc.is_valid(parsed), parsed, stamps)
        done = pc.or_(done, pc.is_valid(parsed))
    slow = pc.or_(slow, pc.and_(tidy, pc.invert(done)))
    return text, stamps, slow


def _strict_pattern(fmt: str) -> str | None:
    """A fixed-width regex for a format of %Y %m %d %H %M %S and plain separators, else None."""
    parts = re.split(r"(%.)", fmt)
    directives = [p[1] for p in parts if p.startswith("%")]
    if not {"Y", "m", "d"} <= set(directives) or any(d not in _DIRECTIVES for d in directives):
        return None
    out = []
    for part in parts:
        if part.startswith("%"):
            out.append(_DIRECTIVES[part[1]])
        elif re.fullmatch(r"[-/:T .]*", part):
            out.append(re.escape(part))
        else:
            return None
    return "^" + "".join(out) + "$"


def _same_day(fmt: str, cells: pa.Array, parsed: pa.Array) -> pa.Array:
    """Whether the parsed day of month is the cell's own (fixed-width parts: %Y is 4 chars)."""
    start = 0
    for part in re.split(r"(%.)", fmt):
        if part == "%d":
            parsed_cells = pc.if_else(pc.is_valid(parsed), cells, pa.scalar(None, pa.string()))
            day = pc.utf8_slice_codeunits(parsed_cells, start, start + 2)
            same = pc.equal(pc.cast(pc.day(parsed), pa.int64()), pc.cast(day, pa.int64()))
            return pc.fill_null(same, False)
        start += 4 if part == "%Y" else 2 if part.startswith("%") else len(part)
    return pa.array([False] * len(cells))


def _through_cleaner(
    cleaner: Cleaner,
    cells: pa.Array,
    slow: pa.Array,
    text: pa.Array,
    values: pa.Array,
    arrow_type: pa.DataType,
) -> tuple[pa.Array, pa.Array, list[tuple[int, str]]]:
    """The Cleaner's result for the cells ``slow`` marks, once per distinct value."""
    positions = pc.indices_nonzero(slow)
    encoded = pc.dictionary_encode(cells.take(positions))
    results = [_clean_one(cleaner, value) for value in encoded.dictionary.to_pylist()]
    texts = [r[0] for r in results]
    typed = [r[1] for r in results]
    reasons = [r[2] for r in results]
    indices = encoded.indices
    new_text = pa.array(texts, pa.string()).take(indices)
    new_values = pa.array(typed, arrow_type).take(indices)
    return (
        pc.replace_with_mask(text, slow, new_text),
        pc.replace_with_mask(values.cast(arrow_type), slow, new_values),
        _failures(positions, indices, reasons),
    )


def _clean_one(cleaner: Cleaner, value: str | None) -> tuple[str | None, TypedValue, str | None]:
    """(cleaned text, typed value, reason it failed) exactly as the row-by-row path has it."""
    try:
        cleaned = cleaner.text(value)
        return cleaned, cleaner.convert(cleaned), None
    except CellError as err:
        return None, None, str(err)


def _failures(
    positions: pa.Array, indices: pa.Array, reasons: list[str | None]
) -> list[tuple[int, str]]:
    """(row position, reason) of each slow cell whose distinct value failed."""
    bad = [code for code, reason in enumerate(reasons) if reason is not None]
    if not bad:
        return []
    hits = pc.indices_nonzero(pc.is_in(indices, pa.array(bad, indices.type)))
    rows = positions.take(hits).to_pylist()
    codes = indices.take(hits).to_pylist()
    return [(row, reasons[code] or "") for row, code in zip(rows, codes, strict=True)]


def points(
    lat: pa.Array, lon: pa.Array, parse: Callable[[int], list[float | None]]
) -> tuple[pa.Array, pa.Array]:
    """(lon, lat) columns: plain in-range pairs by Arrow, empty pairs as nulls, and every
    other row through ``parse(position)`` (the row-by-row code, which records problems)."""
    plain = pc.and_(
        pc.match_substring_regex(lat, _PLAIN_COORDINATE),
        pc.match_substring_regex(lon, _PLAIN_COORDINATE),
    )
    lat_n = pc.cast(pc.if_else(plain, lat, pa.scalar(None, pa.string())), pa.float64())
    lon_n = pc.cast(pc.if_else(plain, lon, pa.scalar(None, pa.string())), pa.float64())
    inside = pc.fill_null(
        pc.and_(pc.less_equal(pc.abs(lat_n), 90.0), pc.less_equal(pc.abs(lon_n), 180.0)),
        False,
    )
    empty = pc.and_(pc.equal(lat, ""), pc.equal(lon, ""))
    slow = pc.invert(pc.or_(inside, empty))
    lat_n = pc.if_else(inside, lat_n, pa.scalar(None, pa.float64()))
    lon_n = pc.if_else(inside, lon_n, pa.scalar(None, pa.float64()))
    if pc.any(slow).as_py():
        pairs = [parse(p) for p in pc.indices_nonzero(slow).to_pylist()]
        lon_n = pc.replace_with_mask(lon_n, slow, pa.array([p[0] for p in pairs], pa.float64()))
        lat_n = pc.replace_with_mask(lat_n, slow, pa.array([p[1] for p in pairs], pa.float64()))
    return lon_n, lat_n
