"""RSocrata's reading path, reproduced step by step from its source (read.socrata, ls.socrata).

R is not on these machines, so the test does in Python exactly what RSocrata does over HTTP:
add $order=:id, read the first CSV page, page on with $limit=50000&$offset=<rows so far> until
an empty page, pick the parser from the bare content type, and convert columns whose
X-SODA2-Types say floating_timestamp with RSocrata's own date patterns.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

import httpx

from tests.api.conftest import DATASET_ID, ROWS, expected_row
from tests.conftest import LiveServer

# posixify's ISO pattern with milliseconds, as RSocrata matches floating timestamps.
JSON_DECIMAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")


def read_socrata(url: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    url += ("&" if "?" in url else "?") + "$order=:id"
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    mime = response.headers["content-type"].split(";")[0]
    assert mime == "text/csv", "RSocrata only parses text/csv or application/json"
    types = dict(
        zip(
            json.loads(response.headers["x-soda2-fields"]),
            json.loads(response.headers["x-soda2-types"]),
            strict=True,
        )
    )
    page = list(csv.DictReader(io.StringIO(response.text)))
    result = list(page)
    while page:
        more = httpx.get(f"{url}&$limit=50000&$offset={len(result)}", timeout=30)
        page = list(csv.DictReader(io.StringIO(more.text)))
        result.extend(page)
    return result, types


def test_read_socrata_pages_every_row_in_id_order_with_types(live: LiveServer) -> None:
    rows, types = read_socrata(f"{live.url}/resource/{DATASET_ID}.csv")
    assert len(rows) == ROWS
    assert [r["case_number"] for r in rows] == [expected_row(i)["case_number"] for i in range(ROWS)]
    assert types["occurred"] == "floating_timestamp" and types["subject_age"] == "number"
    for i, row in enumerate(rows):
        assert JSON_DECIMAL.match(row["occurred"])
        stamp = datetime.strptime(row["occurred"], "%Y-%m-%dT%H:%M:%S.%f")
        assert stamp == expected_row(i)["occurred"]


def test_read_socrata_with_a_soql_filter_in_the_url(live: LiveServer) -> None:
    rows, _ = read_socrata(f"{live.url}/resource/{DATASET_ID}.csv?subject_race=asian")
    assert len(rows) == ROWS // 4
    assert {r["subject_race"] for r in rows} == {"asian"}


def test_ls_socrata_reads_the_dcat_catalog(live: LiveServer) -> None:
    catalog = httpx.get(f"{live.url}/data.json", timeout=30).json()
    (entry,) = catalog["dataset"]
    # as.POSIXct reads the leading date of issued and modified.
    for key in ("issued", "modified"):
        assert re.match(r"^\d{4}-\d{2}-\d{2}", entry[key])
    assert {"@context", "@id", "@type", "conformsTo", "describedBy"} <= set(catalog)
    assert entry["theme"] == ["Public Safety"]
