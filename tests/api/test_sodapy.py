"""The real sodapy client, unchanged, against a live Blotter on loopback."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
import requests
from sodapy import Socrata

from tests.api.conftest import DATASET_ID, ROWS, expected_row
from tests.conftest import LiveServer


@pytest.fixture
def socrata(live: LiveServer) -> Iterator[Socrata]:
    domain = live.url.removeprefix("http://")
    client = Socrata(
        domain,
        None,
        session_adapter={"prefix": "http://", "adapter": requests.adapters.HTTPAdapter()},
    )
    yield client
    client.close()


def test_get_with_soql_keywords(socrata: Socrata) -> None:
    rows = socrata.get(
        DATASET_ID,
        select="case_number, subject_age",
        where="subject_age >= 60",
        order="subject_age DESC, case_number",
        limit=5,
    )
    expected = sorted(
        (r for r in map(expected_row, range(ROWS)) if (r["subject_age"] or 0) >= 60),
        key=lambda r: (-r["subject_age"], r["case_number"]),  # type: ignore[operator]
    )[:5]
    assert [r["case_number"] for r in rows] == [r["case_number"] for r in expected]


def test_get_with_simple_filters_and_csv_content(socrata: Socrata) -> None:
    rows = socrata.get(DATASET_ID, subject_race="asian", limit=3, content_type="csv")
    assert rows[0][0] == "case_number"  # sodapy parses CSV into lists, header first
    assert [r[1] for r in rows[1:]] == ["asian"] * 3


def test_get_all_pages_through_more_than_one_page(socrata: Socrata) -> None:
    got = [r["case_number"] for r in socrata.get_all(DATASET_ID, select="case_number")]
    assert got == [expected_row(i)["case_number"] for i in range(ROWS)]


def test_get_geojson(socrata: Socrata) -> None:
    collection = socrata.get(DATASET_ID, content_type="geojson", limit=3)
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 3


def test_get_metadata_and_datasets(socrata: Socrata) -> None:
    meta = socrata.get_metadata(DATASET_ID)
    assert meta["name"] == "Test incidents"
    assert [c["fieldName"] for c in meta["columns"]][:2] == ["case_number", "subject_race"]
    found = socrata.datasets()
    assert [d["resource"]["id"] for d in found] == [DATASET_ID]


def test_errors_surface_with_the_soda_message(socrata: Socrata) -> None:
    with pytest.raises(requests.exceptions.HTTPError) as caught:
        socrata.get(DATASET_ID, where="no_such_column = 1")
    assert "no_such_column" in str(caught.value)


def test_pandas_reads_the_export_url(live: LiveServer) -> None:
    url = f"{live.url}/api/views/{DATASET_ID}/rows.csv?accessType=DOWNLOAD"
    frame = pd.read_csv(url)
    assert len(frame) == ROWS
    assert list(frame.columns)[:3] == ["case_number", "subject_race", "subject_age"]
    assert frame["subject_age"].dropna().min() == 19
    # The same through a string buffer, as notebooks often do with requests.
    text = requests.get(url, timeout=30).text
    assert len(pd.read_csv(io.StringIO(text))) == ROWS


def test_get_with_group_q_query_and_system_field_keywords(socrata: Socrata) -> None:
    grouped = socrata.get(
        DATASET_ID, select="injured, count(*) AS n", group="injured", order="injured"
    )
    assert grouped == [{"injured": False, "n": str(ROWS - 834)}, {"injured": True, "n": "834"}]
    searched = socrata.get(DATASET_ID, q="15RL0001", select="case_number", limit=50)
    assert [r["case_number"] for r in searched] == [f"15RL{i:05d}" for i in range(10, 20)]
    statement = socrata.get(
        DATASET_ID, query="SELECT :id, case_number WHERE subject_age > 66 LIMIT 2"
    )
    older = [i + 1 for i in range(ROWS) if (expected_row(i)["subject_age"] or 0) > 66][:2]
    assert [r[":id"] for r in statement] == [f"row-{n}" for n in older]
    plain = socrata.get(DATASET_ID, limit=1, exclude_system_fields=False)
    assert plain[0]["case_number"] == "15RL00000"
