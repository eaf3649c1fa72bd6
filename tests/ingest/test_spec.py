"""Dataset files: every mistake in one is an IngestError naming the file, the column, the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from blotter.errors import IngestError
from blotter.ingest.spec import load_spec_file
from blotter.model import Cadence, ColumnType
from tests.ingest.conftest import published
from tests.paths import SAMPLES

Write = Callable[[str, str], Path]

COLUMN = "name: Stops\ncolumns:\n  - {field: ok, source: Ok}\n  - "

# (YAML text, the message's tail after "Dataset file PATH has N problem(s): ")
MISTAKES = [
    (COLUMN + "{field: age, type: colour}\n", "column 'age', key 'type': Input should be"),
    (COLUMN + "{field: age, sorce: Age}\n", "column 'age', key 'sorce': unknown key (a typo?)"),
    (
        COLUMN + "{field: Age Years}\n",
        "column 'Age Years', key 'field': 'Age Years' is not a field",
    ),
    (
        COLUMN + "{field: age, split: '('}\n",
        "column 'age', key 'split': '(' is not a valid regular",
    ),
    (
        COLUMN + "{field: age, patterns: [['[', x]]}\n",
        "column 'age', key 'patterns': '[' is not a valid regular expression",
    ),
    (
        COLUMN + "{field: where, type: point, latitude: Lat}\n",
        "column 'where': a point column needs",
    ),
    (COLUMN + "{field: ok, source: Other}\n", "field 'ok' is defined twice"),
    (
        COLUMN + "{field: cat, derive_from: later}\n  - {field: later, source: L}\n",
        "column 'cat' derives from 'later', which is not a column listed before it",
    ),
    (
        COLUMN + "{field: cat, derive_from: ok, keep_raw: cat_raw}\n",
        "column 'cat': a derived column has no cell of its own to keep raw",
    ),
    (
        COLUMN + "{field: where, type: point, latitude: Lat, longitude: Lon, keep_raw: w_raw}\n",
        "column 'where': a point column reads two cells (latitude and longitude), so 'keep_raw'",
    ),
    (
        COLUMN + "{field: where, type: point, latitude: Lat, longitude: Lon}\n"
        "  - {field: exact, type: point, latitude: lat, longitude: Lon}\n"
        "privacy: {points: [{column: where}]}\n",
        "column 'exact' reads 'lat' and 'lon' as 'where' does, which a privacy rule protects: "
        "its values would be published without the rule. Make 'exact' internal or name it in "
        "a rule",
    ),
    (
        COLUMN + "{field: age, type: number, source: Age}\n  - {field: age_text, source: AGE}\n"
        "privacy: {juveniles: {column: age}}\n",
        "column 'age_text' reads 'age' as 'age' does, which a privacy rule protects",
    ),
    ("name: Stops\ncadense: daily\n", "key 'cadense': unknown key (a typo?)"),
    ("name: Stops\ncadence: hourly\n", "key 'cadence': Input should be 'daily'"),
    ("description: no name\n", "key 'name': Field required"),
    (
        "name: Stops\nsource_url: 'javascript:alert(1)'\n",
        "key 'source_url': must be an absolute http:// or https:// address",
    ),
    ("name: Stops\ncontact_email: records\n", "key 'contact_email': must be an email address"),
    (
        COLUMN + "{field: age, type: number}\nprivacy: {hundred_block: [street]}\n",
        "privacy rule 'hundred_block' names 'street', which is not a column",
    ),
    (
        COLUMN + "{field: age}\nprivacy: {juveniles: {column: age}}\n",
        "privacy rules need 'age' to be a number column; it is text",
    ),
    ("name: Stops\nprivacy: {juvenile: {column: age}}\n", "key 'privacy.juvenile': unknown key"),
    (
        COLUMN + "{field: address, source: Addr}\n  - {field: street, derive_from: address}\n"
        "privacy: {hundred_block: [address]}\n",
        "column 'street' derives from 'address', which a privacy rule protects: its values "
        "would be published without the rule.",
    ),
    (
        COLUMN + "{field: age, type: number}\ntable_columns: [age, agee]\n",
        "table_columns names 'agee', which is not a column of this file (its fields: age, ok)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), MISTAKES)
def test_a_dataset_file_mistake_names_the_file_column_and_key(
    write: Write, text: str, expected: str
) -> None:
    path = write("broken.yaml", text)
    with pytest.raises(IngestError) as caught:
        load_spec_file(path)
    assert caught.value.message.startswith(f"Dataset file {path} has 1 problem(s): {expected}")
    assert caught.value.data["file"] == str(path)


def test_a_column_derived_from_a_protected_field_may_be_internal(write: Write) -> None:
    text = (
        COLUMN + "{field: address, source: Addr}\n"
        "  - {field: street, derive_from: address, internal: true}\n"
        "privacy: {hundred_block: [address]}\n"
    )
    spec = load_spec_file(write("staff.yaml", text))
    assert [c.field for c in spec.columns if c.internal] == ["street"]


def test_staff_keep_exact_points_in_an_internal_twin_of_a_snapped_point(write: Write) -> None:
    """What the refusal of ``keep_raw`` on a point advises works: an internal point from the
    same headers holds the exact place, the public one its grid cell's centre."""
    write("calls.csv", "Lat,Lon\n38.98589,-76.98813\n")
    text = (
        "name: Calls\nsource: calls.csv\ncolumns:\n"
        "  - {field: location, type: point, latitude: Lat, longitude: Lon}\n"
        "  - {field: exact_location, type: point, latitude: Lat, longitude: Lon, internal: true}\n"
        "privacy: {points: [{column: location, grid_m: 150}]}\n"
    )
    spec = load_spec_file(write("calls.yaml", text))
    row = published(spec.source_path(), spec).to_pylist()[0]  # type: ignore[arg-type]
    assert (row["_exact_location_lat"], row["_exact_location_lon"]) == (38.98589, -76.98813)
    assert (row["_location_lat"], row["_location_lon"]) != (38.98589, -76.98813)
    assert abs(row["_location_lat"] - 38.98589) <= 75 / 111_320


def test_every_problem_of_a_dataset_file_is_listed_at_once(write: Write) -> None:
    path = write("broken.yaml", COLUMN + "{field: a, type: colour}\n  - {field: b, sorce: B}\n")
    with pytest.raises(IngestError) as caught:
        load_spec_file(path)
    assert len(caught.value.data["problems"]) == 2


def test_yaml_that_is_not_a_mapping_or_not_yaml(write: Write) -> None:
    with pytest.raises(IngestError, match="must be a mapping"):
        load_spec_file(write("a.yaml", "- just\n- a list\n"))
    with pytest.raises(IngestError, match="Cannot read dataset file"):
        load_spec_file(write("b.yaml", "name: [unclosed\n"))


def test_a_dataset_file_reads_its_source_relative_to_itself(write: Write) -> None:
    path = write(
        "d.yaml",
        "id: abcd-2345\nname: Stops\nsource: data/stops.xlsx\ncadence: monthly\n"
        "reader: {sheet: Stops, header_row: 3}\n"
        "columns:\n  - {field: case_number, name: Case, description: The case.}\n",
    )
    spec = load_spec_file(path)
    assert spec.id == "abcd-2345"
    assert spec.source_path() == path.parent / "data" / "stops.xlsx"
    assert spec.file == path
    assert (spec.reader.sheet, spec.reader.header_row) == ("Stops", 3)
    assert spec.meta().cadence is Cadence.MONTHLY
    column = spec.columns[0]
    assert (column.source, column.type, column.trim, column.null_values) == (
        "Case",
        ColumnType.TEXT,
        True,
        [""],
    )


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.yaml")))
def test_every_sample_column_is_described(name: str) -> None:
    spec = load_spec_file(SAMPLES / name)
    meta = spec.meta()
    assert meta.agency and meta.license and meta.attribution and meta.source_url
    assert meta.category in ("Public Safety", "Population benchmarks")
    assert meta.tags and meta.description
    assert [c.field for c in spec.columns if not c.description] == []
