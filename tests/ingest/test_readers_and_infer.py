"""Reading real and awkward files, and guessing types for a quick load."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from blotter.errors import IngestError
from blotter.ingest.infer import field_name, infer_columns, infer_type
from blotter.ingest.readers import open_table
from blotter.ingest.spec import ReaderOptions
from blotter.model import ColumnType
from tests.paths import TEST_DATA


def test_csv_with_bom_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes('\ufeffCase, Note \nA1,"two\nlines"\n\n,\nA2,x\n'.encode())
    table = open_table(path)
    assert table.headers == ["Case", "Note"]
    # Row numbers count records as a spreadsheet shows them, blank records included.
    assert list(table.rows) == [(2, ["A1", "two\nlines"]), (5, ["A2", "x"])]


def test_windows_1252_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes("name\nCafé Résumé\n".encode("cp1252"))
    assert list(open_table(path).rows) == [(2, ["Café Résumé"])]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_files_with_a_byte_order_mark_are_read_in_their_encoding(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "u.csv"
    bom = "" if encoding in ("utf-16", "utf-32") else "\ufeff"
    path.write_bytes(f"{bom}name,n\nCaf\u00e9 \u201cR\u201d,1\n".encode(encoding))
    table = open_table(path)
    assert table.headers == ["name", "n"]
    assert list(table.rows) == [(2, ["Caf\u00e9 \u201cR\u201d", "1"])]
    assert table.notes == []


@pytest.mark.parametrize(
    ("data", "row"),
    [
        (b'a,b\n1,"x\n2,y\n3,z\n', 2),
        (b'a,b\n1,x\n2,"y', 3),
        (b'a,"b\n1,x\n', 1),
    ],
)
def test_an_unclosed_quote_is_refused_with_its_row(tmp_path: Path, data: bytes, row: int) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(data)
    with pytest.raises(IngestError, match=f"row {row}: a quoted value opens") as err:
        list(open_table(path).rows)
    assert err.value.data["row"] == row


def test_a_closed_quote_spanning_lines_and_a_missing_last_newline_still_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(b'a,b\n1,"x\ny"\n2,z')
    assert list(open_table(path).rows) == [(2, ["1", "x\ny"]), (3, ["2", "z"])]


def test_xlsx_with_a_header_row_below_a_title(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Quarterly report"])
    sheet.append(["Case", "Age", "Date"])
    sheet.append(["B-1", 34, "2016-01-02"])
    sheet.append([None, None, None])
    sheet.append(["B-2", 19.5, None])
    path = tmp_path / "q.xlsx"
    book.save(path)
    table = open_table(path, ReaderOptions(header_row=2))
    assert table.headers == ["Case", "Age", "Date"]
    assert list(table.rows) == [(3, ["B-1", "34", "2016-01-02"]), (5, ["B-2", "19.5", None])]


def test_a_real_bloomington_workbook_reads_with_its_cell_types() -> None:
    table = open_table(TEST_DATA / "bloomington_use_of_force_2016_q1.xlsx")
    assert table.headers[:6] == ["Event", "District", "Nature", "How Received", "Date", "Time"]
    number, first = next(table.rows)
    # Dates and times stored as Excel values come out as ISO text; numbers without '.0'.
    assert (number, first[0], first[1], first[4], first[5]) == (
        2,
        "B16-00007",
        "4",
        "2016-01-01T00:00:00",
        "01:23:00",
    )
    assert sum(1 for _ in table.rows) > 40


def test_unreadable_inputs_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        open_table(tmp_path / "missing.csv")
    (tmp_path / "x.pdf").write_text("x")
    with pytest.raises(IngestError, match="reads .csv and .xlsx"):
        open_table(tmp_path / "x.pdf")
    (tmp_path / "bad.xlsx").write_text("not a workbook")
    with pytest.raises(IngestError, match="Cannot open bad.xlsx"):
        open_table(tmp_path / "bad.xlsx")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("CASE #", "case"),
        ("Subject  Injured", "subject_injured"),
        ("a.race", "a_race"),
        ("2019 count", "c_2019_count"),
        ("", "column"),
        ("report.", "report"),
    ],
)
def test_field_names_from_headers(header: str, expected: str) -> None:
    assert field_name(header, set()) == expected


def test_field_names_are_unique() -> None:
    taken: set[str] = set()
    assert [field_name(h, taken) for h in ["Age", "age", "AGE"]] == ["age", "age_2", "age_3"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2.5", ""], ColumnType.NUMBER),
        (["yes", "No"], ColumnType.CHECKBOX),
        (["0", "1"], ColumnType.NUMBER),
        (["2015-01-02", "1/3/2015"], ColumnType.FLOATING_TIMESTAMP),
        (["1", "x"], ColumnType.TEXT),
        ([], ColumnType.TEXT),
    ],
)
def test_type_inference(values: list[str], expected: ColumnType) -> None:
    assert infer_type(values) is expected


def test_a_latitude_longitude_pair_becomes_a_point() -> None:
    specs = infer_columns(["id", "Latitude", "Longitude"], [["a", "38.9", "-76.9"]])
    point = specs[-1]
    assert (point.field, point.type, point.latitude, point.longitude) == (
        "location",
        ColumnType.POINT,
        "Latitude",
        "Longitude",
    )


def test_reader_options_delimiter_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "semi.txt"
    path.write_bytes("Name;Age\nZoë;30\n".encode("utf-16"))
    table = open_table(path, ReaderOptions(format="csv", delimiter=";", encoding="utf-16"))
    assert (table.headers, list(table.rows)) == (["Name", "Age"], [(2, ["Zoë", "30"])])


def test_bytes_windows_1252_lacks_fall_back_to_latin_1(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(b"name\nA\x81B\xe9\n")  # 0x81 has no Windows-1252 letter
    table = open_table(path)
    assert table.encoding == "latin-1"
    assert list(table.rows) == [(2, ["A\x81Bé"])]
    assert "read as Latin-1 (ISO-8859-1)" in table.notes[0]


def test_a_utf8_file_broken_late_stops_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"name\n" + b"abcdefghi\n" * 120_000 + b"caf\xe9\n")
    table = open_table(path)
    with pytest.raises(IngestError, match="late.csv line 120002 is not utf-8-sig text"):
        list(table.rows)


def test_xlsx_sheet_by_name(tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(["Notes"])
    data = book.create_sheet("Stops")
    data.append(["Case", "Searched"])
    data.append(["C-1", True])
    path = tmp_path / "s.xlsx"
    book.save(path)
    table = open_table(path, ReaderOptions(sheet="Stops"))
    assert (table.headers, list(table.rows)) == (["Case", "Searched"], [(2, ["C-1", "true"])])
    with pytest.raises(IngestError, match="has no sheet 'Nope'; it has Sheet, Stops"):
        open_table(path, ReaderOptions(sheet="Nope"))
