"""The columnar path publishes exactly what the row-by-row path does: the same rows, column
types, problems (row, column, value, reason, order, cap and total), progress and notes."""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlglot import exp

from blotter.errors import IngestError, ValidationFailed
from blotter.ingest import columnar, pipeline
from blotter.ingest.pipeline import load_file, prepare
from blotter.ingest.spec import DatasetSpec, load_spec_file
from blotter.samples import sample_specs
from blotter.samples.engagement import generate
from blotter.schema import DATASET_TABLE
from blotter.store import Store

Write = Callable[[str, str], Path]
SpecOf = Callable[[str], DatasetSpec]


@dataclass
class Outcome:
    """Everything a pass over a file produces that a publisher or store can see."""

    table: pa.Table | None
    failure: tuple[str, list[dict[str, Any]], int] | None
    progress: list[int]
    rows_read: int
    notes: list[str]
    row_by_row_from: int | None


def outcome(path: Path, spec: DatasetSpec | None, *, columnar_path: bool) -> Outcome:
    prepared = prepare(path, spec)
    prepared.columnar = columnar_path
    seen: list[int] = []
    prepared.progress = seen.append
    batches: list[pa.RecordBatch] = []
    failure = None
    try:
        batches.extend(prepared.batches())
    except ValidationFailed as err:
        failure = (err.message, err.problems, err.total)
    names = [n for c in prepared.columns for n in pipeline.physical_names(c)]
    types = [pipeline._ARROW[c.type] for c in prepared.columns for _ in pipeline.physical_names(c)]
    schema = pa.schema(list(zip(names, types, strict=True)))
    table = pa.Table.from_batches(batches, schema=schema) if failure is None else None
    return Outcome(
        table, failure, seen, prepared.rows_read, prepared.notes, prepared.row_by_row_from
    )


def same_both_ways(path: Path, spec: DatasetSpec | None = None) -> Outcome:
    """Run both paths, assert they agree, and return the columnar one."""
    fast = outcome(path, spec, columnar_path=True)
    slow = outcome(path, spec, columnar_path=False)
    assert slow.row_by_row_from == 0
    if fast.table is not None or slow.table is not None:
        assert fast.table is not None and slow.table is not None
        assert fast.table.schema == slow.table.schema
        assert fast.table.to_pylist() == slow.table.to_pylist()
        assert fast.table.equals(slow.table)
    assert fast.failure == slow.failure
    assert (fast.progress, fast.rows_read, fast.notes) == (
        slow.progress,
        slow.rows_read,
        slow.notes,
    )
    return fast


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many batches from a small file: Arrow blocks of 256 bytes, progress every 4 rows."""
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 256)
    monkeypatch.setattr(columnar, "BATCH_BYTES", 600)
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 4)


@pytest.mark.parametrize("name", [p.name for p in sample_specs()])
def test_every_sample_dataset_file(name: str) -> None:
    spec = load_spec_file(next(p for p in sample_specs() if p.name == name))
    with tempfile.TemporaryDirectory() as scratch:
        if spec.sample:
            generate(Path(scratch) / str(spec.source))
            spec.base_dir = Path(scratch)
        source = spec.source_path()
        assert source is not None
        fast = same_both_ways(source, spec)
    assert fast.row_by_row_from is None and fast.table is not None and fast.table.num_rows


def test_the_dirty_rutland_file_in_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 4096)  # a few rows per batch
    monkeypatch.setattr(columnar, "BATCH_BYTES", 8192)
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 4)
    spec = load_spec_file(next(p for p in sample_specs() if p.name == "use_of_force.yaml"))
    fast = same_both_ways(spec.source_path(), spec)  # type: ignore[arg-type]
    assert fast.row_by_row_from is None and len(fast.progress) > 10


STOPS = """\
name: Stops
source: stops.csv
columns:
  - {field: case_number, source: Case, keep_raw: case_raw}
  - {field: age, type: number, source: Age, suppress_below: 18, null_values: ["", "n/a"]}
  - {field: searched, type: checkbox, source: Searched}
  - {field: stopped_at, type: floating_timestamp, source: When}
  - {field: logged, type: floating_timestamp, source: Logged, date_format: ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]}
  - {field: location, type: point, latitude: Lat, longitude: Lon}
  - {field: race, source: Race, map: {w: white, b: black}, unmapped: error}
  - {field: race_group, derive_from: race, map: {white: majority, black: minority}, unmapped: error}
  - {field: force, source: Force, split: /, map: {taser: cew}, case: lower, internal: true}
  - {field: note, source: Note, trim: false, collapse_spaces: false}
"""
HEADER = "Case,Age,Searched,When,Logged,Lat,Lon,Race,Force,Note\n"
GOOD = [
    "A-1,34,yes,2015-01-02,2015-01-02 10:30,44.5,-72.9,W,Taser/Baton,ok\n",
    ' A  2 ,"1,234",N,1/31/2015,2015-01-02 10:30:00,,,b,baton,"  two  spaces "\n',
    "A-3,17,true,2015-01-02T10:30:00,,44.5,-72.9,W,,\n",
    "A\u00a04,$12,1,2015-02-03 04:05:06,2016-02-29 23:59,-0,0,w,TASER,tab\there\n",
    "A-5,N/A,0,31-Jan-2015,2015-03-04 05:06,90,180,B,x/y/x,\u3000wide\n",
    ",,,,,,,,,\n",
    "  , \t ,,,,,,,,\n",
    'A-6,-0,f,"Jan 31, 2015",,-90.0,-180.000,W,"a\nb","line\r\nbreak"\r\n',
]
BAD = [
    "B-1,thirty,maybe,not a date,2015-02-30 10:00,123.4,-72,W,,\n",
    "B-2,1e999,yes,2015-02-30,2015-13-01 10:00,44,-200,X,,\n",
    "B-3,old,y,2015-01-02 25:00:00,2015-01-02,44,,W,,\n",
    "B-4,5,n,2/30/2015,,north,-72,,,\n",
    "B-5,5,n,2015-01-02,,,,W,,nul\x00inside\n",
]


def test_crafted_good_rows(write: Write, spec_of: SpecOf, small_batches: None) -> None:
    write("stops.csv", HEADER + "".join(GOOD * 3))
    fast = same_both_ways(spec_of(STOPS).source_path(), spec_of(STOPS))  # type: ignore[arg-type]
    # The last record spans lines: it alone is read row by row (an unclosed quote looks the
    # same to Arrow), every record before it column by column.
    assert fast.row_by_row_from == 23 and fast.table is not None
    assert fast.table.num_rows == 18
    write("stops.csv", HEADER + "".join(GOOD * 3) + GOOD[0])
    fast = same_both_ways(spec_of(STOPS).source_path(), spec_of(STOPS))  # type: ignore[arg-type]
    assert fast.row_by_row_from is None and fast.table is not None
    assert fast.table.num_rows == 19


@pytest.mark.parametrize("bad", range(len(BAD)))
def test_crafted_bad_rows_report_the_same_problems(
    write: Write, spec_of: SpecOf, small_batches: None, bad: int
) -> None:
    write("stops.csv", HEADER + "".join(GOOD) + BAD[bad] + "".join(GOOD) + "".join(BAD))
    spec = spec_of(STOPS)
    fast = same_both_ways(spec.source_path(), spec)  # type: ignore[arg-type]
    assert fast.row_by_row_from is None and fast.failure is not None
    assert fast.failure[2] >= 10


def test_the_problem_list_cap_and_total(
    write: Write, spec_of: SpecOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "MAX_LISTED_PROBLEMS", 7)
    write("stops.csv", HEADER + "".join(BAD * 5))
    spec = spec_of(STOPS)
    fast = same_both_ways(spec.source_path(), spec)  # type: ignore[arg-type]
    assert fast.failure is not None and len(fast.failure[1]) == 7 and fast.failure[2] > 7


@pytest.mark.parametrize(
    "tail",
    [
        "Z-1,40,yes,2015-01-02,,,,W,,,extra\n",  # a value past the last header
        "Z-1,40,yes\n",  # a short row
        "Z-1,40,yes,2015-01-02,,,,W,,,\n",  # a trailing empty cell: not a problem
        'Z-1,40,yes,2015-01-02,,,,W,,"unclosed\n',  # a quote left open to the end
    ],
)
def test_ragged_rows_hand_over_to_the_row_reader(
    write: Write, spec_of: SpecOf, small_batches: None, tail: str
) -> None:
    write("stops.csv", HEADER + "".join(GOOD * 4) + tail + "".join(GOOD) + "".join(BAD))
    spec = spec_of(STOPS)
    fast = same_both_ways(spec.source_path(), spec)  # type: ignore[arg-type]
    assert fast.row_by_row_from is not None and fast.row_by_row_from > 0


def test_a_utf8_file_broken_late_hands_over_and_fails_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 1 << 16)
    monkeypatch.setattr(columnar, "BATCH_BYTES", 1 << 16)
    path = tmp_path / "late.csv"  # the encoding is guessed from the first megabyte
    path.write_bytes(b"name,age\n" + b"abc,1\n" * 200_000 + b"caf\xe9,2\n")
    with pytest.raises(Exception) as slow:
        outcome(path, None, columnar_path=False)
    with pytest.raises(type(slow.value)) as fast:
        outcome(path, None, columnar_path=True)
    assert str(fast.value) == str(slow.value) and "line 200002" in str(fast.value)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("windows.csv", "Case,Age\nCaf\u00e9,1\nB,x\n".encode("cp1252")),
        ("bom.csv", "\ufeffCase,Age\nA,1\nB,x\n".encode()),
        ("title.csv", b'Exported "2016",\n\nCase,Age\nA,1\nB,two\n'),
        ("quoted.csv", b'"Ca\nse",Age\nA,1\n'),
        ("semicolon.csv", b"Case;Age\nA;1,5\nB;2\n"),
        ("blank-lines.csv", b"Case,Age\n\nA,1\n\n\nB,x\n\n"),
        ("crlf.csv", b"Case,Age\r\nA,1\r\nB,x\r\n"),
        ("utf16le.csv", "\ufeffCase,Age\nCaf\u00e9,1\nB,x\n".encode("utf-16-le")),
        ("utf16be.csv", "\ufeffCase,Age\nCaf\u00e9,1\nB,x\n".encode("utf-16-be")),
        ("last-cell-lines.csv", b'Case,Age\nA,1\n"B\nC",2\n'),
    ],
)
def test_reader_options_and_encodings(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    reader = {
        "title.csv": "reader: {header_row: 3}\n",
        "semicolon.csv": "reader: {delimiter: ';'}\n",
        "quoted.csv": "",
    }.get(name, "")
    case = "Ca\\nse" if name == "quoted.csv" else "Case"
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(
        f"name: S\nsource: {name}\n{reader}columns:\n"
        f'  - {{field: case_number, source: "{case}"}}\n'
        "  - {field: age, type: number, source: Age}\n"
    )
    spec = load_spec_file(spec_file)
    fast = same_both_ways(path, spec)
    row_path = ("windows.csv", "quoted.csv", "utf16le.csv", "utf16be.csv")
    expected_row_path = 0 if name in row_path else 1 if name == "last-cell-lines.csv" else None
    assert fast.row_by_row_from == expected_row_path


def test_an_unclosed_quote_late_in_a_file_fails_the_same_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "INFER_SAMPLE_ROWS", 10)  # inference must not see it
    path = tmp_path / "open.csv"
    path.write_bytes(b"name,age\n" + b"abc,1\n" * 5000 + b'abd,"2\nabe,3\nabf,4\n')
    with pytest.raises(IngestError) as slow:
        outcome(path, None, columnar_path=False)
    with pytest.raises(IngestError) as fast:
        outcome(path, None, columnar_path=True)
    assert str(fast.value) == str(slow.value)
    assert "row 5002" in str(fast.value) and "never closed" in str(fast.value)
    assert fast.value.data["row"] == 5002


def test_a_utf16_file_gives_the_same_rows_as_its_utf8_twin(tmp_path: Path) -> None:
    text = "Case,Note\nA,Caf\u00e9 \u201cquoted\u201d\nB,\u00fcber\n"
    (tmp_path / "utf8.csv").write_text(text, encoding="utf-8")
    (tmp_path / "utf16.csv").write_text(text, encoding="utf-16")
    utf8 = same_both_ways(tmp_path / "utf8.csv")
    utf16 = same_both_ways(tmp_path / "utf16.csv")
    assert utf8.table is not None and utf16.table is not None
    assert utf16.table.to_pylist() == utf8.table.to_pylist()
    assert utf16.table.column("note").to_pylist() == ["Caf\u00e9 \u201cquoted\u201d", "\u00fcber"]
    assert utf16.notes == []  # a byte order mark is certain: nothing to warn about


def test_a_quick_load_without_a_dataset_file(write: Write, small_batches: None) -> None:
    path = write(
        "calls.csv",
        "Call Type,Received,Officers,Latitude,Longitude,Report\n"
        + "Traffic Stop,2018-01-01 00:37:00,2,38.98,-77.0,yes\n" * 5
        + "Accident,2018-01-02 10:00:00,1,38.97,-77.01,no\n" * 5,
    )
    fast = same_both_ways(path)
    assert fast.row_by_row_from is None and fast.table is not None and fast.table.num_rows == 10


def rows_of(store: Store, dataset_id: str) -> list[tuple[Any, ...]]:
    dataset = store.get_dataset(dataset_id)
    fields = [
        exp.column(n, quoted=True) for c in dataset.columns for n in pipeline.physical_names(c)
    ]
    select = exp.select(*fields).from_(DATASET_TABLE).order_by("_id")
    return list(store.execute(dataset, select))


def test_both_engines_store_the_same_rows_either_way(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec_file(next(p for p in sample_specs() if p.name == "use_of_force.yaml"))
    source = spec.source_path()
    assert source is not None
    fast = load_file(engine_store, source, spec=spec.model_copy(update={"id": "fast-0001"}))
    monkeypatch.setattr(columnar, "utf8_file", lambda encoding: False)
    slow = load_file(engine_store, source, spec=spec.model_copy(update={"id": "slow-0001"}))
    assert fast.row_count == slow.row_count == 221
    assert rows_of(engine_store, fast.dataset_id) == rows_of(engine_store, slow.dataset_id)


def test_both_engines_refuse_a_bad_file_the_same_way(
    engine_store: Store, write: Write, spec_of: SpecOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("stops.csv", HEADER + "".join(GOOD) + "".join(BAD))
    spec = spec_of(STOPS)
    source = spec.source_path()
    assert source is not None
    failures = []
    for columnar_path in (True, False):
        monkeypatch.setattr(columnar, "utf8_file", lambda encoding, on=columnar_path: on)
        with pytest.raises(ValidationFailed) as caught:
            load_file(engine_store, source, spec=spec)
        failures.append((caught.value.message, caught.value.problems, caught.value.total))
    assert failures[0] == failures[1]
    assert engine_store.list_datasets() == []


def test_the_written_out_whitespace_is_pythons_own() -> None:
    """The regexes Arrow runs treat as whitespace exactly what str.strip()/split() and re's
    \\s do: every code point of the running Python, tested here once rather than at start."""
    every = [chr(c) for c in range(sys.maxunicode + 1)]
    assert "".join(c for c in every if c.isspace()) == columnar.WHITESPACE
    assert "".join(c for c in every if re.fullmatch(r"\s", c)) == columnar.WHITESPACE
    # Arrow's regex engine reads the class the same way: each is blank, a letter is not.
    cells = pa.array([*columnar.WHITESPACE, "x", "\u200b", ""])
    blank = columnar.blank_rows([cells]).to_pylist()
    assert blank == [True] * len(columnar.WHITESPACE) + [False, False, True]


def test_the_quick_untidy_check_is_the_regex() -> None:
    """Plain searches for spaces answer for printable ASCII; every other cell gets the regex."""
    odd = [*columnar.WHITESPACE, "\x00", "\x7f", "\x01", "é", "\u200b"]
    cells = [f"{a}{c}{b}" for c in odd for a, b in (("", "x"), ("x", ""), ("x", "y"))]
    cells += ["", "abc", "a b", "a  b", " a", "a ", "  ", "é  x", "é x", None]
    array = pa.array(cells, pa.string())
    expected = pc.match_substring_regex(array, columnar._UNTIDY)
    assert columnar._untidy(array).to_pylist() == expected.to_pylist()
    assert (
        columnar._untidy(array.slice(len(odd) * 3)).to_pylist()
        == expected.to_pylist()[len(odd) * 3 :]
    )
