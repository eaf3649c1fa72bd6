"""prepare(): a file becomes typed Arrow batches, or a report of every problem in it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from blotter.errors import IngestError, ValidationFailed
from blotter.ingest import pipeline
from blotter.ingest.pipeline import prepare
from blotter.ingest.spec import DatasetSpec
from blotter.model import ColumnType
from tests.ingest.conftest import published

Write = Callable[[str, str], Path]
SpecOf = Callable[[str], DatasetSpec]

STOPS = """\
name: Stops
source: stops.csv
columns:
  - {field: case_number, source: Case}
  - {field: age, type: number, source: Age}
  - {field: searched, type: checkbox, source: Searched}
  - {field: stopped_at, type: floating_timestamp, source: When}
  - {field: location, type: point, latitude: Lat, longitude: Lon}
"""


def problems_of(path: Path, spec: DatasetSpec | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        published(path, spec)
    return caught.value


def test_the_physical_columns_and_their_arrow_types(write: Write, spec_of: SpecOf) -> None:
    write("stops.csv", "Case,Age,Searched,When,Lat,Lon\nA,30,yes,2016-03-04 10:15,43.6,-72.97\n")
    spec = spec_of(STOPS)
    prepared = prepare(spec.source_path(), spec)  # type: ignore[arg-type]
    assert [(c.field_name, c.type) for c in prepared.columns] == [
        ("case_number", ColumnType.TEXT),
        ("age", ColumnType.NUMBER),
        ("searched", ColumnType.CHECKBOX),
        ("stopped_at", ColumnType.FLOATING_TIMESTAMP),
        ("location", ColumnType.POINT),
    ]
    table = pa.Table.from_batches(list(prepared.batches()))
    assert table.schema == pa.schema(
        [
            ("case_number", pa.string()),
            ("age", pa.float64()),
            ("searched", pa.bool_()),
            ("stopped_at", pa.timestamp("us")),
            ("_location_lon", pa.float64()),
            ("_location_lat", pa.float64()),
        ]
    )
    assert table.to_pylist() == [
        {
            "case_number": "A",
            "age": 30.0,
            "searched": True,
            "stopped_at": datetime(2016, 3, 4, 10, 15),
            "_location_lon": -72.97,
            "_location_lat": 43.6,
        }
    ]


BAD_ROWS = """\
Case,Age,Searched,When,Lat,Lon
A,12x,yes,2016-03-04,43.6,-72.9
B,30,maybe,2016-03-04,43.6,-72.9
C,30,no,31/31/2016,43.6,-72.9
D,30,no,2016-03-04,123.4,-72.9
E,30,no,2016-03-04,43.6,-200
F,30,no,2016-03-04,,-72.9
G,30,no,2016-03-04,north,-72.9
H,inf,no,2016-03-04,43.6,-72.9
"""

# (row as a spreadsheet numbers it, source header, value, reason)
EXPECTED_PROBLEMS = [
    (2, "Age", "12x", "'12x' is not a number"),
    (
        3,
        "Searched",
        "maybe",
        "'maybe' is not yes/no (expected one of 0, 1, f, false, n, no, t, true, y, yes)",
    ),
    (
        4,
        "When",
        "31/31/2016",
        "'31/31/2016' is not a date/time (a date like 2015-01-31 or 1/31/2015)",
    ),
    (5, "Lat", "123.4", "latitude 123.4 is outside -90..90"),
    (6, "Lon", "-200", "longitude -200 is outside -180..180"),
    (7, "Lat", None, "a location needs both latitude and longitude"),
    (8, "Lat", "north", "'north' is not a number"),
    (9, "Age", "inf", "'inf' is not a finite number"),
]


def test_every_conversion_problem_names_row_column_value_and_reason(
    write: Write, spec_of: SpecOf
) -> None:
    error = problems_of(write("stops.csv", BAD_ROWS), spec_of(STOPS))
    assert [tuple(p.values()) for p in error.problems] == EXPECTED_PROBLEMS
    assert error.total == 8
    assert error.message == "8 problems in stops.csv; nothing was published."
    assert error.to_dict()["data"]["total_problems"] == 8


def test_rows_are_numbered_from_the_header_row_of_the_sheet(write: Write, spec_of: SpecOf) -> None:
    write("stops.csv", "Exported 2016-05-01\n\nCase,Age\nA,1\nB,two\n")
    spec = spec_of(
        "name: S\nsource: stops.csv\nreader: {header_row: 3}\n"
        "columns:\n  - {field: age, type: number, source: Age}\n"
    )
    error = problems_of(spec.source_path(), spec)  # type: ignore[arg-type]
    assert error.problems == [
        {"row": 5, "column": "Age", "value": "two", "reason": "'two' is not a number"}
    ]


def test_an_unknown_value_is_reported_with_its_raw_cell(write: Write, spec_of: SpecOf) -> None:
    write("f.csv", "Race\nWhite \nWhtie\n")
    spec = spec_of(
        "name: F\nsource: f.csv\ncolumns:\n"
        "  - {field: race, source: Race, map: {white: white}, unmapped: error}\n"
    )
    error = problems_of(spec.source_path(), spec)  # type: ignore[arg-type]
    assert error.problems == [
        {
            "row": 3,
            "column": "Race",
            "value": "Whtie",
            "reason": "'Whtie' is not a known value of this column; add it to the map",
        }
    ]


def test_a_derived_value_missing_from_its_map_names_the_origin_cell(
    write: Write, spec_of: SpecOf
) -> None:
    write("f.csv", "Force\nTaser/Baton\n")
    spec = spec_of(
        "name: F\nsource: f.csv\ncolumns:\n"
        "  - {field: force_type, source: Force, split: /, map: {taser: cew, baton: baton}}\n"
        "  - {field: force_category, derive_from: force_type, split: ';', "
        "map: {cew: electronic}, unmapped: error}\n"
    )
    error = problems_of(spec.source_path(), spec)  # type: ignore[arg-type]
    assert error.problems == [
        {
            "row": 2,
            "column": "Force",
            "value": "Taser/Baton",
            "reason": "'baton' is not a known value of this column; add it to the map "
            "(deriving 'force_category')",
        }
    ]


def test_keep_raw_and_derive_add_columns_beside_the_clean_one(
    write: Write, spec_of: SpecOf
) -> None:
    write("f.csv", "Force\n Taser display/EHC \nEHC\n\n")
    spec = spec_of(
        "name: F\nsource: f.csv\ncolumns:\n"
        "  - field: force_type\n    source: Force\n    split: /\n    keep_raw: force_type_raw\n"
        "    map: {taser display: cew_display, ehc: empty_hand_control}\n"
        "  - {field: force_category, derive_from: force_type, split: ';', "
        "map: {cew_display: electronic, empty_hand_control: physical}}\n"
    )
    prepared = prepare(spec.source_path(), spec)  # type: ignore[arg-type]
    raw = prepared.columns[1]
    assert (raw.field_name, raw.name, raw.type) == (
        "force_type_raw",
        "Force type (as recorded)",
        ColumnType.TEXT,
    )
    table = pa.Table.from_batches(list(prepared.batches()))
    assert table.to_pylist() == [
        {
            "force_type": "cew_display; empty_hand_control",
            "force_type_raw": " Taser display/EHC ",
            "force_category": "electronic; physical",
        },
        {"force_type": "empty_hand_control", "force_type_raw": "EHC", "force_category": "physical"},
    ]


def test_a_value_spilling_past_the_last_header_is_a_problem(write: Write) -> None:
    path = write("f.csv", "Case,Note\nA,fine,\nB,Smith, John\n")
    error = problems_of(path)
    assert error.problems == [
        {
            "row": 3,
            "column": "(whole row)",
            "value": None,
            "reason": "the row has 3 cells but the header row has 2; "
            "a value may hold an unquoted delimiter",
        }
    ]


def test_problems_are_all_counted_but_the_list_is_capped(
    write: Write, spec_of: SpecOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "MAX_LISTED_PROBLEMS", 3)
    write("f.csv", "Age\n" + "x\n" * 5)
    spec = spec_of(
        "name: F\nsource: f.csv\ncolumns:\n  - {field: age, type: number, source: Age}\n"
    )
    error = problems_of(spec.source_path(), spec)  # type: ignore[arg-type]
    assert (len(error.problems), error.total) == (3, 5)
    assert error.message == "5 problems in f.csv (the first 3 are listed); nothing was published."


def test_batches_stream_in_fixed_sizes_and_report_progress(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 4)
    path = write("f.csv", "n\n" + "".join(f"{i}\n" for i in range(10)))
    seen: list[int] = []
    prepared = prepare(path, progress=seen.append)
    prepared.columnar = False  # the row path batches by BATCH_ROWS; the columnar by bytes
    assert [b.num_rows for b in prepared.batches()] == [4, 4, 2]
    assert seen == [4, 8, 10]
    seen.clear()
    assert sum(b.num_rows for b in prepare(path, progress=seen.append).batches()) == 10
    assert seen == [4, 8, 10]


def test_a_quick_load_infers_types_and_a_point(write: Write) -> None:
    path = write(
        "calls.csv",
        "Call Type,Received,Officers,Latitude,Longitude,Report\n"
        "Traffic Stop,2018-01-01 00:37:00,2,38.98,-77.0,yes\n"
        "Accident,2018-01-02 10:00:00,1,38.97,-77.01,no\n",
    )
    prepared = prepare(path)
    assert prepared.meta.name == "calls"
    assert [(c.field_name, c.name, c.type.value) for c in prepared.columns] == [
        ("call_type", "Call Type", "text"),
        ("received", "Received", "floating_timestamp"),
        ("officers", "Officers", "number"),
        ("latitude", "Latitude", "number"),
        ("longitude", "Longitude", "number"),
        ("report", "Report", "checkbox"),
        ("location", "Location", "point"),
    ]
    table = pa.Table.from_batches(list(prepared.batches()))
    assert table.column("_location_lon").to_pylist() == [-77.0, -77.01]


def test_the_headers_a_file_lacks_are_named_at_once_with_the_dataset_file_and_columns(
    write: Write, spec_of: SpecOf
) -> None:
    write("x.csv", "Subject Race\nwhite\n")
    spec = spec_of(
        "name: X\nsource: x.csv\ncolumns:\n  - {field: race, source: Race}\n"
        "  - {field: age, source: Age}\n"
    )
    with pytest.raises(IngestError) as caught:
        prepare(spec.source_path(), spec)  # type: ignore[arg-type]
    assert caught.value.message == (
        "Dataset file dataset.yaml: x.csv does not fit its columns: it has no header 'Race' "
        "(for column 'race'), 'Age' (for column 'age'). Its headers are: 'Subject Race'."
    )
    assert caught.value.data["column"] == "race"
    assert caught.value.data["columns"] == ["race", "age"]
    with pytest.raises(IngestError) as renamed:
        prepare(spec.source_path(), spec, label="May arrests.csv")  # type: ignore[arg-type]
    assert "May arrests.csv does not fit" in renamed.value.message
    assert "x.csv" not in renamed.value.message


def test_headers_match_after_trimming_then_ignoring_case(write: Write, spec_of: SpecOf) -> None:
    write("x.csv", " Subject  Race ,AGE\nwhite,3\n")
    spec = spec_of(
        "name: X\nsource: x.csv\ncolumns:\n  - {field: race, source: Subject  Race}\n"
        "  - {field: age, source: Age, type: number}\n"
    )
    assert published(spec.source_path(), spec).to_pylist() == [{"race": "white", "age": 3.0}]  # type: ignore[arg-type]


def test_a_windows_file_is_read_and_the_guess_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes("name\nCafé “Résumé”\n".encode("cp1252"))
    prepared = prepare(path)
    table = pa.Table.from_batches(list(prepared.batches()))
    assert table.column("name").to_pylist() == ["Café “Résumé”"]
    assert prepared.notes == [
        "w.csv is not UTF-8; it was read as Windows-1252. If letters with accents look "
        "wrong, set the reader's 'encoding' in the dataset file."
    ]
